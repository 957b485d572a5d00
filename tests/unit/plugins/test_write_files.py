"""intelgraph.ops.write_files: text files written into one directory in one run, through ansible
itself on localhost and real files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from conftest import run_module, run_tasks

REPORT = '{\n  "release": "24.1.0"\n}\n'
NOTE = "# IntelGraph v24.1 \u2014 release report\n\nNo gate failed.\n"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_directories_and_files_in_one_run_then_only_what_differs(tmp_path: Path) -> None:
    store = tmp_path / "state" / "reports" / "24.1.0"
    files = {"release-report.json": REPORT, "release-report.md": NOTE}
    args = {"path": str(store), "files": files}
    results = run_tasks(
        [
            {"name": "first", "intelgraph.ops.write_files": args},
            {"name": "again", "intelgraph.ops.write_files": args},
        ],
        tmp_path,
    )
    first, again = results["first"], results["again"]
    assert first["changed"] is True and first["path"] == str(store)
    made = [tmp_path / "state", tmp_path / "state/reports", store]
    assert first["written"] == [f"{d}/" for d in made] + ["release-report.json", "release-report.md"]
    assert [_mode(d) for d in made] == [0o700] * 3
    assert (store / "release-report.json").read_text() == REPORT
    assert (store / "release-report.md").read_bytes() == NOTE.encode()
    assert {_mode(store / name) for name in files} == {0o600}
    # Nothing beside them: each file was written beside its place and renamed into it.
    assert sorted(os.listdir(store)) == sorted(files)
    assert again["changed"] is False and again["written"] == []

    changed = run_module("write_files", {**args, "files": {**files, "release-report.md": NOTE + "More.\n"}})

    assert changed["changed"] is True and changed["written"] == ["release-report.md"]
    assert (store / "release-report.md").read_text() == NOTE + "More.\n"


def test_modes_are_set_where_only_they_differ_and_parents_that_exist_are_left(tmp_path: Path) -> None:
    parent = tmp_path / "reports"
    parent.mkdir(mode=0o755)
    os.chmod(parent, 0o755)
    target = parent / "24.1.0"
    target.mkdir()
    os.chmod(target, 0o755)
    (target / "release-report.json").write_text(REPORT)
    os.chmod(target / "release-report.json", 0o644)

    result = run_module(
        "write_files",
        {
            "path": str(target),
            "files": {"release-report.json": REPORT},
            "mode": "0640",
            "directory_mode": "0750",
        },
    )

    assert result["changed"] is True
    assert result["written"] == [f"{target}/", "release-report.json"]
    assert (_mode(parent), _mode(target), _mode(target / "release-report.json")) == (0o755, 0o750, 0o640)
    assert (target / "release-report.json").read_text() == REPORT


def test_check_mode_writes_nothing_and_says_what_it_would(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir(mode=0o700)
    os.chmod(kept, 0o700)
    (kept / "same.json").write_text(REPORT)
    os.chmod(kept / "same.json", 0o600)
    new = tmp_path / "new" / "24.1.0"

    into_kept = run_module(
        "write_files", {"path": str(kept), "files": {"same.json": REPORT, "other.md": NOTE}}, check=True
    )
    into_new = run_module("write_files", {"path": str(new), "files": {"a.json": REPORT}}, check=True)

    assert into_kept["changed"] is True and into_kept["written"] == ["other.md"]
    assert sorted(os.listdir(kept)) == ["same.json"]
    assert into_new["changed"] is True
    assert into_new["written"] == [f"{tmp_path / 'new'}/", f"{new}/", "a.json"]
    assert not (tmp_path / "new").exists()


def test_the_contents_are_not_logged(tmp_path: Path) -> None:
    result = run_module("write_files", {"path": str(tmp_path / "out"), "files": {"report.md": NOTE}})

    assert result["changed"] is True
    assert NOTE not in str(result)
    assert result["invocation"]["module_args"]["files"] == {
        "report.md": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    }


def test_a_bad_name_content_or_mode_fails_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cases = {
        "a name with a slash": ({"files": {"ok.json": REPORT, "../escape.json": REPORT}}, "'../escape.json'"),
        "content that is not text": (
            {"files": {"ok.json": REPORT, "data.json": {"release": "24.1.0"}}},
            "'data.json'",
        ),
        "a mode that is not octal": ({"files": {"ok.json": REPORT}, "mode": "rw-------"}, "mode 'rw-------'"),
        "a directory mode out of range": (
            {"files": {"ok.json": REPORT}, "directory_mode": "17777"},
            "directory_mode '17777'",
        ),
    }
    for case, (args, named) in cases.items():
        result = run_module("write_files", {"path": str(out), **args})
        assert result.get("failed") is True, case
        assert named in result["msg"], (case, result["msg"])
        assert not out.exists(), case
    assert not (tmp_path / "escape.json").exists()
