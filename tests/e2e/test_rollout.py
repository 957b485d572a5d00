"""The rollout of upgrade.yml under steady traffic: API hosts drained from HAProxy in serial
batches, ingest workers quiesced with their queue drained, the subscription latency metric
checked in Prometheus; the post-upgrade validation and the release report of the same run; and
what the run does when a host's release fails its check, when a host does not come back, or
when a queue cannot drain."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from checks import (
    assert_every_event_applied_once_or_dead_lettered,
    in_service,
    lb_states,
    produce_poison,
    said,
    served_by,
)

from sandbox import Fleet, PlaybookRun

TARGET = "24.1.0"
PREVIOUS = "24.0.0"

# A 24.1.0 release whose API starts, answers /healthz and /version, and never becomes ready.
BROKEN_API = '''#!/usr/bin/python3
"""A broken release: the API listens but /readyz never answers 200."""
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        answers = {
            "/healthz": (200, {"status": "ok"}),
            "/version": (200, {"version": "24.1.0", "host": socket.gethostname()}),
        }
        status, body = answers.get(self.path, (503, {"ready": False, "reason": "broken release"}))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


host, port = os.environ.get("INTELGRAPH_LISTEN", "0.0.0.0:8080").rsplit(":", 1)
ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
'''


def test_upgrade_rolls_out_and_validates_with_no_failed_request_and_every_event_once(deployed: Fleet) -> None:
    """One upgrade under traffic, checked twice over: the rollout (HAProxy, versions, ingest
    events, the metric), then the validation and the release report of the same run, and the
    gates run again on the upgraded fleet (validate.yml) with an impossible target and with no
    data."""
    fleet = deployed
    api = fleet.groups["api"]
    assert set(fleet.versions().values()) == {PREVIOUS}
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

    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        poison = produce_poison(fleet)
        run = fleet.playbook("playbooks/upgrade.yml")
        assert run.ok, f"upgrade failed, see {run.log}"
        # The upgrade's report, read before validate.yml below writes its own in its place.
        report = read_report(report_dir)
        # The gates once more on the upgraded fleet, under the same traffic (see check_validation).
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

    # Every host moved; no request failed; HAProxy has every API host back.
    assert fleet.versions() == dict.fromkeys(api + fleet.groups["ingest"], TARGET)
    # Each host's release was unpacked and checked once, before it was drained or quiesced; its
    # switch did not install it again.
    checked = run.task_hosts("intelgraph_release : Read the version the release carries")
    assert {host: checked.count(host) for host in api + fleet.groups["ingest"]} == dict.fromkeys(
        api + fleet.groups["ingest"], 1
    )
    # Each host's settings were written once, in the config phase; its rollout did not write
    # them again.
    for task in (
        "intelgraph_service : Write the service settings",
        "intelgraph_service : Write the connection secrets",
    ):
        assert sorted(run.task_hosts(task)) == sorted(api + fleet.groups["ingest"]), task
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


def worker_process(fleet: Fleet) -> tuple[str, str]:
    """ingest1's worker: its main PID and when its unit last started (a restart changes both)."""
    unit = fleet.host("ingest1").service("intelgraph-ingest").systemd_properties
    return unit["MainPID"], unit["ActiveEnterTimestamp"]


