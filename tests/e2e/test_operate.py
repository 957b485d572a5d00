"""The upgrade run as operators run it: planned (plan.yml and --check --diff, which change
nothing), run through ansible-runner as AWX runs it under steady traffic (the run whose rollout,
validation and release report are checked: API hosts drained from HAProxy in serial batches,
ingest workers quiesced with their queue drained, the subscription latency metric checked in
Prometheus); started at once from two controllers, of which exactly one runs, and resumed from
the run ledger after its controller is killed mid-rollout."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
from checks import (
    SERVICES,
    assert_every_event_applied_once_or_dead_lettered,
    fleet_digest,
    in_service,
    lb_states,
    produce_poison,
    said,
    served_by,
    state_dir,
)
from test_rollout import PREVIOUS, TARGET

from sandbox import HERE, ROOT, STATE_STORE, Controller, Fleet, PlaybookRun

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def controller_files(fleet: Fleet) -> list[str]:
    base = state_dir(fleet)
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")) if base.exists() else []


def test_plan_check_mode_and_the_upgrade_through_ansible_runner_rolled_out_under_traffic(
    deployed: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fleet, as operators run the upgrade: planned, run in check mode, then run through
    ansible-runner as AWX runs it, under steady traffic. That upgrade is also the one whose
    rollout (HAProxy, versions, ingest events, the metric), validation and release report are
    checked, and after which the gates run again (validate.yml) with an impossible target and
    with no data; plan.yml then has nothing to do."""
    fleet = deployed
    api = fleet.groups["api"]
    hosts = api + fleet.groups["ingest"]
    report_dir = fleet.reports / TARGET
    for stale in report_dir.glob("release-report.*"):
        stale.unlink()

    # 24.0.0 does not export the subscription latency metric, though Prometheus scrapes the API.
    scraped = fleet.module(
        "obs1", "intelgraph.ops.prometheus_series", {"metric": "intelgraph_build_info", "expected": api}
    )
    assert scraped.ok, scraped.output
    absent = fleet.module(
        "obs1",
        "intelgraph.ops.prometheus_series",
        {"metric": "subscription_latency_seconds", "expected": api, "wait_timeout": 0},
    )
    assert not absent.ok
    assert "subscription_latency_seconds: no series for host=api1, api2, api3" in said(absent)

    # Restore points of three earlier runs in the state store, their snapshots on the Redis
    # primary's host: the upgrade below keeps two (intelgraph_restore_point_keep), its own and the
    # newest of these, and deletes the others with their snapshots.
    earlier = ["20261101T000000Z", "20261102T000000Z", "20261103T000000Z"]
    for point in earlier:
        snapshot = f"/var/backups/intelgraph/redis/{point}.rdb"
        fleet.write("cache1", snapshot, b"REDIS0011", "0600")
        manifest = {"id": point, "redis_snapshot": {"node": "cache1", "path": snapshot}}
        fleet.write(
            "tools1", f"{STATE_STORE}/restore-points/{point}/manifest.json", json.dumps(manifest), "0600"
        )

    before = fleet_digest(fleet)
    controller_before = controller_files(fleet)
    store_before = fleet.store_files()
    assert set(before["versions"].values()) == {PREVIOUS}
    assert set(before["haproxy"].values()) == {"UP"}

    # 1. plan.yml: every host, what it gets, and the window it needs.
    plan = fleet.playbook("playbooks/plan.yml")
    assert plan.ok, f"plan.yml failed, see {plan.log}"
    for host in hosts:
        assert (
            f"{host} ({'api' if host in fleet.groups['api'] else 'ingest'}): {PREVIOUS} -> {TARGET}"
            in said(plan)
        )
    assert "rollout api: " in said(plan) and "3 batches (api1, api2, api3)" in said(plan)
    assert "for the upgrade: it fits in the 15-minute window" in said(plan)
    assert "The run lock on tools1 is free." in said(plan)  # it takes none, and says who holds it

    # 2. --check --diff runs every phase and changes nothing on any host or on the controller.
    with fleet.watch(fleet.haproxy_states) as samples:
        check = fleet.playbook("playbooks/upgrade.yml", "--check", "--diff")
    assert check.ok, f"upgrade.yml --check --diff failed, see {check.log}"
    for play in (
        "Upgrade | config",
        "Upgrade | migrate",
        "Upgrade | roll out the API",
        "Upgrade | roll out the ingest workers",
    ):
        assert f"PLAY [{play}]" in check.output
    assert "+RPS_LIMIT=100" in check.output  # the env file's diff
    assert f"Check mode: release {TARGET} would be unpacked" in said(check)
    assert "Check mode: no migration runs" in said(check)
    assert "Check mode takes no run lock; /var/lib/intelgraph-ops/run.lock on tools1 is free." in said(check)
    assert fleet.run_lock() is None
    after = fleet_digest(fleet)
    assert after == before
    assert controller_files(fleet) == controller_before  # no window record or restore point
    assert fleet.store_files() == store_before  # no run lock or ledger in the state store
    seen = lb_states(samples)
    assert len(seen) > 20 and all(set(states.values()) == {"UP"} for states in seen)

    # 3. The upgrade through ansible-runner, as AWX runs it: a private data dir, the checkout as
    #    the project, the inventory, env vars and extra vars; under steady traffic, with poison
    #    events in the ingest stream and HAProxy sampled throughout. Then, under the same traffic,
    #    the gates once more on the upgraded fleet (see check_validation).
    with (
        tempfile.TemporaryDirectory(prefix="runner-") as private,
        fleet.traffic() as stats,
        fleet.watch(fleet.haproxy_states) as samples,
    ):
        poison = produce_poison(fleet)
        env = fleet.env()
        monkeypatch.setenv("PATH", env["PATH"])  # ansible-runner finds ansible-playbook on PATH
        runner = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(ROOT),
            playbook="playbooks/upgrade.yml",
            inventory=str(fleet.inventory),
            envvars={
                "ANSIBLE_CONFIG": env["ANSIBLE_CONFIG"],
                "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
                "INTELGRAPH_SANDBOX_ID": env["INTELGRAPH_SANDBOX_ID"],
                "INTELGRAPH_SANDBOX_ROOT": env["INTELGRAPH_SANDBOX_ROOT"],
                "PATH": env["PATH"],
            },
            extravars={"intelgraph_window_minutes": 15, "intelgraph_restore_point_keep": 2},
            quiet=True,
            timeout=1200,
        )
        events = list(runner.events)
        stdout = runner.stdout.read()
        log = fleet.logs / f"{time.strftime('%H%M%S')}-runner-upgrade.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(stdout)
        # What ansible-playbook printed, as a run of Fleet.playbook() gives it (without colours).
        run = PlaybookRun(["ansible-runner", "playbooks/upgrade.yml"], runner.rc, ANSI.sub("", stdout), log)
        assert runner.status == "successful", stdout[-4000:]
        assert runner.rc == 0
        # The upgrade's report, read before validate.yml below writes its own in its place; the
        # state store on the fleet keeps the same, readable by root only.
        report = read_report(report_dir)
        stored = fleet.store_read(
            "reports",
            f"reports/{TARGET}",
            f"reports/{TARGET}/release-report.json",
            f"reports/{TARGET}/release-report.md",
        )
        assert {path: (seen or {}).get("mode") for path, seen in stored.items()} == {
            "reports": 0o700,
            f"reports/{TARGET}": 0o700,
            f"reports/{TARGET}/release-report.json": 0o600,
            f"reports/{TARGET}/release-report.md": 0o600,
        }
        assert json.loads(stored[f"reports/{TARGET}/release-report.json"]["data"]) == report[0]
        assert stored[f"reports/{TARGET}/release-report.md"]["data"].decode() == report[1]
        strict = fleet.playbook(
            "playbooks/validate.yml", extra_vars={"validate_window": 10, "validate_read_p95_target": 0.000001}
        )
        blind = fleet.playbook(
            "playbooks/validate.yml",
            extra_vars={
                "validate_window": 10,
                "validate_gates": [
                    {"name": "absent", "query": "intelgraph_metric_that_does_not_exist", "threshold": 1}
                ],
            },
        )

    # The runner's events show the play of every phase and their key tasks, and no failure.
    plays = {e["event_data"].get("play") for e in events if e["event"] == "playbook_on_play_start"}
    tasks = {e["event_data"].get("task") for e in events if e["event"] == "playbook_on_task_start"}
    for play in (
        "Pre-check | inputs and the run lock",
        "Pre-check | the fleet is ready",
        "Upgrade | open the maintenance window",
        "Upgrade | restore point",
        "Upgrade | config",
        "Upgrade | migrate",
        "Upgrade | roll out the API",
        "Upgrade | roll out the ingest workers",
        "Upgrade | verify the subscription latency metric",
        "Backfill | idempotency state, verified against the source manifests",
        "Validate | SLO gates, operational checks, smoke and replay",
        "Upgrade | close the maintenance window",
    ):
        assert play in plays, sorted(p for p in plays if p)
    for task in (
        "Run the bootstrap and the migrations under the advisory lock",
        "Switch and restart the API",
        "Wait until the ingest queue has drained",
        "Write the release report",
        "Close the window as succeeded",
    ):
        assert any(t and t.startswith(task) for t in tasks), task
    failed = [
        e for e in events if e["event"] == "runner_on_failed" and not e["event_data"].get("ignore_errors")
    ]
    assert failed == []
    # The run held the run lock on the fleet from its first play and released it at its end.
    assert "This run holds the run lock /var/lib/intelgraph-ops/run.lock on tools1 as run" in said(run)
    assert "The run lock on tools1 is released: the fleet is free for the next run." in said(run)
    assert fleet.run_lock() is None

    # Every host moved; no request failed; HAProxy has every API host back.
    assert fleet.versions() == dict.fromkeys(hosts, TARGET)
    # Each host's release was unpacked and checked once, before it was drained or quiesced; its
    # switch did not install it again.
    checked = run.task_hosts("intelgraph_release : Read the version the release carries")
    assert {host: checked.count(host) for host in hosts} == dict.fromkeys(hosts, 1)
    # Each host's settings were written once, in the config phase; its rollout did not write
    # them again.
    for task in (
        "intelgraph_service : Write the service settings",
        "intelgraph_service : Write the connection secrets",
    ):
        assert sorted(run.task_hosts(task)) == sorted(hosts), task
    assert stats["requests_sent"] > 100
    assert stats["requests_failed"] == 0, stats["failures"]
    assert set(fleet.haproxy_states().values()) == {"UP"}
    assert served_by(fleet) == set(api)

    # Each API host was taken out of the load balancer in its turn, never two at once.
    seen = lb_states(samples)
    assert len(seen) > 20
    assert min(len(in_service(states)) for states in seen) >= 2
    assert {host for states in seen for host in api if not states[host].startswith("UP")} == set(api)

    # Every ingest event produced during the run was applied exactly once or dead-lettered.
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, poison)

    # The run checked the metric in Prometheus, and it is there for every API host.
    assert "verify_metrics : Check that every host of the group exports the metric" in run.output
    assert run.recap()["obs1"]["failed"] == 0
    present = fleet.module(
        "obs1",
        "intelgraph.ops.prometheus_series",
        {"metric": "subscription_latency_seconds", "expected": api, "max_age": 60},
    )
    assert present.ok, present.output

    # 24.1 behaviour: a request without a tenant region claim is refused.
    status, _ = fleet.http("api1", 8080, "/api/v1/entities/e2e", {"X-Tenant-Id": "t1"})
    assert status == 403

    check_validation(fleet, report, strict, blind)

    # Retention: the run kept its own restore point and the newest earlier one, and deleted the
    # two older ones with their snapshots on cache1.
    points = fleet.restore_points()
    captured = [p for p in points if p not in earlier]
    assert sorted(points) == sorted([*captured, earlier[2]]) and len(captured) == 1, points
    snapshots = fleet.inspect("cache1", tuple(f"/var/backups/intelgraph/redis/{p}.rdb" for p in earlier))
    assert [
        p for p in earlier if snapshots.data(f"/var/backups/intelgraph/redis/{p}.rdb") is None
    ] == earlier[:2]
    assert (
        f"Restore points kept in {STATE_STORE}/restore-points on tools1: {captured[0]}, {earlier[2]} (the newest 2, "
        f"restore_point_keep); deleted, with their Redis snapshots: {earlier[1]}, {earlier[0]}." in said(run)
    )

    # 4. plan.yml after it: nothing to do, and the batch cost now measured by the run's ledger.
    ledgers = [p for p in fleet.store_files() if p.startswith(f"ledger/{TARGET}.") and p.endswith(".json")]
    assert len(ledgers) == 1 and ".completed-" in ledgers[0], ledgers
    done = fleet.store_json(ledgers[0])
    assert {h: done["hosts"][h]["rollout"]["status"] for h in hosts} == dict.fromkeys(hosts, "done")
    again = fleet.playbook("playbooks/plan.yml")
    assert again.ok, f"plan.yml failed, see {again.log}"
    for host in hosts:
        assert f"{host} ({'api' if host in fleet.groups['api'] else 'ingest'}): {TARGET}, stays" in said(
            again
        )
    assert "nothing to do; no window is opened" in said(again)


