"""roles/report/templates/release-report.md.j2: the Markdown release report as a ticket shows it,
rendered by Ansible's template lookup, as the report role renders it, from report data shaped as a
real run's."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_tasks

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "roles/report/templates/release-report.md.j2"
NOTE = ROOT / "roles/report/files/release-v24.1.md"
T0 = 1796513400.0  # 2026-12-05 23:30:00 UTC


def gate(name: str, threshold: float, worst: float | None, status: str = "pass") -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "worst": worst,
        "last": worst,
        "threshold": threshold,
        "direction": "below",
        "samples": 8,
        "evaluations": 8,
        "failures": 0,
        "values": [worst] * 8,
        "query": 'sum(rate(x{kind="read"}[1m]))',
    }


# A real run's data (the keys release-report.json has), the timings as the phase_timer callback
# wrote them, internal rows included.
BASE: dict[str, Any] = {
    "release": "24.1.0",
    "previous_release": "24.0.0",
    "date": "2026-12-05",
    "generated_at": "2026-12-05T23:40:53.604782",
    "values": {
        "Date of release": "2026-12-05",
        "p95 read latency": "144.0 ms",
        "p95 write latency": "240.0 ms",
        "p95 subscription latency": "2400.0 ms",
        "p95 ingest latency": "960.0 ms",
        "Error rate": "0.240%",
    },
    "validation": {
        "passed": True,
        "failures": [],
        "gates": [
            gate("read_p95", 0.3, 0.144),
            gate("write_p95", 0.5, 0.24),
            gate("subscription_p95", 10.0, 2.4),
            gate("ingest_p95", 2.0, 0.96),
            gate("error_rate", 0.01, 0.0024),
            gate("queue_depth", 40, 12),
        ],
        "window": {"start": T0 + 300, "end": T0 + 1200, "rounds": 4, "min_samples": 2},
        "cache": {"hits": 96, "misses": 1, "ratio": 0.9896907216494846},
        "dlq": {"dead_lettered": 0, "ingested": 0, "ratio": None},
        "smoke": {"rc": 0, "output": ["smoke: passed 7 checks"]},
        "replay": [
            {
                "tenant": "acme",
                "batch_id": "hist-0009",
                "events": 50,
                "rows_before": 50,
                "rows_after": 50,
                "applied_once": True,
            }
        ],
    },
    "backfill": {
        "manifest_dir": "/var/lib/intelgraph/manifests",
        "mismatches": [],
        "msg": "",
        "totals": {
            "batch_events": 600,
            "batches": 12,
            "batches_matched": 12,
            "batches_mismatched": 0,
            "idempotency_keys": 600,
            "manifest_events": 600,
        },
        "verified": True,
    },
    "links": {"Prometheus, API requests during the window": "http://10.89.41.61:9090/graph?g0.expr=up"},
    "missing_signoffs": [],
    "signoffs": [
        {"name": "ana", "role": "Release Captain", "ticket": "REL-1", "at": "2026-12-05T23:45:10Z"},
        {"name": "bo", "role": "On-call SRE", "ticket": "REL-1"},
    ],
    "timings": [
        {"host": None, "phase": "Pre-check | the fleet is ready", "seconds": 3.887},
        {"host": "api1", "phase": "Pre-check | the fleet is ready", "seconds": 3.696},
        {"host": None, "phase": "Upgrade | roll out the API", "seconds": 3.684},
        {"host": "api1", "phase": "Upgrade | roll out the API", "seconds": 3.677},
        {"host": None, "phase": "Upgrade | roll out the API", "seconds": 62.2},
        {"host": None, "phase": "Upgrade | what check mode does not verify", "seconds": 0.017},
        {"host": "localhost", "phase": "Upgrade | what check mode does not verify", "seconds": 0.012},
        {
            "host": None,
            "phase": "Validate | SLO gates, operational checks, smoke and replay",
            "seconds": None,
        },
    ],
    "versions": {"api1": "24.1.0", "api2": "24.1.0", "ingest1": "unreachable"},
}
NEW = {
    "outcome": {"status": "succeeded", "reason": "every gate passed"},
    "release_note": "**Release:** v24.1\n\n- Read p95: 144.0 ms\n",
    "units": {"read_p95": "ms", "error_rate": "percent"},
    "timeline": {
        "window": {"opened": T0, "closed": T0 + 1300, "deadline": T0 + 900},
        "observation": {"start": T0 + 300, "end": T0 + 1200},
        "bars": [
            {
                "label": "Pre-check | the fleet is ready",
                "kind": "phase",
                "start": T0,
                "end": T0 + 4,
                "outcome": "ok",
            },
            {
                "label": "Upgrade | roll out the API",
                "kind": "phase",
                "start": T0 + 10,
                "end": T0 + 75,
                "outcome": "ok",
            },
            {"label": "api1", "kind": "host", "start": T0 + 11, "end": T0 + 40, "outcome": "ok"},
        ],
    },
    "migrations": [{"name": "0007_idempotency", "applied_at": "2026-12-05T23:31:05Z"}],
    # As the rollout recorded it in the run ledger: the canary worse than the previous release.
    "canary": {
        "passed": False,
        "canary": ["api1"],
        "baseline": ["api2", "api3"],
        "bake": 12,
        "metrics": [
            {
                "name": "error_rate",
                "compare": "delta",
                "limit": 0.01,
                "canary": 0.0,
                "baseline": 0.0,
                "score": 0.0,
                "status": "pass",
            },
            {
                "name": "read_p95",
                "compare": "ratio",
                "limit": 1.5,
                "canary": 0.3121,
                "baseline": 0.0049,
                "score": 6.242,
                "status": "fail",
            },
            {
                "name": "write_p95",
                "compare": "ratio",
                "limit": 1.5,
                "canary": None,
                "baseline": 0.0049,
                "score": None,
                "status": "nodata",
            },
        ],
    },
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The report rendered from the data of today's role (no new key) and from the data with every new key."""
    work = tmp_path_factory.mktemp("md")
    bare = {
        **{k: BASE[k] for k in ("release", "previous_release", "date", "generated_at")},
        **{"values": {}, "validation": {}, "backfill": {}, "versions": {}, "links": {}, "signoffs": []},
        **{"missing_signoffs": ["Release Captain"], "timings": [], "release_note": "No note."},
        # A job on another controller than the upgrade's: the migrations applied are not known there.
        "migrations": None,
    }
    cases = {"today": copy.deepcopy(BASE), "new": {**copy.deepcopy(BASE), **NEW}, "bare": bare}
    tasks = [
        {
            "name": name,
            # As the report role renders it (vars/main.yml, __report_files) and writes it.
            "intelgraph.ops.write_files": {
                "path": str(work),
                "files": {f"{name}.md": f"{{{{ lookup('ansible.builtin.template', '{TEMPLATE}') }}}}"},
            },
            "vars": {"report_data": data, "report_release_note": str(NOTE)},
        }
        for name, data in cases.items()
    ]
    results = run_tasks(tasks, work)
    for name, result in results.items():
        assert not result.get("failed"), f"{name}: {result.get('msg')}"
    return {name: (work / f"{name}.md").read_text() for name in cases}


