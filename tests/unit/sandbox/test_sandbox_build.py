"""The release tarballs built by sandbox/app/build.py."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import sandbox_build as build

LAYOUT = {
    "VERSION",
    "Makefile",
    "package.json",
    "pnpm-workspace.yaml",
    "server/package.json",
    "bin/intelgraph-api",
    "bin/intelgraph-ingest",
    "intelgraph/__init__.py",
    "intelgraph/api.py",
    "intelgraph/ingest.py",
    "intelgraph/migrate.py",
    "intelgraph/backfill.py",
    "intelgraph/seed.py",
    "intelgraph/smoke.py",
    "intelgraph/version.py",
}


def _open(data: bytes) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


@pytest.fixture(scope="module")
def tarballs() -> dict[str, bytes]:
    return {version: build.build_bytes(version) for version in ("24.0.0", "24.1.0")}


@pytest.mark.parametrize("version", ["24.0.0", "24.1.0"])
def test_layout_and_version_file(tarballs: dict[str, bytes], version: str) -> None:
    with _open(tarballs[version]) as tar:
        names = set(tar.getnames())
        assert names >= LAYOUT
        assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith(("/", "./")) for n in names)
        assert tar.extractfile("VERSION").read() == f"{version}\n".encode()


@pytest.mark.parametrize(
    ("version", "migrations"),
    [
        ("24.0.0", ["migrations/0001_base.sql"]),
        ("24.1.0", ["migrations/0001_base.sql", "migrations/0002_ingest_idempotency.sql"]),
    ],
)
def test_migrations_gated_by_version(tarballs: dict[str, bytes], version: str, migrations: list[str]) -> None:
    with _open(tarballs[version]) as tar:
        assert sorted(n for n in tar.getnames() if n.startswith("migrations/")) == migrations


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("23.0.0", []),
        ("24.0.0", ["0001_base.sql"]),
        ("24.0.5", ["0001_base.sql"]),
        ("24.1.0", ["0001_base.sql", "0002_ingest_idempotency.sql"]),
        ("25.0.0", ["0001_base.sql", "0002_ingest_idempotency.sql"]),
    ],
)
def test_migrations_for(version: str, expected: list[str]) -> None:
    assert build.migrations_for(version, list(build.MIGRATION_RELEASES)) == expected


def test_unknown_migration_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"0003_new\.sql"):
        build.migrations_for("24.1.0", ["0001_base.sql", "0003_new.sql"])


def test_every_source_migration_has_a_release() -> None:
    names = {path.name for path in (build.SOURCE / "migrations").glob("*.sql")}
    assert names == set(build.MIGRATION_RELEASES)


def test_deterministic(tarballs: dict[str, bytes]) -> None:
    again = build.build_bytes("24.1.0")
    assert hashlib.sha256(again).digest() == hashlib.sha256(tarballs["24.1.0"]).digest()
    assert tarballs["24.0.0"] != tarballs["24.1.0"]


def test_members_sorted_owned_by_root_fixed_mtime(tarballs: dict[str, bytes]) -> None:
    with _open(tarballs["24.1.0"]) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "root", "root")}
    assert {m.mtime for m in members} == {int(os.environ.get("SOURCE_DATE_EPOCH", build.FIXED_MTIME))}
    modes = {m.name: m.mode for m in members}
    assert modes["bin/intelgraph-api"] == modes["bin/intelgraph-ingest"] == 0o755
    assert modes["intelgraph/api.py"] == 0o644
    assert all(modes[m.name] == 0o755 for m in members if m.isdir())


def test_entry_points_are_python_scripts(tarballs: dict[str, bytes]) -> None:
    with _open(tarballs["24.1.0"]) as tar:
        for name in ("bin/intelgraph-api", "bin/intelgraph-ingest"):
            text = tar.extractfile(name).read().decode()
            assert text.startswith("#!/usr/bin/env python3\n")
            assert "sys.path.insert(0" in text


def test_cli_builds_both_versions(tmp_path: Path) -> None:
    script = Path(build.__file__)
    result = subprocess.run(
        [sys.executable, str(script), "--version", "24.0.0", "--version", "24.1.0", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built == ["intelgraph-server-24.0.0.tar.gz", "intelgraph-server-24.1.0.tar.gz"]
    assert result.stdout.count("sha256=") == 2
    assert (tmp_path / "intelgraph-server-24.1.0.tar.gz").read_bytes() == build.build_bytes("24.1.0")


def test_caches_and_hidden_files_stay_out(tmp_path: Path) -> None:
    source = tmp_path / "release"
    for name in (
        "intelgraph/x.py",
        "intelgraph/__pycache__/x.cpython-311.pyc",
        ".mypy_cache/c.db",
        "node_modules/.bootstrap-stamp",
        "pnpm-lock.yaml",
        "intelgraph/.x.swp",
        "migrations/0001_base.sql",
    ):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("x")
    names = [name for name, _ in build.source_files(source, "24.1.0")]
    assert names == ["intelgraph/x.py", "migrations/0001_base.sql"]


def test_cli_rejects_bad_version(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(Path(build.__file__)), "--version", "latest", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "24.1.0" in result.stderr
