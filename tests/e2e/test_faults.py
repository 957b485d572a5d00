"""Faults met half way through an upgrade, under steady traffic, on one fleet: the window runs
out before the rollout (config and migrate done, no service restarted), then PostgreSQL is down
when the migrate phase runs; each stops the run naming the cause, and a run after the fix
brings every host to 24.1.0 with every ingest event applied once (or dead-lettered).

That run, and a rollback after it, are run as a user of the installed collection runs them: the
collection built from this checkout and installed in an empty collections path
(`ansible-playbook intelgraph.ops.upgrade`), from a directory that holds only a copy of the
sandbox inventory, without the project's ansible.cfg (Controller.installed). Nothing is written
in the installed collection, the directory gets only the run's reports, and the release report
has a timing for every phase the run went through and for the observation after the window (from
the window's record: without the project's ansible.cfg, its phase_timer callback records nothing).

PostgreSQL is stopped while the ingest workers are paused (quiesced, no transaction open) and
they resume at once, so they meet the outage: a 24.0.0 worker whose COMMIT a stop cuts cannot
tell whether it was applied and applies the event again on its retry (the defect 24.1's
idempotency keys fix), which no run of this project can prevent or undo.

Faults covered elsewhere: a stopped Redis replica, bad inputs and a window too short for the
config phase (test_precheck.py); a broken migration and a held migration lock
(test_migrate.py); an API host that never becomes ready and an ingest queue that cannot drain
(test_rollout.py)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from checks import (
    assert_every_event_applied_once_or_dead_lettered,
    in_service,
    lb_states,
    ledger,
    produce_poison,
    said,
    served_by,
    services,
    slo_gates_missed,
    wait_until,
)

from sandbox import Controller, Fleet, tree

TARGET = "24.1.0"
PREVIOUS = "24.0.0"
SETTINGS_24_1 = ("RPS_LIMIT=", "RPS_BURST=", "TENANT_RESIDENCY_MODE=strict", "TRACE_SAMPLING_RATIO=")


def env_files(fleet: Fleet) -> dict[str, str]:
    return {
        host: fleet.host(host)
        .file(f"/etc/intelgraph/{'api' if host in fleet.groups['api'] else 'ingest'}.env")
        .content_string.strip()
        for host in fleet.groups["api"] + fleet.groups["ingest"]
    }


def window_record(fleet: Fleet) -> dict[str, Any]:
    """The window's record in the state store on the fleet ({} when there is none yet)."""
    try:
        return fleet.store_json("window/window.json") or {}
    except ValueError:  # being written
        return {}


@contextlib.contextmanager
def workers_paused(fleet: Fleet) -> Iterator[None]:
    """Every ingest worker quiesced (SIGUSR1: its batch finished and acknowledged, no transaction
    open) for the block, then resumed (SIGUSR2)."""
    ingest = fleet.groups["ingest"]
    for host in ingest:
        fleet.signal_worker(host, "SIGUSR1")
    wait_until(
        lambda: all(fleet.http(host, 9101, "/status")[1]["quiesced"] is True for host in ingest),
        30,
        "every ingest worker to be quiesced",
    )
    try:
        yield
    finally:
        for host in ingest:
            fleet.signal_worker(host, "SIGUSR2")


def only_reports_beside(inventory: dict[str, str], written: dict[str, str]) -> list[str]:
    """Check that an installed-collection run's directory (`written`, sandbox.tree) holds its
    inventory as it was (`inventory`) and, besides it, only the run's reports; return those."""
    assert {path: digest for path, digest in written.items() if path in inventory} == inventory
    reports = sorted(path for path in written if path not in inventory)
    assert all(path == "reports" or path.startswith(f"reports/{TARGET}") for path in reports), reports
    return reports