def test_bad_release_host_that_does_not_come_back_and_queue_that_cannot_drain_stop_the_run(
    deployed: Fleet,
) -> None:
    fleet = deployed
    api = fleet.groups["api"]
    current = {host: fleet.host(host).file("/opt/intelgraph/current") for host in api}  # read anew each time
    # api2's 24.1.0 release is there already (never unpacked again) and says it is another one.
    fleet.write("api2", f"/opt/intelgraph/releases/{TARGET}/VERSION", "9.9.9\n")
    api2_started = fleet.unit_started("api2", "intelgraph-api")

    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        poison = produce_poison(fleet)
        bad = fleet.playbook("playbooks/upgrade.yml")
        samples_during_bad = lb_states(samples)
        states_after_bad = fleet.haproxy_states()
        versions_after_bad = fleet.versions()
        links_after_bad = {host: file.linked_to for host, file in current.items()}
        api2_started_after_bad = fleet.unit_started("api2", "intelgraph-api")

        # Now api2's 24.1.0 release carries the right VERSION and never becomes ready.
        fleet.write("api2", f"/opt/intelgraph/releases/{TARGET}/VERSION", f"{TARGET}\n")
        fleet.write("api2", f"/opt/intelgraph/releases/{TARGET}/bin/intelgraph-api", BROKEN_API, "0755")
        broken = fleet.playbook("playbooks/upgrade.yml", extra_vars={"rollout_ready_timeout": 20})
        states_after_broken = fleet.haproxy_states()
        versions_after_broken = fleet.versions()
        served_after_broken = served_by(fleet)

        # Fix api2 (remove the broken release); pause ingest2 (SIGUSR1: it answers, but takes no
        # new message) so that the queue cannot drain. A stopped worker would not do: pre-check
        # refuses a fleet with a service that does not answer.
        fleet.host("api2").check_output("rm -rf %s", f"/opt/intelgraph/releases/{TARGET}")
        fleet.host("ingest2").check_output("systemctl kill --kill-whom=main -s SIGUSR1 intelgraph-ingest")
        before = worker_process(fleet)
        stuck = fleet.playbook("playbooks/upgrade.yml", extra_vars={"rollout_ingest_drain_timeout": 20})
        after = worker_process(fleet)
        _, ingest1_status = fleet.http("ingest1", 9101, "/status")
        applied_then = ingest1_status["events"]["applied"]
        deadline = time.monotonic() + 120
        while fleet.http("ingest1", 9101, "/status")[1]["events"]["applied"] == applied_then:
            assert time.monotonic() < deadline, "ingest1 does not consume after the failed run"
            time.sleep(1)
        states_after_stuck = fleet.haproxy_states()
        versions_after_stuck = fleet.versions()
        fleet.host("ingest2").check_output("systemctl kill --kill-whom=main -s SIGUSR2 intelgraph-ingest")

    # 1. api2's release failed its check before api2 left the load balancer: the run stopped
    #    naming api2 and the check, said api2 was not switched; api2 stayed in service at every
    #    sample, on 24.0.0 (its `current` link and service as they were), while the canary api1
    #    moved (no request failed: checked below for the three runs).
    assert not bad.ok
    text = said(bad)
    assert "api2 did not move to 24.1.0" in text
    assert "Check the release is the one asked for' failed" in text
    assert f"/opt/intelgraph/releases/{TARGET} holds release 9.9.9, not {TARGET}" in text
    assert "It was not switched and still runs its previous release (be_api/api2: lb1 UP)" in text
    assert "It was switched to" not in text and "kept out of the load balancers" not in text
    assert len(samples_during_bad) > 20
    assert {states["api2"] for states in samples_during_bad} == {"UP"}
    assert states_after_bad == dict.fromkeys(api, "UP")
    assert versions_after_bad == {
        "api1": TARGET,
        "api2": PREVIOUS,
        "api3": PREVIOUS,
        **dict.fromkeys(fleet.groups["ingest"], PREVIOUS),
    }
    assert links_after_bad == {
        "api1": f"/opt/intelgraph/releases/{TARGET}",
        "api2": f"/opt/intelgraph/releases/{PREVIOUS}",
        "api3": f"/opt/intelgraph/releases/{PREVIOUS}",
    }
    assert api2_started_after_bad == api2_started

    # 2. api2 did not come back: the run stopped naming it and why, api2 is out of HAProxy,
    #    api1 (the canary) and api3 (never touched) serve, the ingest workers were not touched.
    assert not broken.ok
    assert "api2 did not move to 24.1.0" in said(broken)
    assert "Wait until the service answers ready on 24.1.0' failed: Status code was 503" in said(broken)
    assert "kept out of the load balancers (be_api/api2: lb1 MAINT)" in said(broken)
    assert states_after_broken == {"api1": "UP", "api2": "MAINT", "api3": "UP"}
    assert served_after_broken == {"api1", "api3"}
    assert versions_after_broken == {
        "api1": TARGET,
        "api2": TARGET,  # the broken release answers /version, not /readyz
        "api3": PREVIOUS,
        "ingest1": PREVIOUS,
        "ingest2": PREVIOUS,
    }

    # 3. The next run moved the fixed api2 and api3, then stopped at ingest1 with the queue's
    #    numbers; ingest1 was not restarted, runs 24.0.0 and was resumed.
    assert not stuck.ok
    assert "ingest1 did not move to 24.1.0" in said(stuck)
    numbers = re.search(
        r"did not drain within 20s \(max_pending=0 max_lag=0\): pending=(\d+) lag=(\d+)", said(stuck)
    )
    assert numbers, stuck.output[-3000:]
    assert int(numbers.group(1)) + int(numbers.group(2)) > 0
    assert "It was not switched and runs its previous release, resumed (SIGUSR2)" in said(stuck)
    assert after == before
    assert ingest1_status["version"] == PREVIOUS and ingest1_status["quiesced"] is False
    assert states_after_stuck == dict.fromkeys(api, "UP")
    assert versions_after_stuck == {**dict.fromkeys(api, TARGET), "ingest1": PREVIOUS, "ingest2": PREVIOUS}

    # Through the three runs: at least two API hosts in service, no failed request, every event
    # applied once or dead-lettered.
    seen = lb_states(samples)
    assert len(seen) > 20
    assert min(len(in_service(states)) for states in seen) >= 2
    assert stats["requests_failed"] == 0, stats["failures"]
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, poison)
