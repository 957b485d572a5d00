"""Two operators at once: the upgrade started at the same moment from two controllers, of which
exactly one runs; resumed from the run ledger after its controller is killed mid-rollout; rolled
back from the other controller with the restore point in the state store on the fleet. (The
upgrade as AWX runs it is test_awx.py.)"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from checks import SERVICES, assert_served_throughout, canary_moved_and_next_drained, said
from process_tree import kill_tree
from test_rollout import PREVIOUS, TARGET

from sandbox import HERE, Controller, Fleet


def kill_controller(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the ansible-playbook of a run and its workers, as a lost controller."""
    kill_tree(proc.pid)
    proc.wait(timeout=60)


def state_files(fleet: Fleet, controller: Controller) -> dict[str, float]:
    """The files of a controller's state directory for the fleet, with their modification times."""
    base = controller.state_dir(fleet)
    return {str(p.relative_to(base)): p.stat().st_mtime for p in base.rglob("*") if p.is_file()}


def store_announcements(fleet: Fleet) -> list[dict[str, Any]]:
    """The announcements the state store's window record has logged, oldest first."""
    log = fleet.store_read("window/announcements.log")["window/announcements.log"]
    return [json.loads(line) for line in log["data"].decode().splitlines()] if log else []


def lock_id(run_output: str) -> str:
    """The run id a run took the run lock as (its "This run holds the run lock" line)."""
    found = re.search(
        r"This run holds the run lock \S+ on \S+ as run ([0-9a-f-]{36})", " ".join(run_output.split())
    )
    assert found, "the run did not say it took the run lock"
    return found.group(1)


