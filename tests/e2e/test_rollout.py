"""The rollout of upgrade.yml under steady traffic when it goes wrong: what the run does when a
host's release fails its check, when a host does not come back, or when a queue cannot drain.
A rollout that goes right (API hosts drained from HAProxy in serial batches, ingest workers
quiesced with their queue drained, the metric checked in Prometheus), with its validation and
release report, is checked on the upgrade of test_operate.py, run through ansible-runner."""

from __future__ import annotations

import json
import re
import time

from checks import (
    assert_every_event_applied_once_or_dead_lettered,
    in_service,
    lb_states,
    produce_poison,
    said,
    served_by,
)

from sandbox import Fleet

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
        fleet.signal_worker("ingest2", "SIGUSR1")
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
        fleet.signal_worker("ingest2", "SIGUSR2")

    # 1. api2's release failed its check before api2 left the load balancer: the run stopped
    #    naming api2 and the check, said api2 was not switched; api2 stayed in service at every
    #    sample, on 24.0.0 (its `current` link and service as they were), while the canary api1
    #    moved (no request failed: checked below for the three runs).
    assert not bad.ok
    text = said(bad)
    assert "api2 did not move to 24.1.0" in text
    assert f"Install the release into its own directory, /opt/intelgraph/releases/{TARGET}' failed" in text
    assert f"/opt/intelgraph/releases/{TARGET} holds release 9.9.9, not {TARGET}" in text
    assert "It was not switched and still runs its previous release (be_api/api2: lb1 UP)" in text
    assert "It was switched to" not in text and "kept out of the load balancers" not in text
    assert len(samples_during_bad) > 20
    # In service as HAProxy has it: UP, or "UP 1/2" after a health check a loaded host answered late.
    assert all("api2" in in_service(states) for states in samples_during_bad), samples_during_bad
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


def test_a_canary_slower_than_the_hosts_on_the_previous_release_stops_the_rollout(deployed: Fleet) -> None:
    fleet = deployed
    api = fleet.groups["api"]
    # The 24.1.0 build answers 1 s late on the host SANDBOX_SLOW_HOST names (a sandbox-only
    # setting), here the canary api1; the target's own settings are kept.
    slow = {
        "intelgraph_target_settings": {
            "RPS_LIMIT": "{{ intelgraph_rps_limit }}",
            "RPS_BURST": "{{ intelgraph_rps_burst }}",
            "TENANT_RESIDENCY_MODE": "{{ intelgraph_tenant_residency_mode }}",
            "TRACE_SAMPLING_RATIO": "{{ intelgraph_trace_sampling_ratio }}",
            "SANDBOX_SLOW_HOST": "api1",
        }
    }
    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        judged = fleet.playbook("playbooks/upgrade.yml", extra_vars=slow)
        states_after_judged = fleet.haproxy_states()
        versions_after_judged = fleet.versions()
        served_after_judged = served_by(fleet)
        ledger_after_judged = fleet.store_json(f"ledger/{TARGET}.json")
        window_after_judged = fleet.store_json("window/window.json")

        # The cause fixed (the setting gone): the next run restarts api1 with its new settings,
        # judges the canary again, and moves the rest.
        fixed = fleet.playbook("playbooks/upgrade.yml")
        versions_after_fixed = fleet.versions()
        states_after_fixed = fleet.haproxy_states()

    # 1. The canary api1 moved, was held and compared with api2 and api3, still on 24.0.0: its read
    #    and write p95 are above 1 s, theirs far under it. The run stopped there naming the metric
    #    and both values; api1 was taken out of the load balancer, the others were never touched.
    assert not judged.ok
    text = said(judged)
    stopped = re.search(
        r"The canary analysis stopped the rollout after the canary batch \(api1\): "
        r"read_p95 on the canary \(api1\) was ([0-9.]+) s, ([0-9.]+) times the ([0-9.]+) s "
        r"(?:\(counted as 0.5 s\) )?of the hosts on the previous release \(api2, api3\): "
        r"more than rollout_canary_max_ratio \(1.5\)",
        text,
    )
    assert stopped, judged.output[-4000:]
    assert float(stopped.group(1)) >= 1.0 and float(stopped.group(2)) > 1.5
    assert "write_p95 on the canary (api1) was" in text
    assert f"api1 runs {TARGET} out of every load balancer; api2, api3 stay on {PREVIOUS} and serve." in text
    assert versions_after_judged == {
        "api1": TARGET,
        "api2": PREVIOUS,
        "api3": PREVIOUS,
        **dict.fromkeys(fleet.groups["ingest"], PREVIOUS),
    }
    assert states_after_judged == {"api1": "MAINT", "api2": "UP", "api3": "UP"}
    assert served_after_judged == {"api2", "api3"}
    assert window_after_judged["state"] == "closed" and window_after_judged["outcome"] == "failed"
    # The comparison, as the run ledger keeps it for the report.
    canary = ledger_after_judged["fleet"]["canary"]["data"]
    assert (
        canary["passed"] is False and canary["canary"] == ["api1"] and canary["baseline"] == ["api2", "api3"]
    )
    measured = {m["name"]: m for m in canary["metrics"]}
    assert {m["status"] for m in measured.values()} >= {"fail"}
    for name in ("read_p95", "write_p95"):
        assert measured[name]["status"] == "fail", measured[name]
        assert measured[name]["canary"] >= 1.0 > measured[name]["baseline"], measured[name]
    assert measured["error_rate"]["status"] == "pass", measured["error_rate"]

    # 2. The rerun judged the canary again, now as good as the others, and moved every host.
    assert fixed.ok, fixed.failures()
    assert versions_after_fixed == dict.fromkeys(api + fleet.groups["ingest"], TARGET)
    assert states_after_fixed == dict.fromkeys(api, "UP")
    report = json.loads((fleet.reports / TARGET / "release-report.json").read_text())
    assert report["canary"]["passed"] is True and report["canary"]["canary"] == ["api1"]
    assert [m["status"] for m in report["canary"]["metrics"]] == ["pass", "pass", "pass"]
    assert all(m["canary"] < 1.0 for m in report["canary"]["metrics"] if m["name"].endswith("_p95"))
    markdown = (fleet.reports / TARGET / "release-report.md").read_text()
    assert "## Canary analysis" in markdown and "(api2, api3): **passed**." in markdown

    # Through both runs: at least two API hosts in service, no failed request.
    seen = lb_states(samples)
    assert len(seen) > 20
    assert min(len(in_service(states)) for states in seen) >= 2
    assert stats["requests_failed"] == 0, stats["failures"]
