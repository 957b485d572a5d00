"""intelgraph.ops upgrade estimate (playbooks/plan.yml): batches, measured and expected times."""

from __future__ import annotations

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._plan import (
    batch_sizes,
    estimate,
    measured_phases,
)

GROUPS = {"api": ["api1", "api2", "api3"], "ingest": ["ingest1", "ingest2"]}
SERIAL = {"rollout_api_canary": 1, "rollout_api_batch_size": 1, "rollout_ingest_batch_size": 1}
EXPECTED = {"precheck": 60, "config": 60, "migrate": 120, "rollout": 300, "verify": 240}
ALL_MOVE = [{"host": h, "moves": True, "settings": []} for h in GROUPS["api"] + GROUPS["ingest"]]


@pytest.mark.parametrize(
    ("count", "total", "first", "rest", "expected"),
    [
        (3, 3, 1, 1, [1, 1, 1]),
        (3, 3, 1, 2, [1, 2]),
        (5, 10, "10%", "50%", [1, 4]),
        (0, 3, 1, 1, []),
        (2, 3, "100%", 1, [2]),
    ],
)
def test_batch_sizes(count: int, total: int, first: object, rest: object, expected: list[int]) -> None:
    assert batch_sizes(count, total, first, rest) == expected


def test_without_measurements_the_expected_times_and_batch_default_count() -> None:
    result = estimate(ALL_MOVE, GROUPS, SERIAL, EXPECTED, 15, batch_seconds=60)
    # 60 + 60 + 120 + 3 API batches x 60 + 2 ingest batches x 60 + 240
    assert result["total_seconds"] == 780
    assert result["fits"] is True
    assert (
        result["summary"]
        == "Estimated 13m 00s for the upgrade: it fits in the 15-minute window (margin 2m 00s)."
    )
    assert "3 batches (api1, api2, api3) x 60s a batch, no measured move" in result["lines"][3]


def test_measured_report_rows_and_ledger_moves_are_used() -> None:
    timings = [
        {"phase": "Pre-check | the fleet is ready", "host": None, "seconds": 20.0},
        {"phase": "Upgrade | restore point", "host": None, "seconds": 5.0},
        {"phase": "Upgrade | config", "host": None, "seconds": 10.0},
        {"phase": "Upgrade | config", "host": "api1", "seconds": 9.0},  # host rows are not phases
        {"phase": "Upgrade | migrate", "host": None, "seconds": 30.0},
        {
            "phase": "Validate | SLO gates, operational checks, smoke and replay",
            "host": None,
            "seconds": 50.0,
        },
    ]
    assert measured_phases(timings) == {"precheck": 25.0, "config": 10.0, "migrate": 30.0, "verify": 50.0}
    old = {"release": "24.1.0", "updated": 1.0, "hosts": {"api1": _moved(0, 100)}}
    new = {
        "release": "24.1.0",
        "updated": 2.0,
        "hosts": {
            "api1": _moved(0, 20),
            "api2": _moved(30, 55),
            "ingest1": _moved(60, 70),
            "api3": _skipped(),
        },
    }
    result = estimate(ALL_MOVE, GROUPS, SERIAL, EXPECTED, 15, timings, [old, new], 60)
    # 25 + 10 + 30 + 3 x 25 (longest API move of the newest ledger) + 2 x 10 + 50
    assert result["total_seconds"] == 210
    assert "measured: the longest of 2 api host moves" in result["lines"][3]


def test_a_plan_that_does_not_fit_says_so_and_nothing_to_do_needs_only_the_precheck() -> None:
    late = estimate(ALL_MOVE, GROUPS, SERIAL, EXPECTED, 10, batch_seconds=60)
    assert late["fits"] is False
    assert "does NOT fit in the 10-minute window (over by 3m 00s)" in late["summary"]
    idle = [{"host": h, "moves": False, "settings": []} for h in GROUPS["api"]]
    nothing = estimate(idle, GROUPS, SERIAL, EXPECTED, 15)
    assert nothing["total_seconds"] == 60
    assert nothing["phases"][0]["source"] == "nothing to do; no window is opened"


def _moved(start: float, end: float) -> dict:
    return {"rollout": {"status": "done", "started": start, "finished": end, "data": {"moved": True}}}


def _skipped() -> dict:
    return {"rollout": {"status": "done", "started": 0, "finished": 500, "data": {"moved": False}}}
