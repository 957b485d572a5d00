"""intelgraph.ops.restore_point_write: a restore point's copies, manifest and latest link written
in one run, through ansible itself on localhost and real files."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import run_module, run_tasks

SETTINGS = b"# Ansible managed\nRPS_LIMIT=50\n"
MANIFEST = '{\n  "id": "20261205T101500Z"\n}\n'


def _copy(path: str, content: bytes, sha256: str | None = None) -> dict[str, str]:
    return {
        "path": path,
        "content": base64.b64encode(content).decode(),
        "sha256": sha256 or hashlib.sha256(content).hexdigest(),
    }


def _args(root: Path, *files: dict[str, str], point: str = "20261205T101500Z") -> dict[str, Any]:
    return {"root": str(root), "id": point, "files": list(files), "manifest": MANIFEST}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_copies_then_manifest_then_latest_root_only_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "restore-points"
    files = (_copy("env/api1/api.env", SETTINGS), _copy("env/ingest1/ingest.env", b"caf\xe9\n"))
    results = run_tasks(
        [
            {"name": "first", "intelgraph.ops.restore_point_write": _args(root, *files)},
            {"name": "again", "intelgraph.ops.restore_point_write": _args(root, *files)},
        ],
        tmp_path,
    )
    first, again = results["first"], results["again"]
    point = root / "20261205T101500Z"
    assert first["changed"] is True and first["path"] == str(point)
    assert first["written"] == [
        "../",
        "./",
        "env/",
        "env/api1/",
        "env/ingest1/",
        "env/api1/api.env",
        "env/ingest1/ingest.env",
        "manifest.json",
        "latest",
    ]
    assert (point / "env/api1/api.env").read_bytes() == SETTINGS
    assert (point / "env/ingest1/ingest.env").read_bytes() == b"caf\xe9\n"  # byte for byte
    assert (point / "manifest.json").read_text() == MANIFEST
    assert os.readlink(root / "latest") == "20261205T101500Z"
    for directory in (root, point, point / "env", point / "env/api1", point / "env/ingest1"):
        assert _mode(directory) == 0o700, directory
    for copy in ("env/api1/api.env", "env/ingest1/ingest.env", "manifest.json"):
        assert _mode(point / copy) == 0o600, copy
    assert sorted(p.name for p in point.iterdir()) == ["env", "manifest.json"]  # no partial file left
    assert (again["changed"], again["written"]) == (False, [])


def test_a_new_point_moves_latest_and_a_loose_mode_is_put_back(tmp_path: Path) -> None:
    root = tmp_path / "restore-points"
    run_module("restore_point_write", _args(root, _copy("env/api1/api.env", SETTINGS)))
    (root / "20261205T101500Z" / "env").chmod(0o755)
    fixed = run_module("restore_point_write", _args(root, _copy("env/api1/api.env", SETTINGS)))
    assert fixed["written"] == ["env/"]
    assert _mode(root / "20261205T101500Z" / "env") == 0o700
    newer = run_module("restore_point_write", _args(root, point="20261206T101500Z"))
    assert newer["written"] == ["./", "manifest.json", "latest"]
    assert os.readlink(root / "latest") == "20261206T101500Z"


def test_a_copy_that_does_not_match_its_checksum_fails_before_anything_is_written(tmp_path: Path) -> None:
    root = tmp_path / "restore-points"
    wrong = hashlib.sha256(b"what the host's file held").hexdigest()
    result = run_module("restore_point_write", _args(root, _copy("env/api1/api.env", SETTINGS, wrong)))
    assert result["failed"] is True
    assert result["msg"] == (
        f"The copy env/api1/api.env has SHA-256 {hashlib.sha256(SETTINGS).hexdigest()}, not {wrong} as its file "
        "had when it was read: no manifest was written, so the restore point is not used. Run again."
    )
    assert not root.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"id": "../elsewhere"}, "id must be a plain directory name, not '../elsewhere'."),
        (
            {"files": [_copy("../../etc/passwd", b"x")]},
            "../../etc/passwd is not a path inside the restore point.",
        ),
        ({"files": [_copy("/etc/passwd", b"x")]}, "/etc/passwd is not a path inside the restore point."),
        (
            {"files": [{"path": "env/a", "content": "not base64!", "sha256": "0"}]},
            "The content of env/a is not base64.",
        ),
    ],
)
def test_a_bad_option_fails_naming_it_and_writes_nothing(
    tmp_path: Path, args: dict[str, Any], message: str
) -> None:
    root = tmp_path / "restore-points"
    result = run_module("restore_point_write", {**_args(root), **args})
    assert (result["failed"], result["msg"]) == (True, message)
    assert not root.exists()


def test_check_mode_writes_nothing_and_says_what_it_would(tmp_path: Path) -> None:
    root = tmp_path / "restore-points"
    result = run_module("restore_point_write", _args(root, _copy("env/api1/api.env", SETTINGS)), check=True)
    assert result["changed"] is True
    assert result["written"] == [
        "../",
        "./",
        "env/",
        "env/api1/",
        "env/api1/api.env",
        "manifest.json",
        "latest",
    ]
    assert not root.exists()
