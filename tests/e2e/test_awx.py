"""The release as AWX runs it: the workflow of awx/ (tests/e2e/awx.py: its nodes, edges and
approval nodes from awx/settings.yml; each job through ansible-runner in a fresh copy of the
checkout under a host name of its own; between jobs only what AWX passes) on the sandbox fleet
under steady traffic, approved, after plan.yml and --check --diff changed nothing: every host on
24.1.0 (API hosts drained from HAProxy in serial batches, ingest workers quiesced with their
queue drained, the subscription latency metric checked in Prometheus), no failed request, every
ingest event applied once, the report signed with the approvals, the window closed. Lost and
relaunched: test_awx_lost.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checks import (
    assert_served_throughout,
    fleet_digest,
    lb_states,
    produce_poison,
    said,
    served_by,
    state_dir,
)
from test_rollout import PREVIOUS, TARGET

from awx import AWX, Job
from sandbox import ROOT, STATE_STORE, Fleet, PlaybookRun


def read_report(report_dir: Path) -> tuple[dict, str]:
    """The release report in report_dir: its JSON and its Markdown."""
    return (
        json.loads((report_dir / "release-report.json").read_text()),
        (report_dir / "release-report.md").read_text(),
    )


def controller_files(fleet: Fleet) -> list[str]:
    base = state_dir(fleet)
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")) if base.exists() else []


def test_plan_check_mode_and_the_approved_awx_workflow_rolled_out_under_traffic(
    deployed: Fleet, tmp_path: Path
) -> None:
    """One fleet, as operators run the upgrade: planned, run in check mode, then the release
    workflow of awx/ as AWX runs it, its sign-offs approved, under steady traffic. That upgrade is
    also the one whose rollout (HAProxy, versions, ingest events, the metric), validation and
    signed release report are checked, and after which the gates run again (validate.yml) with an
    impossible target and with no data; plan.yml then has nothing to do."""
    fleet = deployed
    api = fleet.groups["api"]
    hosts = api + fleet.groups["ingest"]

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
    assert "inside the maintenance window: the change fits in the 15-minute window" in said(plan)
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

    # 3. The release workflow of awx/ as AWX runs it (tests/e2e/awx.py): precheck, upgrade,
    #    validate, the two sign-offs approved, close; each job in a fresh copy of the checkout under
    #    a host name of its own, passing on only what AWX passes. Under steady traffic, with poison
    #    events in the ingest stream and HAProxy sampled throughout. Then, under the same traffic,
    #    the gates once more on the upgraded fleet (see check_validation).
    awx = AWX(fleet, tmp_path / "awx")
    locks: dict[str, Any] = {}

    def lock_at_start(node: str, job: Job) -> None:
        locks[node] = fleet.run_lock()

    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        poison = produce_poison(fleet)
        # The sandbox's inventory signs its own runs (report_signoffs); in the workflow, as in
        # production, only the approvals sign, read by the close job.
        workflow = awx.launch(
            template_vars={
                "IntelGraph upgrade": {"intelgraph_restore_point_keep": 2},
                "IntelGraph validate": {"report_signoffs": []},
                "IntelGraph close": {"report_signoffs": []},
            },
            watch=lock_at_start,
        )
        assert workflow.status == "successful", [
            (j.node, j.status, str(j.run.log)) for j in workflow.jobs.values()
        ]
        # The reports and the window's record, read before validate.yml below writes its own in
        # their place.
        window = fleet.store_json("window/window.json")
        stored = fleet.store_read(
            "reports",
            f"reports/{TARGET}",
            f"reports/{TARGET}/release-report.json",
            f"reports/{TARGET}/release-report.md",
        )
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

    # The workflow's nodes ran in their order, each job once, on a controller of its own; the
    # approvals were asked for after the validation.
    assert workflow.nodes == [
        ("precheck", "successful"),
        ("upgrade", "successful"),
        ("validate", "successful"),
        ("approve-release-captain", "successful"),
        ("approve-oncall-sre", "successful"),
        ("close", "successful"),
    ]
    jobs = workflow.jobs
    assert len({job.controller.name for job in jobs.values()}) == len(jobs) == 4
    upgrade, validate, close = jobs["upgrade"], jobs["validate"], jobs["close"]
    run = upgrade.run
    assert run is not None and validate.run is not None and close.run is not None
    # Only what AWX passes went from one job to the next: the survey's answers, the job's awx_*
    # variables, and the set_stats artifacts of the jobs before it (backfill's, validation's).
    assert "backfill_results" in upgrade.artifacts and "validate_results" in validate.artifacts
    assert close.extra_vars["validate_results"] == validate.artifacts["validate_results"]
    assert close.extra_vars["backfill_results"] == upgrade.artifacts["backfill_results"]
    assert {close.extra_vars["awx_workflow_job_id"], upgrade.extra_vars["awx_workflow_job_id"]} == {
        workflow.id
    }

    # The report, signed with the approvals of the workflow (read from the controller's API by the
    # close job), is in the state store, readable by root only; the close job's container had the
    # same. The validation job's report had no sign-off yet.
    report = read_report(close.controller.root / fleet.reports.relative_to(ROOT) / TARGET)
    assert {path: (seen or {}).get("mode") for path, seen in stored.items()} == {
        "reports": 0o700,
        f"reports/{TARGET}": 0o700,
        f"reports/{TARGET}/release-report.json": 0o600,
        f"reports/{TARGET}/release-report.md": 0o600,
    }
    assert json.loads(stored[f"reports/{TARGET}/release-report.json"]["data"]) == report[0]
    assert stored[f"reports/{TARGET}/release-report.md"]["data"].decode() == report[1]
    assert sorted((s["role"], s["name"], s["ticket"]) for s in report[0]["signoffs"]) == [
        ("On-call SRE", "oncall-sre", f"AWX workflow job {workflow.id}"),
        ("Release Captain", "release-captain", f"AWX workflow job {workflow.id}"),
    ]
    unsigned = read_report(validate.controller.root / fleet.reports.relative_to(ROOT) / TARGET)[0]
    assert unsigned["signoffs"] == [] and unsigned["validation"] == report[0]["validation"]
    # The upgrade job closed the window once the change was done and checked (the smoke test and
    # the replay inside it), as succeeded, and handed the checks to the validate job, whose
    # observation followed the window, kept with the window's record.
    assert (window["state"], window["outcome"]) == ("closed", "succeeded")
    assert validate.extra_vars["validate_checks"] == upgrade.artifacts["validate_checks"]
    assert upgrade.artifacts["validate_checks"]["smoke"]["rc"] == 0
    assert (window["observation"]["state"], window["observation"]["outcome"]) == ("ended", "succeeded")
    assert window["closed_at"] <= window["observation"]["started_at"] < window["observation"]["ended_at"]

    # The jobs' events show the play of every phase and their key tasks, and no failure.
    for job, plays in (
        (jobs["precheck"], ["Pre-check | the fleet is ready"]),
        (
            upgrade,
            [
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
                "Upgrade | verify",
                "Upgrade | close the maintenance window",
            ],
        ),
        (validate, ["Validate | the post-upgrade observation"]),
        (close, ["Close | the signed release report"]),
    ):
        assert set(plays) <= job.plays(), (job.node, sorted(p for p in job.plays() if p))
        assert job.failures() == [], job.node
    # The upgrade job left the validation and the report to the validate job (upgrade_validate: false).
    assert (
        upgrade.ran("Start holding the SLO gates") == upgrade.ran("Write the JSON and Markdown reports") == []
    )
    assert (
        validate.ran("Start holding the SLO gates")
        == validate.ran("Write the JSON and Markdown reports")
        == ["localhost"]
    )
    for job, task in (
        (upgrade, "Run the bootstrap and the migrations under the advisory lock"),
        (upgrade, "Switch and restart the API"),
        (upgrade, "Wait until the ingest queue has drained"),
        (upgrade, "Run make smoke"),
        (upgrade, "Close the window as succeeded"),
        (validate, "Write the release report"),
        (close, "Write the report with its sign-offs"),
    ):
        assert any(t and t.startswith(task) for t in job.tasks()), (job.node, task)
    # The workflow is one run: its upgrade job took the run lock as the workflow job, which held
    # it through the validation and the approvals; the close job released it.
    assert (
        f"This run holds the run lock /var/lib/intelgraph-ops/run.lock on tools1 as run {workflow.id}"
        in said(run)
    )
    assert [(locks[n] or {}).get("id") for n in ("validate", "close")] == [str(workflow.id)] * 2
    assert (locks["close"]["operation"], locks["close"]["controller"]) == ("upgrade", upgrade.controller.name)
    assert "The run lock on tools1 is released" not in said(validate.run)
    assert "The run lock on tools1 is released: the fleet is free for the next run." in said(close.run)
    assert fleet.run_lock() is None

    # Every host moved; no request failed; HAProxy has every API host back.
    assert fleet.versions() == dict.fromkeys(hosts, TARGET)
    # Each host's release was unpacked and checked once, before it was drained or quiesced; its
    # switch did not install it again.
    checked = run.task_hosts(
        f"intelgraph_release : Install the release into its own directory, /opt/intelgraph/releases/{TARGET}"
    )
    assert {host: checked.count(host) for host in hosts} == dict.fromkeys(hosts, 1)
    # Each host's settings were written once, in the config phase; its rollout did not write
    # them again.
    written = run.task_hosts("intelgraph_service : Write the service settings and the connection secrets")
    assert sorted(written) == sorted(hosts)
    # The config of every host went into the run ledger in one write (checked in the ledger below).
    assert len(run.task_hosts("run_ledger : Record a phase in the run ledger, config done")) == 1
    # The job's pre-check found every API host on the previous release: none was asked again at
    # its turn which release it runs.
    assert run.task_hosts("rollout : Read the release the API runs and whether it is ready") == []
    assert set(fleet.haproxy_states().values()) == {"UP"}
    assert served_by(fleet) == set(api)

    # No request failed, at least two API hosts were in service at every sample, and every ingest
    # event produced during the run was applied exactly once or dead-lettered; each API host was
    # taken out of the load balancer in its turn.
    seen = assert_served_throughout(fleet, stats, samples, poison)
    assert {host for states in seen for host in api if not states[host].startswith("UP")} == set(api)

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
    # Each host's config, with its own restart_needed: every host got new settings.
    assert {
        h: (done["hosts"][h]["config"]["status"], done["hosts"][h]["config"]["data"]) for h in hosts
    } == dict.fromkeys(hosts, ("done", {"restart_needed": True}))
    again = fleet.playbook("playbooks/plan.yml")
    assert again.ok, f"plan.yml failed, see {again.log}"
    for host in hosts:
        assert f"{host} ({'api' if host in fleet.groups['api'] else 'ingest'}): {TARGET}, stays" in said(
            again
        )
    assert "Nothing to change: no window is opened and no observation follows." in said(again)


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
