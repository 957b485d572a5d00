"""intelgraph.ops.service_config: a service's user, directory, secrets and settings in one run,
through ansible itself on localhost and real files. The user is `daemon` (it exists, with a group
of its name and the shell /usr/sbin/nologin), so no run changes this machine's users; creating a
missing user is seen in check mode here, and for real on every sandbox host the deploy makes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import run_tasks

SECRET = "redis://:s3cr3t-password@cache1:6379/0\n"
SETTINGS = "# Ansible managed\nRPS_LIMIT=100\n"


def _config(directory: Path, **overrides: Any) -> dict[str, Any]:
    args = {
        "user": "daemon",
        "directory": str(directory),
        "secrets": SECRET,
        "settings_path": str(directory / "api.env"),
        "settings": SETTINGS,
    }
    return {**args, **overrides}


def _run(tmp_path: Path, *tasks: dict[str, Any]) -> dict[str, dict]:
    named = [{"name": f"step {n}", **task} for n, task in enumerate(tasks)]
    return run_tasks(named, tmp_path)


def _held(path: Path) -> tuple[str, int, int, int]:
    info = path.stat()
    return path.read_text(), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_a_first_run_writes_both_files_and_the_directory_a_second_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "etc"
    results = _run(
        tmp_path,
        {"intelgraph.ops.service_config": _config(config)},
        {"intelgraph.ops.service_config": _config(config)},
    )
    first, second = results["step 0"], results["step 1"]
    assert first["changed"] is True, first
    assert first["changed_items"] == ["directory", "secrets", "settings"]
    assert (first["secrets_changed"], first["settings_changed"], first["user_created"]) == (True, True, False)
    assert (stat.S_IMODE(config.stat().st_mode), config.stat().st_uid, config.stat().st_gid) == (0o750, 0, 1)
    assert _held(config / "secrets.env") == (SECRET, 0, 1, 0o640)
    assert _held(config / "api.env") == (SETTINGS, 0, 1, 0o640)
    assert sorted(os.listdir(config)) == ["api.env", "secrets.env"]  # no partial file left beside them
    assert (second["changed"], second["changed_items"]) == (False, []), second
    # The secret is in no result, not even the module's echo of its arguments.
    assert "s3cr3t" not in json.dumps(results)


def test_changed_settings_show_in_the_diff_and_the_secrets_never_do(tmp_path: Path) -> None:
    config = tmp_path / "etc"
    changed = _config(config, settings=SETTINGS.replace("100", "50"), secrets=SECRET.replace("s3cr3t", "n3w"))
    results = _run(
        tmp_path,
        {"intelgraph.ops.service_config": _config(config)},
        {"intelgraph.ops.service_config": changed, "diff": True, "check_mode": True},
        {"intelgraph.ops.service_config": changed, "diff": True},
    )
    checked, applied = results["step 1"], results["step 2"]
    for result in (checked, applied):
        assert result["changed_items"] == ["secrets", "settings"], result
        assert result["diff"] == [
            {
                "before_header": str(config / "api.env"),
                "after_header": str(config / "api.env"),
                "before": SETTINGS,
                "after": SETTINGS.replace("100", "50"),
            }
        ]
    assert "s3cr3t" not in json.dumps(results) and "n3w" not in json.dumps(results)
    assert _held(config / "api.env")[0] == SETTINGS.replace("100", "50")
    assert _held(config / "secrets.env")[0] == SECRET.replace("s3cr3t", "n3w")


def test_check_mode_changes_nothing_and_says_what_it_would(tmp_path: Path) -> None:
    config = tmp_path / "etc"
    results = _run(
        tmp_path,
        {"intelgraph.ops.service_config": _config(config), "check_mode": True},
        {
            "intelgraph.ops.service_config": _config(config, user="intelgraph-no-such-user"),
            "check_mode": True,
        },
    )
    assert results["step 0"]["changed_items"] == ["directory", "secrets", "settings"]
    missing = results["step 1"]
    assert (missing["changed"], missing["user_created"]) == (True, True)
    assert missing["changed_items"] == ["user", "directory", "secrets", "settings"]
    assert not config.exists()


def test_a_restored_settings_file_gets_the_mode_and_ownership_it_was_kept_with(tmp_path: Path) -> None:
    config = tmp_path / "etc"
    kept = "RPS_LIMIT=50\n\u00e9t\u00e9\n"
    restore = _config(config, settings=kept, settings_owner="bin", settings_group="bin", settings_mode="0600")
    results = _run(
        tmp_path,
        {"intelgraph.ops.service_config": _config(config)},
        {"intelgraph.ops.service_config": restore},
        {"intelgraph.ops.service_config": restore},
    )
    assert results["step 1"]["changed_items"] == ["settings"]
    assert results["step 2"]["changed"] is False
    assert _held(config / "api.env") == (kept, 2, 2, 0o600)
    assert (config / "api.env").read_bytes() == kept.encode("utf-8")


def test_attributes_alone_are_put_back(tmp_path: Path) -> None:
    config = tmp_path / "etc"
    results = _run(
        tmp_path,
        {"intelgraph.ops.service_config": _config(config)},
        {"ansible.builtin.file": {"path": str(config / "secrets.env"), "mode": "0644"}},
        {"intelgraph.ops.service_config": _config(config)},
    )
    assert results["step 2"]["changed_items"] == ["secrets"]
    assert _held(config / "secrets.env") == (SECRET, 0, 1, 0o640)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"settings_mode": "rw-r-----"},
            "settings_mode must be an octal mode such as 0640, not 'rw-r-----'.",
        ),
        (
            {"settings_group": "intelgraph-no-such-group"},
            "The settings file's group intelgraph-no-such-group does not exist; nothing was changed.",
        ),
        (
            {"settings_owner": "intelgraph-no-such-user"},
            "The settings file's owner intelgraph-no-such-user does not exist; nothing was changed.",
        ),
    ],
)
def test_a_bad_option_fails_naming_it(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    result = _run(tmp_path, {"intelgraph.ops.service_config": _config(tmp_path / "etc", **overrides)})[
        "step 0"
    ]
    assert result["failed"] is True
    assert result["msg"] == message
    assert not (tmp_path / "etc").exists()