@pytest.mark.parametrize("case", ["today", "new"])
def test_no_header_no_json_no_internal_rows(rendered: dict[str, str], case: str) -> None:
    report = rendered[case]
    assert "Ansible managed" not in report and "<!--" not in report
    assert '{"' not in report and "{'" not in report
    assert json.dumps(BASE["backfill"]) not in report
    assert "what check mode does not verify" not in report
    assert "running" not in report
    assert "| idempotency keys | 600 |" in report
    assert "[Awaiting Input" not in report


@pytest.mark.parametrize("case", ["today", "new"])
def test_units_ms_and_percent(rendered: dict[str, str], case: str) -> None:
    report = rendered[case]
    assert "| read_p95 | pass | 144.0 ms | 144.0 ms | ≤ 300.0 ms |" in report
    assert "| error_rate | pass | 0.240% | 0.240% | ≤ 1.000% |" in report
    assert "| queue_depth | pass | 12 | 12 | ≤ 40 |" in report  # no unit known: as measured
    assert "Redis hit ratio over the window: 98.97% (96 hits, 1 misses)" in report
    assert "Dead-letter growth over the window: no ingest traffic" in report
    assert not re.search(r"\b0\.3\b|\b0\.01\b", report), "a threshold in seconds or as a share"


def test_the_outcome_first(rendered: dict[str, str]) -> None:
    report = rendered["new"]
    assert report.index("**Outcome: SUCCEEDED** — every gate passed") < report.index("## Release note")
    assert report.startswith("# Release report: 24.0.0 to 24.1.0\n")
    assert (
        "**Outcome: not recorded** — the report data has no outcome; the validation passed."
        in rendered["today"]
    )


