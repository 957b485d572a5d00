"""The release workflow of awx/ as AWX runs it (tests/e2e/awx.py), lost and relaunched, on the
sandbox fleet under steady traffic: lost with its upgrade job once the canary is moved, it leaves
the run lock and the run ledger on the fleet; relaunched with the lost workflow job's id as the
lock to break, it resumes from the ledger; a gate that fails in its validate job sends it to the
rollback job, which restores env files, toggles and cache from the lost job's restore point. No
failed request, every ingest event applied once."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from checks import (
    SERVICES,
    assert_served_throughout,
    canary_moved_and_next_drained,
    env_files,
    said,
    toggles,
)
from test_rollout import PREVIOUS, TARGET

from awx import AWX, Job
from sandbox import Fleet


def test_a_lost_workflow_relaunched_resumes_and_a_failed_gate_sends_it_to_the_rollback_job(
    deployed: Fleet, tmp_path: Path
) -> None:
    """The workflow is lost with its upgrade job once the canary is moved (every process of the
    job killed, no later node run, as when AWX's node goes down): the run lock and the run ledger
    stay on the fleet. Relaunched with the lost workflow job's id as the lock to break, the new
    workflow's upgrade job takes the lock over and resumes from the ledger (the canary is not moved
    again); a gate made to fail in its validate job (a read p95 target no fleet meets) sends it to
    the rollback job, which, in a fresh container of its own, restores the env files, the feature
    toggles and the Redis cache (the survey said so) from the restore point the lost job captured,
    and releases the lock."""
    fleet = deployed
    api = fleet.groups["api"]
    hosts = api + fleet.groups["ingest"]
    awx = AWX(fleet, tmp_path / "awx")
    env_before, toggles_before = env_files(fleet), toggles(fleet)
    cache = fleet.redis()
    cache.set("intelgraph:entity:e2e-awx", "before")  # in the snapshot the restore point takes
    ledger_path = f"ledger/{TARGET}.json"
    seen: dict[str, Any] = {}

    def lose_after_the_canary(node: str, job: Job) -> None:
        """Kill the upgrade job once api1 is moved (the ledger says so) and api2 is out of HAProxy."""
        if node != "upgrade":
            return
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if canary_moved_and_next_drained(fleet, TARGET):
                awx.kill()
                return
            time.sleep(0.2)

    def before_validation(node: str, job: Job) -> None:
        """What the resumed upgrade left, read as the validate job starts."""
        if node == "validate":
            seen["versions"] = fleet.versions()
            seen["api1_started"] = fleet.unit_started("api1", SERVICES["api"])
            seen["lock"] = fleet.run_lock()

    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        lost = awx.launch(watch=lose_after_the_canary)
        killed = {
            "ledger": fleet.store_json(ledger_path),
            "lock": fleet.run_lock(),
            "versions": fleet.versions(),
            "api1_started": fleet.unit_started("api1", SERVICES["api"]),
        }
        # What the new release left in the cache: the rollback puts back the snapshot's.
        cache.set("intelgraph:entity:e2e-awx", "after")
        cache.set("intelgraph:entity:e2e-awx-new", "new")
        relaunched = awx.launch(
            answers={"intelgraph_run_lock_break": str(lost.id), "rollback_restore_cache": "yes"},
            template_vars={"IntelGraph validate": {"validate_read_p95_target": 0.000001}},
            watch=before_validation,
        )

    # The lost workflow: killed in its upgrade job, after the canary; no rollback ran. Its lock and
    # its ledger were left on the fleet.
    assert lost.status == "canceled"
    assert lost.nodes == [("precheck", "successful"), ("upgrade", "canceled")]
    assert "PLAY RECAP" not in lost.job("upgrade").run.output
    assert killed["lock"]["id"] == str(lost.id)
    assert killed["lock"]["controller"] == lost.job("upgrade").controller.name
    assert killed["versions"]["api1"] == TARGET
    assert killed["ledger"]["hosts"]["api1"]["rollout"]["status"] == "done"
    assert killed["ledger"]["completed"] is None
    point = killed["ledger"]["fleet"]["restore_point"]["data"]["id"]

    # The relaunched workflow: its upgrade took the lost one's lock over and resumed; its
    # validation failed on the gate; the failure edge ran the rollback job, so the workflow
    # handled it.
    assert relaunched.nodes == [
        ("precheck", "successful"),
        ("upgrade", "successful"),
        ("validate", "failed"),
        ("rollback", "successful"),
    ], [(j.node, j.status, str(j.run.log)) for j in relaunched.jobs.values()]
    assert relaunched.status == "successful"
    assert relaunched.approvals == []  # never asked: the validation failed first
    upgrade = said(relaunched.job("upgrade").run)
    assert f"of run {lost.id}" in upgrade and "intelgraph_run_lock_break" in upgrade
    assert f"Resuming the interrupted upgrade to {TARGET}" in upgrade
    assert f"Skipped (run ledger): restore point {point} was captured by the interrupted run" in upgrade
    assert f"Skipped (run ledger): api1 finished its rollout to {TARGET}" in upgrade
    assert seen["versions"] == dict.fromkeys(hosts, TARGET)
    assert seen["api1_started"] == killed["api1_started"]  # the canary was not restarted again
    assert seen["lock"]["id"] == str(relaunched.id)
    validate = relaunched.job("validate")
    assert re.search(r"gate read_p95 failed: worst [0-9.e-]+ ", validate.run.output)

    # The rollback job, in a container of its own, found the lost job's restore point in the state
    # store and put back every host, env file, toggle and the cache it held; it ended the run.
    rollback = said(relaunched.job("rollback").run)
    assert f"Rolling back to {PREVIOUS} from restore point {point}" in rollback
    assert fleet.versions() == dict.fromkeys(hosts, PREVIOUS)
    assert fleet.haproxy_states() == dict.fromkeys(api, "UP")
    assert env_files(fleet) == env_before
    assert toggles(fleet) == toggles_before
    assert cache.get("intelgraph:entity:e2e-awx") == "before"
    assert cache.get("intelgraph:entity:e2e-awx-new") is None
    assert "The run lock on tools1 is released: the fleet is free for the next run." in rollback
    assert fleet.run_lock() is None

    # Throughout both workflows: no failed request, never fewer than two API hosts in service,
    # every ingest event applied once or dead-lettered.
    assert_served_throughout(fleet, stats, samples, [])
