"""The workspace's commands (backfill, smoke) and the ingestion replay show no secret of the
env file, are bounded in time, and the report data they leave is readable by its owner only."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.intelgraph.ops.plugins.callback.phase_timer import CallbackModule
from conftest import run_module

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "pa55-w0rd-x"
TOKEN = "t0ken-value-y"


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "workspace.env"
    path.write_text(
        f"DATABASE_URL=postgresql://intelgraph:{PASSWORD}@[db1/intelgraph\n"
        "REDIS_URL=redis://cache1:6379/0\n"
        f"API_TOKEN={TOKEN}\n"
    )
    return path


def visible(result: dict) -> str:
    """Everything a result shows but the echo of the options (`invocation`, -v only)."""
    return json.dumps({k: v for k, v in result.items() if k != "invocation"})


@pytest.mark.parametrize("rc", [0, 3])
def test_the_command_output_masks_the_env_file_secrets(tmp_path: Path, env_file: Path, rc: int) -> None:
    script = tmp_path / "leaky.py"
    script.write_text(
        "import os, sys\n"
        "print('connecting to', os.environ['DATABASE_URL'])\n"
        "print('token', os.environ['API_TOKEN'], file=sys.stderr)\n"
        f"sys.exit({rc})\n"
    )
    result = run_module(
        "workspace_command",
        {"command": f"{sys.executable} {script}", "chdir": str(tmp_path), "env_file": str(env_file)},
    )
    assert result.get("failed", False) is (rc != 0)
    assert result["rc"] == rc
    assert result["stdout_lines"][0].startswith("connecting to postgresql://intelgraph:")
    assert PASSWORD not in visible(result)
    assert TOKEN not in visible(result)


@pytest.mark.parametrize(("output", "changed"), [("keys_inserted=4", True), ("keys_inserted=0", False)])
def test_changed_follows_the_pattern(tmp_path: Path, output: str, changed: bool) -> None:
    result = run_module(
        "workspace_command",
        {
            "command": f"{sys.executable} -c \"print('{output}')\"",
            "chdir": str(tmp_path),
            "changed_pattern": "keys_inserted=[1-9]",
        },
    )
    assert not result.get("failed"), result
    assert result["changed"] is changed


def test_a_command_past_its_timeout_is_stopped_with_its_process_group(tmp_path: Path) -> None:
    result = run_module(
        "workspace_command",
        {
            "command": f'{sys.executable} -c "import time; time.sleep(60)"',
            "chdir": str(tmp_path),
            "timeout": 1,
        },
    )
    assert result["failed"] and result["timed_out"]
    assert "did not finish within 1 s" in result["msg"]
    assert "stopped with its whole process group" in result["msg"]


def test_a_timeout_of_0_is_refused(tmp_path: Path) -> None:
    result = run_module("workspace_command", {"command": "true", "chdir": str(tmp_path), "timeout": 0})
    assert result["failed"]
    assert "timeout=0: must be more than 0 seconds (0 would wait for ever)" in result["msg"]


def test_the_replay_shows_no_password_of_the_env_file(env_file: Path) -> None:
    # The connection string is malformed, so PostgreSQL's client quotes it in its error.
    result = run_module("ingest_replay", {"tenants": ["acme"], "env_file": str(env_file)})
    assert result["failed"]
    assert "ingest replay failed" in result["msg"]
    assert PASSWORD not in visible(result)


def test_the_replay_refuses_a_timeout_of_0(env_file: Path) -> None:
    result = run_module("ingest_replay", {"tenants": ["acme"], "env_file": str(env_file), "timeout": 0})
    assert result["failed"]
    assert "timeout=0: must be more than 0 seconds" in result["msg"]


def tasks_of(role: str, name: str = "main") -> list[dict]:
    return yaml.safe_load((ROOT / f"roles/{role}/tasks/{name}.yml").read_text())


def flatten(tasks: list[dict]) -> list[dict]:
    out = []
    for task in tasks:
        out.append(task)
        for key in ("block", "rescue", "always"):
            out.extend(flatten(task.get(key, [])))
    return out


@pytest.mark.parametrize(
    ("role", "entry", "module", "option", "variable"),
    [
        ("validate", "checks", "intelgraph.ops.workspace_command", "timeout", "validate_smoke_timeout"),
        ("validate", "checks", "intelgraph.ops.ingest_replay", "timeout", "validate_replay_timeout"),
        ("backfill", "main", "intelgraph.ops.workspace_command", "timeout", "backfill_command_timeout"),
    ],
)
def test_the_roles_bound_their_commands(
    role: str, entry: str, module: str, option: str, variable: str
) -> None:
    tasks = [t for t in flatten(tasks_of(role, entry)) if module in t]
    assert tasks, f"no {module} task in role {role}"
    assert all(t[module][option] == f"{{{{ {variable} }}}}" for t in tasks)
    defaults = yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text())
    assert defaults[variable] > 0


def test_the_workspace_commands_run_through_the_masking_module() -> None:
    for role, entry in (("validate", "checks"), ("validate", "observe"), ("backfill", "main")):
        assert not [t for t in flatten(tasks_of(role, entry)) if "ansible.builtin.shell" in t], role


def test_the_report_data_files_are_written_0600() -> None:
    tasks = {t["name"]: t for t in tasks_of("intelgraph", "report_data")}
    modes = {t["ansible.builtin.copy"]["mode"] for t in tasks.values() if "ansible.builtin.copy" in t}
    dirs = {t["ansible.builtin.file"]["mode"] for t in tasks.values() if "ansible.builtin.file" in t}
    assert modes == {"0600"}
    assert dirs == {"0700"}


def test_the_phase_timings_are_written_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "run-timings.json"
    callback = CallbackModule()
    monkeypatch.setattr(callback, "_path", lambda: str(output))
    callback._write()
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