def test_the_release_note_from_the_data_or_the_role(rendered: dict[str, str]) -> None:
    assert "- Read p95: 144.0 ms" in rendered["new"]
    assert "Hardening & Operations" not in rendered["new"]  # the data's note, not the file's
    assert "- Read p95: 144.0 ms" in rendered["today"] and "Hardening & Operations" in rendered["today"]


def test_phases_from_the_timeline_or_the_timings(rendered: dict[str, str]) -> None:
    new, today = rendered["new"], rendered["today"]
    assert "Window opened 23:30:00, deadline 23:45:00, closed 23:51:40 UTC." in new
    assert "| Upgrade \\| roll out the API | 23:30:10 | 23:31:15 | 1m 05s | ok |" in new
    assert "| ↳ api1 | 23:30:11 | 23:30:40 | 29s | ok |" in new
    assert "| Pre-check \\| the fleet is ready | 3.9s |" in today
    assert "| Upgrade \\| roll out the API | 1m 06s |" in today  # both batches' rows, hosts' left out


def test_the_tables(rendered: dict[str, str]) -> None:
    report = rendered["new"]
    assert "| acme | hist-0009 | 50 | 50 | 50 | yes |" in report
    assert "| 0007_idempotency | 2026-12-05 23:31:05 UTC |" in report
    assert "No migrations in the report data." in rendered["today"]
    assert "| ingest1 | unreachable (not 24.1.0) |" in report
    assert "- Release Captain: ana at 2026-12-05 23:45:10 UTC (REL-1)" in report
    assert "Report generated: 2026-12-05 23:40:53 UTC" in report


def test_the_canary_against_the_previous_release(rendered: dict[str, str]) -> None:
    report = rendered["new"]
    assert (
        "The canary batch (api1) on 24.1.0, held 12 s once back in service, against the hosts still on "
        "24.0.0 (api2, api3): **FAILED**." in report
    )
    assert "| error_rate | 0.000% | 0.000% | +0.000% | ≤ +1.000% | pass |" in report
    assert "| read_p95 | 312.1 ms | 4.9 ms | 6.24x | ≤ 1.5x | FAIL |" in report
    assert "| write_p95 | no data | 4.9 ms | — | ≤ 1.5x | no data |" in report
    assert "No canary analysis in the report data: the canary was not judged." in rendered["bare"]


def test_a_run_that_measured_nothing_says_so(rendered: dict[str, str]) -> None:
    report = rendered["bare"]
    for says in (
        "the validation did not pass",
        "No gate results in the report data.",
        "No replay results in the report data.",
        "No backfill results in the report data.",
        "No phase timings in the report data.",
        "No migrations in the report data.",
        "No releases per host in the report data.",
        "Redis hit ratio over the window: no data",
        "`make smoke`: not run",
        "- Release Captain: MISSING",
        "Not signed off yet: Release Captain",
    ):
        assert says in report, says
