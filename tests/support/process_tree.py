"""Kill a run as a lost controller is lost: the process and every process it started, none of
them getting to act on the others' end (ansible-playbook's workers run in sessions of their own,
and an ansible-playbook that sees a worker die exits with 1 on its own)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time


def _children() -> dict[int, list[int]]:
    """Each running process's children, by the parent's pid."""
    listing = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in listing.splitlines():
        pid, ppid = (int(field) for field in line.split())
        children.setdefault(ppid, []).append(pid)
    return children


def state(pid: int) -> str:
    """The process's state letter in /proc (T: stopped, Z: ended), "" when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return ""


def _wait_stopped(pid: int) -> None:
    """Wait, a second at most, until SIGSTOP has stopped the process (the signal is delivered
    when it next runs): until then it may still start a child."""
    deadline = time.monotonic() + 1
    while state(pid) not in ("T", "t", "Z", "X", "") and time.monotonic() < deadline:
        time.sleep(0.001)


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and its descendants. Each is stopped first, parents before children and
    until no new child appears, so that none acts on another's end or starts one unseen; then
    every one is killed."""
    stopped: list[int] = []
    frontier = [pid]
    while frontier:
        for proc in frontier:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc, signal.SIGSTOP)
            stopped.append(proc)
        for proc in frontier:
            _wait_stopped(proc)
        children = _children()
        frontier = [child for proc in stopped for child in children.get(proc, []) if child not in stopped]
    for proc in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc, signal.SIGKILL)