def test_window_out_before_rollout_and_postgresql_down_at_migrate_then_a_rerun_completes(
    deployed: Fleet, installed_collection: Path, tmp_path: Path
) -> None:
    fleet = deployed
    operator = Controller.installed(installed_collection, tmp_path / "operator", fleet)
    collection = tree(installed_collection)
    inventory = tree(operator.root)
    api, ingest = fleet.groups["api"], fleet.groups["ingest"]
    db = fleet.groups["db"][0]
    before = services(fleet)
    assert {version for version, _, _ in before.values()} == {PREVIOUS}
    ledger_before = ledger(fleet)
    envs_before = env_files(fleet)

    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        poison = produce_poison(fleet)

        # 1. The rollout is expected to take longer than the window has left: it is not started.
        late = fleet.playbook(
            "playbooks/upgrade.yml", extra_vars={"intelgraph_phase_seconds": {"rollout": 86400}}
        )
        after_late = services(fleet)
        envs_late = env_files(fleet)
        ledger_late = ledger(fleet)
        window_late = window_record(fleet)

        # 2. PostgreSQL stops once the config phase has started, so it is down when the migrate
        #    phase connects; it is started again when the run has ended.
        window_id = window_late.get("id")
        running = fleet.start_playbook("playbooks/upgrade.yml")
        wait_until(
            lambda: (
                (w := window_record(fleet)).get("id") != window_id
                and any(p["phase"] == "config" for p in w.get("phases", []))
            ),
            300,
            "the second run to start its config phase",
        )
        with workers_paused(fleet):
            pg_stopped_at = time.time()
            fleet.host(db).check_output("systemctl stop postgresql")
        down = running.wait()
        after_down = services(fleet)
        window_down = window_record(fleet)
        fleet.host(db).check_output("systemctl start postgresql")
        wait_until(
            lambda: set(fleet.haproxy_states().values()) == {"UP"},
            120,
            "HAProxy to have every API host UP again",
        )
        recovered_at = time.time()
        # The events held back by the outage are consumed first (late, so slow end to end); then
        # they and the outage's requests leave Prometheus's rates, a minute after them (asked every
        # 5 s). Gates met before the backlog was consumed failed the rerun's validation on ingest_p95.
        fleet.wait_ingest_settled()
        wait_until(lambda: not slo_gates_missed(fleet), 300, "the SLO gates to be met again", every=5)

        # 3. Fixed: the upgrade runs again, to the end, from the installed collection.
        rerun_started = time.time()
        rerun = fleet.playbook("playbooks/upgrade.yml", controller=operator)
        rerun_seconds = time.time() - rerun_started
        collection_after_rerun = tree(installed_collection)
        written_by_rerun = tree(operator.root)

    # 1. The first run stopped before the rollout, saying why; config and migrations are in
    #    place, every service still runs 24.0.0 and none was restarted.
    assert not late.ok, f"the rollout started past the window, see {late.log}"
    assert "Phase rollout is not started: it is expected to take 86400 s, but" in said(late)
    assert "everything done so far is in place" in said(late)
    assert after_late == before
    for host, env in envs_late.items():
        assert env != envs_before[host]
        assert all(any(line.startswith(s) for line in env.splitlines()) for s in SETTINGS_24_1), (host, env)
    assert len(ledger_late) > len(ledger_before)
    assert window_late["outcome"] == "failed" and "Phase rollout is not started" in window_late["reason"]
    assert [p["phase"] for p in window_late["phases"] if p["started"]] == ["precheck", "config", "migrate"]

    # 2. The second run stopped at the migrate phase, naming PostgreSQL; no service restarted.
    assert not down.ok, f"the run went on with PostgreSQL down, see {down.log}"
    assert "Cannot connect to PostgreSQL database intelgraph" in said(down)
    assert "Check that the server runs" in said(down)
    assert after_down == before
    assert window_down["id"] != window_id and window_down["outcome"] == "failed"
    assert "Cannot connect to PostgreSQL" in window_down["reason"]
    assert [p["phase"] for p in window_down["phases"]] == ["precheck", "config", "migrate"]

    # 3. The rerun moved every host; each migration is recorded once; HAProxy serves from all.
    assert rerun.ok, f"the rerun failed, see {rerun.log}"
    assert fleet.versions() == dict.fromkeys(api + ingest, TARGET)
    assert all(started != before[host][2] for host, (_, _, started) in services(fleet).items())
    assert ledger(fleet) == ledger_late
    window_rerun = window_record(fleet)
    assert window_rerun["outcome"] == "succeeded"
    assert served_by(fleet) == set(api)

    # Traffic: every failed request ended while PostgreSQL was down or the API hosts were
    # getting ready again after it (a request may take up to the generator's 5 s timeout); none
    # before the outage, none after it, none in the first and last runs.
    assert stats["requests_sent"] > 100
    if stats["requests_failed"]:
        assert stats["first_failure_at"] >= pg_stopped_at, stats["failures"]
        assert stats["last_failure_at"] <= recovered_at + 5, stats["failures"]
    # HAProxy kept at least two API hosts in service outside the outage; during it, the hosts
    # were DOWN for PostgreSQL, but none was put in maintenance by the upgrade.
    seen = lb_states([(t, s) for t, s in samples if not pg_stopped_at <= t <= recovered_at])
    assert len(seen) > 20
    assert min(len(in_service(states)) for states in seen) >= 2
    during = lb_states([(t, s) for t, s in samples if pg_stopped_at <= t <= recovered_at])
    assert all(not status.startswith("MAINT") for states in during for status in states.values())

    # Ingest: every event produced over the three runs and the outage was applied once or
    # dead-lettered (the poison ones), none lost.
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, poison)

    # The rerun came from the installed collection: not a file of it changed, none came or went;
    # its directory holds the inventory, as it was, and the run's reports.
    assert collection_after_rerun == collection
    reports = only_reports_beside(inventory, written_by_rerun)
    assert "reports/24.1.0/release-report.json" in reports, reports
    # Its release report: every host on 24.1.0, and a timing for each phase the window recorded
    # the run going through and for the post-upgrade observation after it, each within the run's
    # own time.
    report = json.loads((operator.root / f"reports/{TARGET}/release-report.json").read_text())
    assert report["versions"] == dict.fromkeys(api + ingest, TARGET)
    phases = [p["phase"] for p in window_rerun["phases"] if p["started"]]
    assert {"precheck", "config", "migrate", "rollout", "backfill", "verify"} <= set(phases), phases
    timings = report["timings"]
    assert [row["phase"] for row in timings] == [*phases, "observation"], timings
    assert all(row["host"] is None and 0 < row["seconds"] < rerun_seconds for row in timings), timings
    assert sum(row["seconds"] for row in timings) < rerun_seconds, (timings, rerun_seconds)

    # The rollback, from the installed collection too, finds the restore point in the state store
    # on the fleet and puts every API and ingest host back on 24.0.0 with the env files it had
    # before the upgrade, consuming and in service; it releases the run lock and closes its
    # window. Still nothing is written in the collection, nor anywhere in the directory but its
    # reports.
    back = fleet.playbook("playbooks/rollback.yml", controller=operator)
    assert back.ok, f"the rollback failed, see {back.log}"
    assert fleet.versions() == dict.fromkeys(api + ingest, PREVIOUS)
    assert {host: link for host, (_, link, _) in services(fleet).items()} == {
        host: link for host, (_, link, _) in before.items()
    }
    assert env_files(fleet) == envs_before
    assert all(fleet.http(host, 9101, "/status")[1]["quiesced"] is False for host in ingest)
    assert set(fleet.haproxy_states().values()) == {"UP"}
    assert served_by(fleet) == set(api)
    assert fleet.run_lock() is None
    window_back = window_record(fleet)
    assert window_back["id"] != window_rerun["id"] and window_back["outcome"] == "succeeded"
    assert tree(installed_collection) == collection
    only_reports_beside(inventory, tree(operator.root))