def read_report(report_dir: Path) -> tuple[dict, str]:
    """The release report in report_dir: its JSON and its Markdown."""
    return (
        json.loads((report_dir / "release-report.json").read_text()),
        (report_dir / "release-report.md").read_text(),
    )


def check_validation(fleet: Fleet, report: tuple[dict, str], strict: PlaybookRun, blind: PlaybookRun) -> None:
    """Post-upgrade validation and the release report (`read_report`) of a successful upgrade
    under traffic; `strict` and `blind` are validate.yml runs after it with an impossible read
    p95 target and with a gate on a metric that does not exist."""
    # The report: no placeholder left, and its figures are the JSON's.
    data, markdown = report
    assert "[Awaiting Input" not in markdown
    for label, line in [
        ("p95 read latency", "Read p95"),
        ("p95 write latency", "Write p95"),
        ("Error rate", "Error\u2011rate"),  # the note spells it with a non-breaking hyphen
        ("p95 subscription latency", "Sub p95"),
        ("p95 ingest latency", "Ingest p95"),
    ]:
        assert f"- {line}: {data['values'][label]}\n" in markdown
    assert f"**Date:** {data['values']['Date of release']}" in markdown
    gates = {g["name"]: g for g in data["validation"]["gates"]}
    assert set(gates) == {"read_p95", "write_p95", "subscription_p95", "ingest_p95", "error_rate"}
    assert all(g["status"] == "pass" and g["samples"] > 0 for g in gates.values())
    assert data["values"]["p95 read latency"] == f"{gates['read_p95']['worst'] * 1000:.1f} ms"
    assert data["versions"] == dict.fromkeys(fleet.groups["api"] + fleet.groups["ingest"], TARGET)
    assert {s["role"] for s in data["signoffs"]} == {"Release Captain", "On-call SRE"}

    # The hit ratio is the window's: hits and misses measured by the report match a
    # ratio within [0, 1] and at least the 75% floor on the sandbox's traffic.
    cache = data["validation"]["cache"]
    assert cache["hits"] + cache["misses"] > 0
    assert cache["ratio"] == cache["hits"] / (cache["hits"] + cache["misses"])
    assert cache["ratio"] >= 0.75

    # A replayed batch changed no row: counted again here in PostgreSQL.
    with fleet.pg() as db:
        for replay in data["validation"]["replay"]:
            rows = db.execute("SELECT count(*) FROM ingest_events WHERE batch_id = %s", (replay["batch_id"],))
            assert rows.fetchone()[0] == replay["rows_before"] == replay["rows_after"]
            keys = db.execute(
                "SELECT count(*) FROM ingest_idempotency_keys WHERE batch_id = %s", (replay["batch_id"],)
            ).fetchone()[0]
            assert keys == replay["events"]

    # An impossible target fails the run, naming the query and the value measured.
    assert not strict.ok
    assert re.search(
        r"gate read_p95 failed: worst [0-9.e-]+ .*intelgraph_http_request_duration_seconds_bucket",
        strict.output,
    )

    # A gate with no data is inconclusive and stops the run.
    assert not blind.ok
    assert "gate absent is inconclusive" in blind.output


