"""The HTML release report as the Release Captain and the on-call SRE read it: a realistic upgrade's
report data, the release note filled by the collection's own filters, written by the real module
(intelgraph.ops.release_report_html, run as Ansible runs it), then opened in headless Chromium. What
is asserted is read from the DOM Chromium rendered; its screenshot is kept in the test's tmp dir."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.filter.fill_placeholders import fill_placeholders
from ansible_collections.intelgraph.ops.plugins.filter.report import format_gate_value
from browser import open_report
from module_run import ROOT, run_module

T0 = 1796512800.0  # 2026-12-05 23:20:00 UTC: the window opens
STEP = 30.0
OBSERVATION_START = T0 + 540
POINTS = 50
OBSERVATION_END = OBSERVATION_START + (POINTS - 1) * STEP

# Gate: (threshold, typical value, its swing), in seconds or as a share, as Prometheus measures them.
GATES = {
    "read_p95": (0.3, 0.118, 0.025),
    "write_p95": (0.5, 0.214, 0.04),
    "subscription_p95": (10.0, 2.4, 0.6),
    "ingest_p95": (2.0, 0.83, 0.15),
    "error_rate": (0.01, 0.0016, 0.0007),
}
# write_p95: Prometheus did not answer for 6 of its evaluations.
GAP = ("write_p95", range(21, 27))
PLACEHOLDERS = {
    "p95 read latency": {"gate": "read_p95", "unit": "ms"},
    "p95 write latency": {"gate": "write_p95", "unit": "ms"},
    "p95 subscription latency": {"gate": "subscription_p95", "unit": "ms"},
    "p95 ingest latency": {"gate": "ingest_p95", "unit": "ms"},
    "Error rate": {"gate": "error_rate", "unit": "percent"},
}
PHASES = [
    ("Pre-check | inputs and the run lock", 4),
    ("Pre-check | the fleet is ready", 21),
    ("Upgrade | open the maintenance window", 3),
    ("Upgrade | restore point", 18),
    ("Upgrade | config", 12),
    ("Upgrade | migrate", 47),
    ("Upgrade | Redis before the rollout", 2),
    ("Upgrade | roll out the API", 185),
    ("Upgrade | roll out the ingest workers", 122),
    ("Backfill | idempotency state, verified against the source manifests", 36),
]
API, INGEST = ["api1", "api2", "api3"], ["ingest1", "ingest2"]


def series_of(name: str) -> dict[str, Any]:
    _, typical, swing = GATES[name]
    points = []
    for i in range(POINTS):
        value = typical + swing * math.sin(i / 5.0) + swing * 0.3 * math.cos(i * 1.7)
        if name == GAP[0] and i in GAP[1]:
            value = None
        points.append([OBSERVATION_START + i * STEP, round(value, 6) if value is not None else None])
    return {"points": points, "step": STEP, "error": "Prometheus unreachable" if name == GAP[0] else None}


def gate_result(name: str, series: dict[str, Any]) -> dict[str, Any]:
    values = [v for _, v in series["points"] if v is not None]
    threshold = GATES[name][0]
    return {
        "name": name,
        "status": "pass",
        "worst": max(values),
        "last": values[-1],
        "threshold": threshold,
        "direction": "below",
        "samples": len(values),
        "evaluations": POINTS,
        "failures": 0,
        "values": values,
        "query": f"histogram_quantile(0.95, sum by (le) (rate({name}_bucket[1m])))",
    }


def host_bars(hosts: list[str], at: float, every: float) -> list[dict[str, Any]]:
    """One bar per host moved, one after the other from `at`, each `every` seconds apart."""
    return [
        {
            "label": host,
            "kind": "host",
            "start": at + i * every + 1,
            "end": at + (i + 1) * every - 2,
            "outcome": "ok",
        }
        for i, host in enumerate(hosts)
    ]


def timeline() -> dict[str, Any]:
    bars, at = [], T0 + 5
    for label, seconds in PHASES:
        bars.append({"label": label, "kind": "phase", "start": at, "end": at + seconds, "outcome": "ok"})
        if label.endswith("roll out the API"):
            bars += host_bars(API, at, 61)
        if label.endswith("ingest workers"):
            bars += host_bars(INGEST, at, 60)
        at += seconds + 1
    return {
        "window": {"opened": T0, "closed": OBSERVATION_END + 40, "deadline": T0 + 3600},
        "observation": {"start": OBSERVATION_START, "end": OBSERVATION_END},
        "bars": bars,
    }


def traffic() -> dict[str, Any]:
    times = [T0 + i * 15 for i in range(int((OBSERVATION_END + 40 - T0) / 15))]
    rollout = (T0 + 110, T0 + 420)
    return {
        "requests": [[t, round(48 + 6 * math.sin(t / 90.0), 2)] for t in times],
        "failed": [[t, 0.4 if rollout[0] <= t <= rollout[1] else 0.03] for t in times],
        "error": None,
    }


def report_data() -> dict[str, Any]:
    """What the report role puts together after a good upgrade (the contract of report_data)."""
    series = {name: series_of(name) for name in GATES}
    gates = [gate_result(name, series[name]) for name in GATES]
    worst = {g["name"]: g["worst"] for g in gates}
    values = {label: format_gate_value(spec, worst) for label, spec in PLACEHOLDERS.items()}
    values["Date of release"] = "2026-12-05"
    note = (ROOT / "roles/report/files/release-v24.1.md").read_text()
    return {
        "release": "24.1.0",
        "previous_release": "24.0.0",
        "date": "2026-12-05",
        "generated_at": "2026-12-05T23:58:31.604782",
        "outcome": {
            "status": "succeeded",
            "reason": "every SLO gate held over the 25-minute observation window",
        },
        "release_note": fill_placeholders(note, values),
        "values": values,
        "units": {name: ("percent" if name == "error_rate" else "ms") for name in GATES},
        "validation": {
            "passed": True,
            "failures": [],
            "gates": gates,
            "window": {
                "start": OBSERVATION_START,
                "end": OBSERVATION_END,
                "rounds": POINTS,
                "min_samples": 2,
            },
            "cache": {"hits": 182344, "misses": 9120, "ratio": 182344 / (182344 + 9120)},
            "dlq": {"dead_lettered": 3, "ingested": 48211, "ratio": 3 / 48211},
            "smoke": {
                "rc": 0,
                "output": ["python3 -m intelgraph.smoke", "smoke: passed 7 checks against http://10.0.0.10"],
            },
            "replay": [
                {
                    "tenant": "acme",
                    "batch_id": "hist-0009",
                    "events": 50,
                    "rows_before": 50,
                    "rows_after": 50,
                    "applied_once": True,
                },
                {
                    "tenant": "globex",
                    "batch_id": "hist-0010",
                    "events": 50,
                    "rows_before": 50,
                    "rows_after": 50,
                    "applied_once": True,
                },
            ],
        },
        "series": series,
        "traffic": traffic(),
        "timeline": timeline(),
        "migrations": [
            {"name": "20261101_ingest_idempotency_keys", "applied_at": "2026-12-05T23:21:10Z"},
            {"name": "20261102_ingest_batch_manifests", "applied_at": "2026-12-05T23:21:31Z"},
        ],
        "backfill": {
            "verified": True,
            "msg": "",
            "totals": {
                "batches": 12,
                "batches_matched": 12,
                "batches_mismatched": 0,
                "manifest_events": 600,
                "batch_events": 600,
                "idempotency_keys": 600,
            },
            "mismatches": [],
        },
        "versions": {host: "24.1.0" for host in API + INGEST},
        "links": {
            "Prometheus, API requests during the window": "http://prometheus.example:9090/graph?g0.expr=up"
        },
        "signoffs": [
            {"role": "Release Captain", "name": "ana", "at": "2026-12-06T00:05:12Z", "ticket": "REL-2411"},
            {"role": "On-call SRE", "name": "bo", "at": "2026-12-06T00:07:40Z", "ticket": "REL-2411"},
        ],
        "missing_signoffs": [],
        "timings": [],
    }


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is no PNG"
    return struct.unpack(">II", header[16:24])


def write(data: dict[str, Any], dest: Path, check: bool = False) -> dict[str, Any]:
    result = run_module("release_report_html", {"data": data, "dest": str(dest)}, dest.parent, check=check)
    assert result["_rc"] == 0, result.get("msg")
    return result


def test_a_good_upgrade_report_reads_as_it_should(tmp_path: Path) -> None:
    data = report_data()
    dest = tmp_path / "release-report.html"

    planned = write(data, dest, check=True)
    assert planned["changed"] and not dest.exists(), "check mode wrote the page"
    written = write(data, dest)
    assert written["changed"] and (written["charts"], written["bars"]) == (5, 15)
    assert oct(os.stat(dest).st_mode & 0o777) == "0o640"
    assert not write(data, dest)["changed"], "the same data rewrote the page"

    seen = open_report(dest, tmp_path / "release-report.png")
    print(f"screenshot: {seen['screenshot']}")
    assert png_size(Path(seen["screenshot"])) == (1400, 4000)
    assert seen["outcome"] == "Succeeded" and seen["outcome_data"] == "succeeded"
    assert "every SLO gate held" in seen["outcome_reason"]
    assert seen["gates"] == list(GATES), "one chart per gate, in the gates' order"
    assert seen["nodata_gates"] == []
    assert f"gate-{GAP[0]}-gap-0" in seen["ids"], "the write_p95 outage is not shown as a gap"
    assert (seen["timeline_figures"], seen["phase_bars"], seen["host_bars"]) == (1, len(PHASES), 5)
    assert not seen["awaiting_input"]
    assert seen["duplicate_ids"] == [] and seen["scripts"] == 0
    text = seen["text"]
    for shown in (
        f"Read p95: {format_gate_value(PLACEHOLDERS['p95 read latency'], {'read_p95': data['validation']['gates'][0]['worst']})}",
        "Date: 2026-12-05",
        "≤ 300.0 ms",
        "≤ 1.000%",
        "no data",
        "idempotency keys",
        "20261101_ingest_idempotency_keys",
        "hist-0010",
        "95.24%",  # the Redis hit ratio: 182344 of 191464
        "Release Captain ana 2026-12-06 00:05:12 UTC REL-2411",
    ):
        assert shown in text, shown
    assert '{"' not in text


def test_a_report_whose_prometheus_was_unreachable_shows_no_data(tmp_path: Path) -> None:
    data = report_data()
    data["outcome"] = {"status": "failed", "reason": "every SLO gate inconclusive: Prometheus unreachable"}
    data["series"] = {name: {"points": [], "step": STEP, "error": "Prometheus unreachable"} for name in GATES}
    data["traffic"] = {"requests": [], "failed": [], "error": "Prometheus unreachable"}
    for gate in data["validation"]["gates"]:
        gate.update(status="inconclusive", worst=None, last=None, samples=0, values=[None] * POINTS)
    data["validation"].update(passed=False, failures=[f"gate {name} is inconclusive" for name in GATES])
    data["values"] = {
        label: format_gate_value(spec, dict.fromkeys(GATES)) for label, spec in PLACEHOLDERS.items()
    }
    data["values"]["Date of release"] = "2026-12-05"
    data["release_note"] = fill_placeholders(
        (ROOT / "roles/report/files/release-v24.1.md").read_text(), data["values"]
    )
    dest = tmp_path / "release-report.html"
    assert write(data, dest)["charts"] == 5

    seen = open_report(dest, tmp_path / "release-report.png")
    print(f"screenshot: {seen['screenshot']}")
    assert seen["outcome"] == "Failed"
    assert seen["gates"] == list(GATES)
    assert seen["nodata_gates"] == list(GATES), "a gate without data drawn as an empty chart"
    assert seen["text"].count("no data: Prometheus unreachable") == len(GATES)
    assert "no traffic data: Prometheus unreachable" in seen["text"]
    assert (seen["phase_bars"], seen["host_bars"]) == (len(PHASES), 5)
    assert "Read p95: no data (inconclusive)" in seen["text"] and not seen["awaiting_input"]


def test_a_missing_chromium_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import browser

    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body>x</body></html>")
    monkeypatch.setattr(browser, "CHROMIUM_NAMES", ("no-such-chromium",))
    with pytest.raises(browser.ChromiumError, match="Chromium is not installed"):
        open_report(page, tmp_path / "page.png")
