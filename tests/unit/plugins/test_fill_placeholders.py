"""intelgraph.ops.fill_placeholders on the release note the collection ships."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.filter.fill_placeholders import (
    fill_placeholders,
    placeholders,
)
from ansible_collections.intelgraph.ops.plugins.filter.report import (
    awx_signoff,
    format_gate_value,
    report_outcome,
    report_timeline,
    run_timings,
    url_template,
)

NOTE = Path(__file__).resolve().parents[3] / "roles/report/files/release-v24.1.md"
LABELS = [
    "Date of release",
    "p95 read latency",
    "p95 write latency",
    "Error rate",
    "p95 subscription latency",
    "p95 ingest latency",
]


def test_the_shipped_note_has_the_six_placeholders() -> None:
    assert placeholders(NOTE.read_text()) == LABELS


def test_every_placeholder_filled_leaves_none() -> None:
    values = {label: f"value-{i}" for i, label in enumerate(LABELS)}
    filled = fill_placeholders(NOTE.read_text(), values)
    assert "[Awaiting Input" not in filled
    assert "- Read p95: value-1" in filled
    assert "**Date:** value-0" in filled


def test_labels_match_case_insensitively() -> None:
    assert fill_placeholders("x [Awaiting Input: Error rate] y", {"error RATE": "0.1%"}) == "x 0.1% y"


def test_a_missing_value_is_named() -> None:
    with pytest.raises(AnsibleFilterError, match="'p95 ingest latency'"):
        fill_placeholders(NOTE.read_text(), {label: "v" for label in LABELS[:-1]})


def test_lenient_mode_keeps_what_it_cannot_fill() -> None:
    assert (
        fill_placeholders("[Awaiting Input: a] [Awaiting Input: b]", {"a": 1}, strict=False)
        == "1 [Awaiting Input: b]"
    )


@pytest.mark.parametrize(
    ("spec", "value", "text"),
    [
        ({"gate": "g", "unit": "ms"}, 0.01234, "12.3 ms"),
        ({"gate": "g", "unit": "percent"}, 0.00012, "0.012%"),
        ({"gate": "g", "unit": "s"}, 1.5, "1.500 s"),
        ({"gate": "g", "unit": "ms"}, None, "no data (inconclusive)"),
    ],
)
def test_gate_values_as_the_note_prints_them(spec: dict, value: float | None, text: str) -> None:
    assert format_gate_value(spec, {"g": value}) == text


def test_a_gate_missing_from_the_results_is_named() -> None:
    with pytest.raises(AnsibleFilterError, match="'read_p95'"):
        format_gate_value({"gate": "read_p95", "unit": "ms"}, {})


def test_link_templates() -> None:
    assert (
        url_template("https://g/d?from={start}&to={end}", {"start": 1, "end": 2}) == "https://g/d?from=1&to=2"
    )
    with pytest.raises(AnsibleFilterError, match="release"):
        url_template("https://logs/?q={release}", {"start": 1})


def test_an_awx_approval_signs_for_its_role() -> None:
    approval = {
        "name": "Release Captain sign-off",
        "status": "successful",
        "finished": "2026-11-27T19:00:00Z",
        "summary_fields": {"approved_or_denied_by": {"username": "rcaptain"}},
    }
    assert awx_signoff(approval, 42) == {
        "role": "Release Captain",
        "name": "rcaptain",
        "at": "2026-11-27T19:00:00Z",
        "ticket": "AWX workflow job 42",
    }


WINDOW = {
    "started_at": 1000.0,
    "phases": [
        {"phase": "precheck", "started": True, "at": "t0", "at_ts": 1000.0, "expected_seconds": 60},
        {"phase": "config", "started": True, "at": "t1", "at_ts": 1010.5, "expected_seconds": 60},
        {"phase": "rollout", "started": True, "at": "t2", "at_ts": 1030.0, "expected_seconds": 300},
    ],
}


def test_run_timings_are_the_callbacks_when_it_recorded_this_run() -> None:
    rows = [{"phase": "Upgrade | config", "host": None, "seconds": 19.5}]
    assert run_timings({"updated": 1200.0, "rows": rows}, WINDOW, 1300.0) == rows


def test_run_timings_come_from_the_window_without_the_callback() -> None:
    expected = [
        {"phase": "precheck", "host": None, "seconds": 10.5},
        {"phase": "config", "host": None, "seconds": 19.5},
        {"phase": "rollout", "host": None, "seconds": 270.0},
    ]
    assert run_timings(None, WINDOW, 1300.0) == expected
    # A file the callback left from an earlier run (written before this window opened) is not this run's.
    stale = {"updated": 900.0, "rows": [{"phase": "Upgrade | config", "host": None, "seconds": 1.0}]}
    assert run_timings(stale, WINDOW, 1300.0) == expected
    # A closed window: the last phase runs until the close.
    assert run_timings({}, dict(WINDOW, closed_at=1100.0), 1300.0)[-1]["seconds"] == 70.0
    assert run_timings({}, {}, 1300.0) == []


def test_run_timings_from_the_window_end_with_the_observation_after_it() -> None:
    closed = dict(WINDOW, closed_at=1100.0)
    running = dict(closed, observation={"state": "running", "started_at": 1110.0})
    assert run_timings(None, running, 1300.0) == [
        {"phase": "precheck", "host": None, "seconds": 10.5},
        {"phase": "config", "host": None, "seconds": 19.5},
        {"phase": "rollout", "host": None, "seconds": 70.0},
        {"phase": "observation", "host": None, "seconds": 190.0},
    ]
    ended = dict(closed, observation={"state": "ended", "started_at": 1110.0, "ended_at": 1250.0})
    assert run_timings(None, ended, 1300.0)[-1] == {"phase": "observation", "host": None, "seconds": 140.0}
    # Only planned (announced with the close, not begun): no row.
    planned = dict(closed, observation={"state": "planned", "started_at": 1100.0})
    assert run_timings(None, planned, 1300.0) == run_timings(None, closed, 1300.0)


def test_the_timeline_has_a_bar_per_phase_and_per_host_moved_on_one_time_axis() -> None:
    closed = dict(
        WINDOW,
        closed_at=1100.0,
        deadline_at=1900.0,
        outcome="succeeded",
        observation={"state": "ended", "started_at": 1101.0, "ended_at": 1291.0},
    )
    ledger = {
        "hosts": {
            "api2": {
                "rollout": {"status": "done", "started": 1040.0, "finished": 1050.0, "data": {"moved": True}}
            },
            "api1": {
                "rollout": {"status": "done", "started": 1030.0, "finished": 1039.0, "data": {"moved": True}}
            },
            # Already on the release: not moved, no bar.
            "api3": {
                "rollout": {"status": "done", "started": 1051.0, "finished": 1052.0, "data": {"moved": False}}
            },
            "ingest1": {"rollout": {"status": "started", "started": 1060.0}},
        }
    }
    timeline = report_timeline(closed, ledger, 1300.0)
    assert timeline["window"] == {"opened": 1000.0, "closed": 1100.0, "deadline": 1900.0}
    assert timeline["observation"] == {"start": 1101.0, "end": 1291.0}
    assert [(b["kind"], b["label"], b["start"], b["end"], b["outcome"]) for b in timeline["bars"]] == [
        ("phase", "precheck", 1000.0, 1010.5, "ok"),
        ("phase", "config", 1010.5, 1030.0, "ok"),
        ("phase", "rollout", 1030.0, 1100.0, "ok"),
        ("host", "api1", 1030.0, 1039.0, "ok"),
        ("host", "api2", 1040.0, 1050.0, "ok"),
        ("host", "ingest1", 1060.0, 1100.0, "failed"),
    ]
    # A window still open: its last phase runs until now; a failed one's last phase is the failure.
    assert report_timeline(WINDOW, None, 1300.0)["bars"][-1]["end"] == 1300.0
    failed = report_timeline(dict(WINDOW, closed_at=1100.0, outcome="failed"), None, 1300.0)
    assert failed["bars"][-1]["outcome"] == "failed" and failed["observation"] is None
    assert report_timeline({}, ledger, 1300.0) == {"window": None, "observation": None, "bars": []}


@pytest.mark.parametrize(
    ("window", "validation", "failure", "status", "reason"),
    [
        ({"outcome": "succeeded"}, {"passed": True, "gates": [{}]}, None, "succeeded", "the SLO gates held"),
        ({"outcome": "succeeded"}, {}, None, "succeeded", "no observation has run yet"),
        ({"outcome": "failed", "reason": "migrate failed"}, {}, None, "failed", "migrate failed"),
        (
            {"outcome": "succeeded"},
            {"passed": False, "failures": ["gate read_p95 failed"], "gates": [{}]},
            None,
            "failed",
            "the post-upgrade observation failed: gate read_p95 failed",
        ),
        ({"outcome": "succeeded"}, {}, {"host": "api2", "message": "not ready"}, "failed", "api2: not ready"),
    ],
)
def test_the_outcome_says_how_the_release_went_and_why(
    window: dict, validation: dict, failure: dict | None, status: str, reason: str
) -> None:
    outcome = report_outcome(window, validation, failure)
    assert outcome["status"] == status and reason in outcome["reason"]