def kill_controller(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the ansible-playbook process group and the groups of its workers, as a lost
    controller: nothing of the run gets to clean up."""
    groups = {os.getpgid(proc.pid)}
    listing = subprocess.run(
        ["ps", "-eo", "pid=,ppid=,pgid="], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        _pid, ppid, pgid = (int(f) for f in line.split())
        if ppid == proc.pid:
            groups.add(pgid)
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
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
            try:
                ledger = fleet.store_json(ledger_path) or {}
            except ValueError:  # being written
                ledger = {}
            api1_done = ledger.get("hosts", {}).get("api1", {}).get("rollout", {}).get("status") == "done"
            if api1_done and not fleet.haproxy_states()["api2"].startswith("UP"):
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

    # Every host restarted once (api2 twice if the killed run had restarted it before it died).
    starts = upgraded["starts"]
    assert starts == {h: 2 if h == "api2" and moved_again else 1 for h in hosts}, starts

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
    assert stats["requests_sent"] > 100
    assert stats["requests_failed"] == 0, stats["failures"]
    seen = lb_states(samples)
    assert len(seen) > 20
    assert min(len(in_service(states)) for states in seen) >= 2
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, [])

    # One window at a time, from either controller, in the one record on the fleet: the killed
    # run's, left open, was closed as failed and that announced by the second run before it
    # opened its own; the second run's window closed as succeeded; then the other controller's
    # rollback opened and closed its own.
    messages = store_announcements(fleet)[announced_before:]
    events = [(m["window_id"], m["event"], m.get("outcome")) for m in messages]
    killed_window, resumed_window, rollback_window = events[0][0], events[2][0], events[4][0]
    assert events == [
        (killed_window, "window_opened", None),
        (killed_window, "window_closed", "failed"),
        (resumed_window, "window_opened", None),
        (resumed_window, "window_closed", "succeeded"),
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
