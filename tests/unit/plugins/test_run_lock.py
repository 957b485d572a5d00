"""intelgraph.ops run lock: taken by exactly one of many at once, re-entered by its own run, taken
over only from a run whose ansible-playbook is gone from this controller, broken only by its id."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.intelgraph.ops.plugins.action.run_lock import process_start
from ansible_collections.intelgraph.ops.plugins.module_utils._run_lock import acquire, read, release
from conftest import run_module


def holder(run_id: str, controller: str = "ctl1", pid: int = 4242, pid_start: str | None = None) -> dict:
    return {
        "id": run_id,
        "operation": "upgrade",
        "release": "24.1.0",
        "who": f"sre@{controller}",
        "controller": controller,
        "pid": pid,
        "pid_start": pid_start,
        "started": "2026-12-04T21:00:03Z",
    }


def _try(
    store: str, run_id: str, start: multiprocessing.synchronize.Event, results: multiprocessing.Queue
) -> None:
    start.wait()
    results.put((run_id, acquire(store, holder(run_id))["acquired"]))


def test_of_many_runs_that_try_at_once_exactly_one_gets_the_lock(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    start, results = multiprocessing.Event(), multiprocessing.Queue()
    runs = [multiprocessing.Process(target=_try, args=(store, f"run-{n}", start, results)) for n in range(8)]
    for run in runs:
        run.start()
    start.set()
    for run in runs:
        run.join(30)
    outcomes = dict(results.get(timeout=5) for run in runs)
    winners = [run_id for run_id, acquired in outcomes.items() if acquired]
    assert len(winners) == 1, outcomes
    assert read(store)["id"] == winners[0]


def test_the_store_is_private_and_the_lock_whole(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = acquire(str(store), holder("a"))
    assert result == {"acquired": True, "changed": True, "holder": holder("a"), "replaced": None}
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "run.lock").stat().st_mode) == 0o600
    assert stat.S_IMODE((store / "run.lock.lock").stat().st_mode) == 0o600  # the flock beside it
    assert json.loads((store / "run.lock").read_text()) == holder("a")
    assert [p.name for p in store.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_the_same_run_re_enters_and_another_is_refused_naming_the_holder(tmp_path: Path) -> None:
    store = str(tmp_path)
    acquire(store, holder("a"))
    again = acquire(store, holder("a", pid=99))
    assert (again["acquired"], again["changed"], again["holder"]["pid"]) == (True, False, 4242)
    other = acquire(store, holder("b"))
    assert (other["acquired"], other["changed"], other["holder"]["id"]) == (False, False, "a")
    assert read(store)["id"] == "a"


def test_take_over_and_break_replace_only_the_run_they_name(tmp_path: Path) -> None:
    store = str(tmp_path)
    acquire(store, holder("a"))
    assert acquire(store, holder("b"), take_over="x")["acquired"] is False
    taken = acquire(store, holder("b"), take_over="a")
    assert (taken["acquired"], taken["replaced"]["id"], read(store)["id"]) == (True, "a", "b")
    broken = acquire(store, holder("c"), break_id="b")
    assert (broken["acquired"], broken["replaced"]["id"], read(store)["id"]) == (True, "b", "c")
    # The later jobs of the AWX workflow that broke it carry the same break id: the lock is theirs.
    again = acquire(store, holder("c", pid=99), break_id="b")
    assert (again["acquired"], again["changed"], again["replaced"], read(store)) == (
        True,
        False,
        None,
        holder("c"),
    )


@pytest.mark.parametrize(("held", "expected"), [(None, "the lock is free"), ("a", "it is held by run a")])
def test_a_break_that_names_no_lock_or_another_changes_nothing(
    tmp_path: Path, held: str | None, expected: str
) -> None:
    store = str(tmp_path)
    if held:
        acquire(store, holder(held))
    with pytest.raises(
        ValueError, match=rf"intelgraph_run_lock_break=zz names no lock held on the fleet: {expected}"
    ):
        acquire(store, holder("b"), break_id="zz")
    assert (read(store) or {}).get("id") == held


def test_release_removes_only_the_run_s_own_lock_and_check_mode_writes_nothing(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert acquire(store, holder("a"), check=True)["acquired"] is True
    assert not os.path.exists(store)
    acquire(store, holder("a"))
    assert release(store, "b") == {"released": False, "changed": False, "holder": holder("a")}
    assert release(store, "a", check=True)["released"] is True
    assert read(store)["id"] == "a"
    assert release(store, "a") == {"released": True, "changed": True, "holder": None}
    assert read(store) is None
    assert release(store, "a")["changed"] is False


def test_a_lock_file_without_a_run_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run.lock").write_text("{}")
    with pytest.raises(ValueError, match="is not a run lock"):
        acquire(str(tmp_path), holder("a"))


# Through ansible itself, so that the action plugin is what runs: who the run is, take-over, failures.


def test_the_action_names_the_run_and_a_second_run_stops_saying_how_to_proceed(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    first = run_module(
        "run_lock", {"path": store, "state": "acquired", "operation": "upgrade", "release": "24.1.0"}
    )
    lock = read(store)
    assert first["changed"] and lock == first["holder"]
    assert lock["controller"] == socket.gethostname() and lock["who"].endswith("@" + socket.gethostname())
    assert lock["started"].endswith("Z") and len(lock["id"]) == 36
    # When that ansible-playbook started: this boot's id, and clock ticks since the boot.
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert lock["pid_start"].startswith(f"{boot}/") and lock["pid_start"].split("/")[1].isdigit()
    assert first["msg"].startswith(
        f"This run holds the run lock {store}/run.lock on localhost as run {lock['id']}"
    )
    # The first ansible-playbook is gone: a run of this controller takes its lock over, saying so.
    second = run_module("run_lock", {"path": store, "state": "acquired", "operation": "rollback"})
    assert second["changed"] and second["replaced"]["id"] == lock["id"]
    assert (
        "took over the run lock" in second["msg"]
        and f"of run {lock['id']} (upgrade to 24.1.0)" in second["msg"]
    )
    assert read(store)["operation"] == "rollback"


@pytest.mark.parametrize("recorded", ["its start", "no start (an earlier release's lock)"])
def test_a_live_run_or_another_controller_s_is_not_taken_over(tmp_path: Path, recorded: str) -> None:
    store = str(tmp_path)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ansible-playbook"])
    try:
        start = process_start(live.pid) if recorded == "its start" else None
        acquire(store, holder("live", controller=socket.gethostname(), pid=live.pid, pid_start=start))
        refused = run_module("run_lock", {"path": store, "state": "acquired", "operation": "upgrade"})
        assert refused["failed"] and read(store)["id"] == "live"
        assert refused["msg"].startswith(
            f"Another run holds the run lock {store}/run.lock on localhost: run live"
        )
        assert "It is running on this controller: wait for it to end" in refused["msg"]
        assert "intelgraph_run_lock_break" not in refused["msg"]
    finally:
        live.kill()
        live.wait()
    release(store, "live")
    acquire(store, holder("far", controller="ctl-elsewhere", pid=1))
    refused = run_module("run_lock", {"path": store, "state": "acquired", "operation": "upgrade"})
    assert refused["failed"] and read(store)["id"] == "far"
    assert "Nothing was changed" in refused["msg"]
    assert refused["msg"].endswith("-e intelgraph_run_lock_break=far")
    broken = run_module(
        "run_lock", {"path": store, "state": "acquired", "operation": "upgrade", "break_id": "far"}
    )
    assert broken["changed"] and "broke (intelgraph_run_lock_break) the run lock" in broken["msg"]
    assert read(store)["id"] == broken["holder"]["id"] != "far"


def test_a_pid_given_since_to_another_ansible_process_does_not_keep_the_lock(tmp_path: Path) -> None:
    """The lost run's pid now belongs to another ansible process of this controller (the pids went
    round): that process started at another time, so the lock is taken over."""
    store = str(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ansible-playbook"])
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        lost = holder("lost", controller=socket.gethostname(), pid=other.pid, pid_start=f"{boot}/1")
        acquire(store, lost)
        taken = run_module("run_lock", {"path": store, "state": "acquired", "operation": "upgrade"})
    finally:
        other.kill()
        other.wait()
    assert taken["changed"] and taken["replaced"]["id"] == "lost", taken
    assert "took over the run lock" in taken["msg"] and "gone from this controller" in taken["msg"]
    assert read(store)["id"] == taken["holder"]["id"] != "lost"


def test_check_mode_takes_no_lock_and_says_who_holds_it(tmp_path: Path) -> None:
    store = str(tmp_path)
    acquire(store, holder("far", controller="ctl-elsewhere"))
    checked = run_module("run_lock", {"path": store, "state": "acquired", "operation": "upgrade"}, check=True)
    assert not checked.get("failed") and read(store)["id"] == "far"
    assert (
        checked["msg"].startswith("Check mode takes no run lock;") and "is held by run far" in checked["msg"]
    )
    read_only = run_module("run_lock", {"path": store})
    assert read_only["held_by"].startswith(
        "run far (upgrade to 24.1.0) of sre@ctl-elsewhere, controller pid 4242"
    )
