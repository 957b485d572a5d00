"""Every command and wait is bounded: a timed-out workspace command is stopped with every
process it started, and a timeout of 0 (which would wait for ever) is refused."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._migrate import (
    command_failure_message,
    run_command,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors
from conftest import run_module
from process_tree import state


def gone(pid: int) -> bool:
    """Whether a process has ended (a zombie waiting for its reaper counts as ended)."""
    return state(pid) in ("Z", "X", "")


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return gone(pid)


def spawner(tmp_path: Path, ignore_term: bool) -> str:
    """A command that starts a child (as make starts a recipe), writes the child's pid, and
    sleeps; the child sleeps too. With ignore_term, both ignore SIGTERM."""
    script = tmp_path / "spawner.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import signal, subprocess, sys, time
            if {ignore_term!r}:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen([sys.executable, "-c",
                "import signal, time; "
                + ("signal.signal(signal.SIGTERM, signal.SIG_IGN); " if {ignore_term!r} else "")
                + "time.sleep(60)"])
            open("child.pid", "w").write(str(child.pid))
            print("started", flush=True)
            time.sleep(60)
            """
        )
    )
    return f"{sys.executable} {script}"


@pytest.mark.parametrize(("ignore_term", "signal_name"), [(False, "SIGTERM"), (True, "SIGKILL")])
def test_a_timed_out_command_is_stopped_with_every_process_it_started(
    tmp_path: Path, ignore_term: bool, signal_name: str
) -> None:
    started = time.monotonic()
    result = run_command(spawner(tmp_path, ignore_term), str(tmp_path), {}, timeout=1.5, grace=1.0)
    assert time.monotonic() - started < 10
    assert result.timed_out and result.rc == -1
    assert result.stopped_with == signal_name
    assert "started" in result.stdout
    child = int((tmp_path / "child.pid").read_text())
    assert wait_gone(child), f"the command's child {child} is still running"
    message = command_failure_message(result, str(tmp_path), [])
    assert "was stopped with its whole process group (the command and every process it started" in message
    assert signal_name in message


def test_a_command_that_ends_in_time_is_left_alone(tmp_path: Path) -> None:
    result = run_command(f"{sys.executable} -c \"print('ok')\"", str(tmp_path), {}, timeout=30)
    assert (result.rc, result.timed_out, result.stopped_with, result.stdout) == (0, False, "", "ok\n")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"lock_timeout": 0}, ["lock_timeout=0: must be more than 0 seconds (0 would wait for ever)"]),
        (
            {"command_timeout": "0"},
            ["command_timeout=0: must be more than 0 seconds (0 would wait for ever)"],
        ),
        ({"timeout": -5}, ["timeout=-5: must be more than 0 seconds (0 would wait for ever)"]),
        ({"timeout": "soon"}, ["timeout=soon: must be a number of seconds, more than 0"]),
        ({"lock_timeout": 300, "command_timeout": 0.5}, []),
    ],
)
def test_timeouts_that_would_wait_for_ever_are_refused(values: dict, expected: list[str]) -> None:
    assert timeout_errors(values) == expected


@pytest.mark.parametrize("option", ["lock_timeout", "command_timeout"])
def test_db_migrate_refuses_a_timeout_of_0(tmp_path: Path, option: str) -> None:
    result = run_module(
        "db_migrate",
        {
            "chdir": str(tmp_path),
            option: 0,
            "login_host": "127.0.0.1",
            "login_port": 1,
            "login_password": "x",
        },
    )
    assert result["failed"]
    assert f"{option}=0: must be more than 0 seconds" in result["msg"]


def test_the_migrate_role_refuses_timeouts_of_0() -> None:
    tasks = (Path(__file__).resolve().parents[3] / "roles/migrate/tasks/main.yml").read_text()
    assert "migrate_lock_timeout | int > 0" in tasks
    assert "migrate_command_timeout | int > 0" in tasks
