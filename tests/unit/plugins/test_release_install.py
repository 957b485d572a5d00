"""intelgraph.ops.release_install: a release unpacked into its own directory and checked, through
ansible itself (the action plugin and the module, on localhost); an installed release costs one
module run and never reads the tarball; the tarball from the controller or from a URL."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_tasks, serve_http

FILES = {"VERSION": b"24.1.0\n", "bin/intelgraph-api": b"#!/usr/bin/python3\nprint('api')\n"}


def tarball(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A release tarball at path with these files (bin/* executable) and symbolic links."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.uname = (
                len(data),
                0o755 if "bin/" in name else 0o644,
                4242,
                "nobody",
            )
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return path


def install(name: str, root: Path, check: bool = False, **source: object) -> dict:
    task = {"intelgraph.ops.release_install": {"version": "24.1.0", "root": str(root), **source}}
    return {"name": name, **task, "ignore_errors": True, **({"check_mode": True} if check else {})}


def test_unpacked_checked_and_then_only_checked(tmp_path: Path) -> None:
    artifact = tarball(tmp_path / "intelgraph-server-24.1.0.tar.gz", FILES)
    root = tmp_path / "opt"
    first = run_tasks([install("first", root, src=str(artifact))], tmp_path)["first"]
    assert first.get("failed") is not True, first
    assert first["changed"] is True and first["installed"] is True and first["members"] == 2
    release = root / "releases/24.1.0"
    assert (release / "VERSION").read_text() == "24.1.0\n"
    assert (release / "bin/intelgraph-api").stat().st_mode & 0o777 == 0o755
    assert (release / "bin/intelgraph-api").stat().st_uid != 4242  # the tarball's owner is not kept
    assert first["msg"] == f"Release 24.1.0 was unpacked into {release}."

    # Installed: checked only; the tarball is not needed (it is gone from the controller now).
    artifact.unlink()
    again = run_tasks([install("again", root, src=str(artifact))], tmp_path)["again"]
    assert again.get("failed") is not True, again
    assert again["changed"] is False and again["members"] == 0 and again["found"] == "24.1.0"


def test_a_directory_holding_another_release_fails_naming_both(tmp_path: Path) -> None:
    artifact = tarball(tmp_path / "intelgraph-server-24.1.0.tar.gz", dict(FILES, VERSION=b"9.9.9\n"))
    root = tmp_path / "opt"
    bad = run_tasks([install("bad", root, src=str(artifact))], tmp_path)["bad"]
    assert bad["failed"] is True
    assert bad["msg"] == (
        f"{root}/releases/24.1.0 holds release 9.9.9, not 24.1.0: remove that directory and check the "
        "artifact intelgraph-server-24.1.0.tar.gz."
    )
    # The next run finds the directory as it was left and says the same, without unpacking.
    again = run_tasks([install("again", root, src=str(artifact))], tmp_path)["again"]
    assert again["failed"] is True and again["members"] == 0 and "holds release 9.9.9" in again["msg"]


def test_check_mode_unpacks_nothing(tmp_path: Path) -> None:
    artifact = tarball(tmp_path / "intelgraph-server-24.1.0.tar.gz", FILES)
    root = tmp_path / "opt"
    result = run_tasks([install("check", root, check=True, src=str(artifact))], tmp_path)["check"]
    assert result.get("failed") is not True, result
    assert result["changed"] is True and result["installed"] is False
    assert result["msg"] == f"Check mode: release 24.1.0 would be unpacked into {root}/releases/24.1.0."
    assert not root.exists()


def test_a_member_that_would_leave_the_release_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "opt"
    escapes = {
        "dotdot": tarball(tmp_path / "a.tar.gz", dict(FILES, **{"../../outside": b"x"})),
        "link": tarball(tmp_path / "b.tar.gz", FILES, links={"etc": "/etc"}),
    }
    results = run_tasks(
        [install(name, root / name, src=str(path)) for name, path in escapes.items()], tmp_path
    )
    for name in escapes:
        assert results[name]["failed"] is True, results[name]
        assert results[name]["msg"].startswith(
            f"Cannot unpack {escapes[name].name} into {root / name}/releases/24.1.0"
        )
    assert not (root / "dotdot/outside").exists() and not (root / "outside").exists()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    data = tarball(tmp_path / "served.tar.gz", FILES).read_bytes()
    yield from serve_http(
        lambda path: (
            (200, "application/gzip", data)
            if path == "/intelgraph-server-24.1.0.tar.gz"
            else (404, "text/plain", b"not found")
        )
    )


def test_downloaded_by_the_host(tmp_path: Path, served: str) -> None:
    root = tmp_path / "opt"
    results = run_tasks(
        [
            install("download", root, url=f"{served}/intelgraph-server-24.1.0.tar.gz"),
            install("missing", tmp_path / "other", url=f"{served}/nope.tar.gz"),
        ],
        tmp_path,
    )
    assert results["download"].get("failed") is not True, results["download"]
    assert (root / "releases/24.1.0/VERSION").read_text() == "24.1.0\n"
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["24.1.0"]  # no download left behind
    assert results["missing"]["failed"] is True
    assert results["missing"]["msg"].startswith(f"Cannot download {served}/nope.tar.gz: HTTP Error 404")


def test_a_release_directory_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    root = tmp_path / "opt"
    (root / "releases/24.1.0/VERSION").mkdir(parents=True)  # a directory where the file should be
    result = run_tasks([install("unreadable", root, src=str(tmp_path / "none.tar.gz"))], tmp_path)[
        "unreadable"
    ]
    assert result["failed"] is True
    assert result["msg"].startswith(f"Cannot read {root}/releases/24.1.0/VERSION: [Errno 21] Is a directory")


def test_a_python_without_the_data_filter_unpacks_with_the_same_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fleet's Debian 12 runs Python 3.11.2, which has no tarfile.data_filter: the module
    checks the members by hand there, and refuses what the filter refuses."""
    from ansible_collections.intelgraph.ops.plugins.modules import release_install

    monkeypatch.delattr(tarfile, "data_filter")
    good = tarball(tmp_path / "good.tar.gz", FILES, links={"bin/api": "intelgraph-api"})
    assert release_install.unpack(str(good), str(tmp_path / "good")) == 3
    api = tmp_path / "good/bin/intelgraph-api"
    assert api.read_bytes() == FILES["bin/intelgraph-api"] and api.stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "good/bin/api").resolve() == api
    refused = {
        "dotdot": (dict(FILES, **{"../outside": b"x"}), {}, "../outside would be unpacked outside"),
        "absolute": (dict(FILES, **{"/tmp/abs": b"x"}), {}, "/tmp/abs would be unpacked outside"),
        "link": (FILES, {"etc": "/etc"}, "etc links outside"),
        "link-up": (FILES, {"up": "../.."}, "up links outside"),
    }
    for name, (files, links, said) in refused.items():
        with pytest.raises(tarfile.TarError, match=said):
            release_install.unpack(
                str(tarball(tmp_path / f"{name}.tar.gz", files, links)), str(tmp_path / name)
            )
    assert not (tmp_path / "outside").exists()
    fifo = tarfile.TarInfo("fifo")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(tarfile.TarError, match="fifo is a special file"):
        release_install.checked_by_hand(fifo, str(tmp_path / "special"))


def test_a_bad_timeout_is_refused_as_every_wait_of_the_collection(tmp_path: Path) -> None:
    result = run_tasks(
        [install("bad timeout", tmp_path / "opt", url="http://127.0.0.1:9/x.tar.gz", timeout=0)], tmp_path
    )
    assert result["bad timeout"]["failed"] is True
    assert (
        result["bad timeout"]["msg"]
        == "Bad timeout: timeout=0.0: must be more than 0 seconds (0 would wait for ever)."
    )