def test_two_controllers_at_once_the_killed_one_resumes_and_the_other_rolls_back(
    deployed: Fleet, tmp_path: Path
) -> None:
    """Two operators start the upgrade at the same moment from two controllers (this checkout,
    and a copy of it under another host name): exactly one run takes the run lock and changes
    the fleet; the other stops at its first task, naming it, with nothing changed. The winner's
    controller is killed mid-rollout. The other controller then still finds the lock (it cannot
    tell that run is gone) and stops, saying how to break it; a break that names another run
    changes nothing either. The winner's own controller takes the lock over, saying so, and
    resumes from its run ledger: every host moved once. Then the other controller rolls the
    fleet back with the restore point the winner's runs kept in the state store on the fleet.
    No request failed and no event was lost throughout."""
    fleet = deployed
    api = fleet.groups["api"]
    hosts = api + fleet.groups["ingest"]
    controllers = [HERE, Controller.copy(tmp_path / "controller-b", "controller-b")]
    assert fleet.run_lock() is None
    # This checkout's state directory may hold earlier runs' files (on a fleet of the same name).
    files_before = [state_files(fleet, c) for c in controllers]
    announced_before = len(store_announcements(fleet))  # the window's record is in the store too
    points_before = set(fleet.restore_points())  # in the state store on the fleet
    started = time.time()

    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        runs = [fleet.start_playbook("playbooks/upgrade.yml", controller=c) for c in controllers]
        # Exactly one run gets the lock; the other ends at its first task.
        deadline = time.monotonic() + 120
        while all(run.proc.poll() is None for run in runs):
            assert time.monotonic() < deadline, "both runs were still going after 2 minutes"
            time.sleep(0.1)
        loser = next(n for n, run in enumerate(runs) if run.proc.poll() is not None)
        first, refused = runs[1 - loser], runs[loser].wait()
        winner, other = controllers[1 - loser], controllers[loser]
        ledger_path = f"ledger/{TARGET}.json"  # in the state store on the fleet

        # Wait until the canary api1 is moved (the ledger says so) and HAProxy has taken the
        # next host, api2, out of service, then kill the winner's controller.
        deadline = time.monotonic() + 600
        while True:
            assert first.proc.poll() is None, f"the first run ended before api2 was drained, see {first.log}"
            assert time.monotonic() < deadline, "api1 was not moved and api2 drained within 10 minutes"
            if canary_moved_and_next_drained(fleet, TARGET):
                break
            time.sleep(0.2)
        kill_controller(first.proc)
        killed = fleet.store_json(ledger_path)
        states_killed = fleet.haproxy_states()
        versions_killed = fleet.versions()
        api1_started = fleet.unit_started("api1", SERVICES["api"])
        holder = fleet.run_lock()

        # The other controller cannot see that run's process: the lock stands, and says how to break it.
        blocked = fleet.playbook("playbooks/upgrade.yml", controller=other)
        misbroken = fleet.playbook(
            "playbooks/upgrade.yml",
            controller=other,
            extra_vars={"intelgraph_run_lock_break": "not-that-run"},
        )
        lock_after_refusals = fleet.run_lock()
        # How often api2 was started since the upgrade began, by the killed run (it was killed
        # once api2 was drained: before its restart, or during or after it).
        api2_starts_killed = fleet.unit_starts("api2", SERVICES["api"], started)

        second = fleet.playbook("playbooks/upgrade.yml", controller=winner)
        upgraded = {
            "versions": fleet.versions(),
            "haproxy": fleet.haproxy_states(),
            "starts": {
                h: fleet.unit_starts(h, SERVICES["api" if h in api else "ingest"], started) for h in hosts
            },
            "api1_started": fleet.unit_started("api1", SERVICES["api"]),
            "other_files": state_files(fleet, other),
            "points": set(fleet.restore_points()) - points_before,
        }

        # The other controller rolls the fleet back: it finds the restore point the winner's
        # runs kept in the state store on the fleet (nothing of it is on this controller).
        rolled_back = fleet.playbook("playbooks/rollback.yml", controller=other)

    # The race: one run holds the lock; the other stopped at its first task and changed nothing.
    output = first.log.read_text()
    run_id = lock_id(output)
    assert holder is not None and holder["id"] == run_id
    assert (holder["operation"], holder["release"]) == ("upgrade", TARGET)
    assert (holder["controller"], holder["who"]) == (winner.name, f"root@{winner.name}")
    for stopped in (refused, blocked, misbroken):
        assert not stopped.ok
        assert stopped.recap() == {"localhost": stopped.recap()["localhost"]}, "a host was touched"
        assert stopped.recap()["localhost"]["failed"] == 1
        text = said(stopped)
        assert (
            f"Another run holds the run lock /var/lib/intelgraph-ops/run.lock on tools1: run {run_id} "
            f"(upgrade to {TARGET}) of root@{winner.name}, controller pid {holder['pid']}" in text
        ) or stopped is misbroken, stopped.log
        assert "Nothing was changed." in text and "Open and announce the window" not in stopped.output
        # Its first task that does anything is the one that failed.
        assert (
            stopped.output.split("fatal:")[0]
            .rsplit("TASK [", 1)[1]
            .startswith("intelgraph.ops.run_lock : Take the run lock for the upgrade]")
        )
    assert f"break its lock by running again with -e intelgraph_run_lock_break={run_id}" in said(blocked)
    assert (
        f"intelgraph_run_lock_break=not-that-run names no lock held on the fleet: it is held by run {run_id}"
        in said(misbroken)
    )
    assert lock_after_refusals == holder
    # No window record, announcement or restore point on either controller.
    assert upgraded["other_files"] == files_before[loser]
    assert not [
        p
        for p in state_files(fleet, winner)
        if p.startswith(("window/", "restore-points/")) and p not in files_before[1 - loser]
    ]

    assert first.proc.returncode == -signal.SIGKILL
    assert "PLAY RECAP" not in output  # it was stopped mid-run
    assert versions_killed["api1"] == TARGET
    assert killed["hosts"]["api1"]["rollout"]["status"] == "done"
    assert killed["hosts"]["api1"]["rollout"]["finished"] > started
    assert killed["completed"] is None

    # The second run took the lock over from the killed one, resumed: it said what the ledger held,
    # kept the restore point, skipped the migrations and the canary, and put back what the killed
    # run left out; it released the lock at its end.
    assert second.ok, f"the resumed upgrade failed, see {second.log}"
    text = said(second)
    assert (
        f"This run took over the run lock /var/lib/intelgraph-ops/run.lock on tools1 of run {run_id}" in text
    )
    assert "the ansible-playbook of that run is gone from this controller (killed or lost)" in text
    assert "The run lock on tools1 is released: the fleet is free for the next run." in text
    assert fleet.run_lock() is None
    assert f"Resuming the interrupted upgrade to {TARGET}" in text
    assert "api1: done: config, rollout" in text
    point = killed["fleet"]["restore_point"]["data"]["id"]
    assert f"Skipped (run ledger): restore point {point} was captured by the interrupted run" in text
    assert (
        "Skipped (run ledger): the interrupted run bootstrapped the workspace and applied the migrations"
        in text
    )
    assert f"Skipped (run ledger): api1 finished its rollout to {TARGET}" in text
    # api2, out of HAProxy when the controller died, was put back first, or (not ready) moved.
    assert states_killed["api2"].startswith(("DRAIN", "MAINT")), states_killed
    moved_again = "api2 was left out by the interrupted run and does not answer ready" in text
    assert "lb1 had api2 " in text or moved_again
    assert upgraded["api1_started"] == api1_started  # the canary was not restarted again
    assert upgraded["points"] == {point}  # one restore point, from before the upgrade changed anything
    # Asked at their turn which release they run: api1 (the pre-check found it on the target) and
    # api2 (the ledger has it started); not api3, which the pre-check found on the previous release
    # and the ledger has never seen moving.
    probe = "rollout : Read the release the API runs and whether it is ready"
    assert second.task_hosts(probe) == ["api1", "api2"], second.log

    # Every host restarted once; api2 once more by the resumed run unless the killed run had
    # finished moving it. A restart by the killed run is not taken for the resumed run's: its
    # ledger has api2 started, so the resumed run restarts it with its new settings again.
    api2_done_killed = killed["hosts"].get("api2", {}).get("rollout", {}).get("status") == "done"
    assert api2_starts_killed in (0, 1), api2_starts_killed
    starts = upgraded["starts"]
    expected = {h: 1 for h in hosts} | {"api2": api2_starts_killed + (0 if api2_done_killed else 1)}
    assert starts == expected, starts

    # Every host on the target, every API host in service.
    assert upgraded["versions"] == dict.fromkeys(hosts, TARGET)
    assert upgraded["haproxy"] == dict.fromkeys(api, "UP")

    # The rollback from the other controller used that restore point, from the state store, and
    # put every host back; it too took and released the run lock.
    assert rolled_back.ok, f"the rollback from the other controller failed, see {rolled_back.log}"
    back = said(rolled_back)
    assert (
        f"Restore point {point} (/var/lib/intelgraph-ops/restore-points/{point}): {len(hosts)} hosts" in back
    )
    assert f"Rolling back to {PREVIOUS} from restore point {point}" in back
    assert "The run lock on tools1 is released: the fleet is free for the next run." in back
    assert fleet.run_lock() is None
    assert fleet.versions() == dict.fromkeys(hosts, PREVIOUS)
    assert fleet.haproxy_states() == dict.fromkeys(api, "UP")

    # Nothing lost across the three runs, and no request failed.
    assert_served_throughout(fleet, stats, samples, [])

    # One window at a time, from either controller, in the one record on the fleet: the killed
    # run's, left open, was closed as failed and that announced by the second run before it
    # opened its own; the second run's window closed as succeeded, and its observation followed;
    # then the other controller's rollback opened and closed its own.
    messages = store_announcements(fleet)[announced_before:]
    events = [(m["window_id"], m["event"], m.get("outcome")) for m in messages]
    killed_window, resumed_window, rollback_window = events[0][0], events[2][0], events[6][0]
    assert events == [
        (killed_window, "window_opened", None),
        (killed_window, "window_closed", "failed"),
        (resumed_window, "window_opened", None),
        (resumed_window, "window_closed", "succeeded"),
        (resumed_window, "observation_started", None),
        (resumed_window, "observation_ended", "succeeded"),
        (rollback_window, "window_opened", None),
        (rollback_window, "window_closed", "succeeded"),
    ], events
    assert len({killed_window, resumed_window, rollback_window}) == 3
    assert "the run that opened it ended without closing it" in messages[1]["reason"]
    assert f"Maintenance window {killed_window} (IntelGraph {TARGET}) was still open" in text

    # The finished run's ledger was moved aside with every host's rollout done.
    ledgers = sorted(p for p in fleet.store_files() if p.startswith("ledger/") and p.endswith(".json"))
    assert len(ledgers) == 1 and ledgers[0].startswith(f"ledger/{TARGET}.completed-"), ledgers
    final = fleet.store_json(ledgers[0])
    assert {h: final["hosts"][h]["rollout"]["status"] for h in hosts} == dict.fromkeys(hosts, "done")
    assert final["hosts"]["api1"]["rollout"]["finished"] == killed["hosts"]["api1"]["rollout"]["finished"]
