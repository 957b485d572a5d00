"""intelgraph.ops upgrade estimate (playbooks/plan.yml): batches, measured and expected times."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._plan import (
    batch_sizes,
    estimate,
    measured_phases,
    min_in_service_count,
    rollout_batch_errors,
)

GROUPS = {"api": ["api1", "api2", "api3"], "ingest": ["ingest1", "ingest2"]}
SERIAL = {"rollout_api_canary": 1, "rollout_api_batch_size": 1, "rollout_ingest_batch_size": 1}
EXPECTED = {"precheck": 60, "config": 60, "migrate": 120, "rollout": 300, "backfill": 60, "verify": 240}
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
    result = estimate(ALL_MOVE, GROUPS, SERIAL, EXPECTED, 15, batch_seconds=60, observation_seconds=1800)
    # 60 + 60 + 120 + 3 API batches x 60 + 2 ingest batches x 60 + 60 + 240; the observation apart
    assert result["total_seconds"] == 840
    assert result["fits"] is True and result["over_seconds"] == 0 and result["problem"] is None
    assert [p["phase"] for p in result["phases"]] == [
        "precheck",
        "config",
        "migrate",
        "rollout api",
        "rollout ingest",
        "backfill",
        "verify",
    ]
    assert result["summary"] == (
        "Estimated 14m 00s inside the maintenance window: the change fits in the 15-minute window "
        "(margin 1m 00s). The window closes once the change is done; the post-upgrade observation "
        "(validate_window) follows it for 30m 00s."
    )
    assert result["observation_seconds"] == 1800
    assert "3 batches (api1, api2, api3) x 60s a batch, no measured move" in result["lines"][3]


def test_measured_report_rows_and_ledger_moves_are_used() -> None:
    timings = [
        {"phase": "Pre-check | the fleet is ready", "host": None, "seconds": 20.0},
        {"phase": "Upgrade | restore point", "host": None, "seconds": 5.0},
        {"phase": "Upgrade | config", "host": None, "seconds": 10.0},
        {"phase": "Upgrade | config", "host": "api1", "seconds": 9.0},  # host rows are not phases
        {"phase": "Upgrade | migrate", "host": None, "seconds": 30.0},
        {"phase": "Backfill | idempotency state", "host": None, "seconds": 7.0},
        {"phase": "Upgrade | verify", "host": None, "seconds": 40.0},
        {"phase": "Upgrade | close the maintenance window", "host": None, "seconds": 1.0},
        # The observation is no phase of the window's.
        {"phase": "Validate | the post-upgrade observation", "host": None, "seconds": 1800.0},
    ]
    assert measured_phases(timings) == {
        "precheck": 5.0,
        "config": 10.0,
        "migrate": 30.0,
        "backfill": 7.0,
        "verify": 41.0,
    }
    # A report written from the window's record names the phases themselves.
    assert measured_phases([{"phase": "migrate", "host": None, "seconds": 12.0}]) == {"migrate": 12.0}
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
    # 5 + 10 + 30 + 3 x 25 (longest API move of the newest ledger) + 2 x 10 + 7 + 41
    assert result["total_seconds"] == 188
    assert "measured: the longest of 2 api host moves" in result["lines"][3]


def test_a_plan_that_does_not_fit_says_by_how_much_and_nothing_to_do_needs_no_window() -> None:
    late = estimate(ALL_MOVE, GROUPS, SERIAL, EXPECTED, 10, batch_seconds=60)
    assert late["fits"] is False and late["over_seconds"] == 240
    assert "the change does NOT fit in the 10-minute window (over by 4m 00s)" in late["summary"]
    assert late["problem"] == (
        "the change needs about 14m 00s inside the maintenance window (precheck 1m 00s, config 1m 00s, "
        "migrate 2m 00s, rollout api 3m 00s, rollout ingest 2m 00s, backfill 1m 00s, verify 4m 00s), more "
        "than the 10-minute window (intelgraph_window_minutes=10): over by 4m 00s. Plan a longer window, or "
        "lower the estimates (intelgraph_phase_seconds, intelgraph_plan_batch_seconds) if they are too high"
    )
    idle = [{"host": h, "moves": False, "settings": []} for h in GROUPS["api"]]
    nothing = estimate(idle, GROUPS, SERIAL, EXPECTED, 15, observation_seconds=1800)
    assert (nothing["total_seconds"], nothing["observation_seconds"], nothing["fits"]) == (0, 0, True)
    assert nothing["lines"] == ["Nothing to change: no window is opened and no observation follows."]


def _moved(start: float, end: float) -> dict:
    return {"rollout": {"status": "done", "started": start, "finished": end, "data": {"moved": True}}}


def _skipped() -> dict:
    return {"rollout": {"status": "done", "started": 0, "finished": 500, "data": {"moved": False}}}


@pytest.mark.parametrize(
    ("plans", "bake", "api_seconds", "held"),
    [
        # A canary, then two batches: held once, and its comparison seen up to one check (5 s) later.
        (ALL_MOVE, 60, 3 * 60 + 60 + 5, True),
        (ALL_MOVE, 0, 3 * 60, False),  # a bake of 0 judges nothing
        (
            [{"host": "api1", "moves": True, "settings": []}],
            60,
            60,
            False,
        ),  # one batch: nothing to compare with
    ],
)
def test_the_canary_bake_is_counted_when_a_batch_follows_it(
    plans: list[dict[str, object]], bake: int, api_seconds: int, held: bool
) -> None:
    result = estimate(plans, GROUPS, {**SERIAL, "rollout_canary_bake": bake}, EXPECTED, 15, batch_seconds=60)
    api = next(p for p in result["phases"] if p["phase"] == "rollout api")
    assert api["seconds"] == api_seconds
    assert (
        "and the canary's bake of 60s (rollout_canary_bake) and up to 5s until its comparison is seen"
        in api["source"]
    ) is held


def seconds_source(result: dict[str, Any], phase: str) -> str:
    return str(next(p for p in result["phases"] if p["phase"] == phase)["source"])


def test_a_short_bake_is_seen_at_the_next_check_of_its_own_length() -> None:
    result = estimate(ALL_MOVE, GROUPS, {**SERIAL, "rollout_canary_bake": 3}, EXPECTED, 15, batch_seconds=10)
    api = next(p for p in result["phases"] if p["phase"] == "rollout api")
    assert api["seconds"] == 3 * 10 + 3 + 3


def test_each_host_to_change_adds_to_the_phases_that_visit_every_host_unless_measured() -> None:
    # Four of the five hosts change (api3 is already there): 4 x 2 s on the restore point's and
    # config's expected times, and 2 s for api2, the API host after the canary that installs its
    # release with the others at once; the other phases and the batches as they were.
    plans = [p for p in ALL_MOVE if p["host"] != "api3"] + [{"host": "api3", "moves": False, "settings": []}]
    base = estimate(plans, GROUPS, SERIAL, EXPECTED, 60, batch_seconds=60)
    more = estimate(plans, GROUPS, SERIAL, EXPECTED, 60, batch_seconds=60, host_seconds=2)
    seconds = {p["phase"]: p["seconds"] for p in more["phases"]}
    base_seconds = {p["phase"]: p["seconds"] for p in base["phases"]}
    assert seconds == {
        **base_seconds,
        "precheck": 60 + 4 * 2,
        "config": 60 + 4 * 2,
        "rollout api": base_seconds["rollout api"] + 2,
    }
    assert more["total_seconds"] == base["total_seconds"] + 18
    assert (
        "intelgraph_phase_seconds, and 2s for each of the 4 hosts to change (intelgraph_plan_host_seconds)"
        in (more["lines"][1])
    )
    assert (
        "and 2s for each of the 1 hosts after the canary that install their release at once "
        "(intelgraph_plan_host_seconds)" in seconds_source(more, "rollout api")
    )
    # What the last release report measured stands as it is.
    measured = [{"phase": "Upgrade | config", "host": None, "seconds": 7.0}]
    again = estimate(plans, GROUPS, SERIAL, EXPECTED, 60, measured, batch_seconds=60, host_seconds=2)
    assert {p["phase"]: p["seconds"] for p in again["phases"]}["config"] == 7.0


@pytest.mark.parametrize(
    ("value", "total", "hosts"),
    [(2, 3, 2), ("0", 3, 0), ("50%", 3, 2), ("50%", 96, 48), ("1%", 96, 1), ("0%", 96, 0), ("100%", 12, 12)],
)
def test_min_in_service_counts_hosts_and_rounds_a_percentage_up(
    value: object, total: int, hosts: int
) -> None:
    assert min_in_service_count(value, total) == hosts


@pytest.mark.parametrize(
    ("total", "canary", "batch", "minimum"),
    [(3, 1, 1, 2), (96, 1, "10%", "75%"), (96, "2%", "25%", "75%"), (2, 1, 1, 1), (96, " 5 ", "5 %", 0)],
)
def test_batches_that_leave_enough_hosts_in_service_pass(
    total: int, canary: object, batch: object, minimum: object
) -> None:
    assert rollout_batch_errors(total, canary, batch, minimum) == []


@pytest.mark.parametrize(
    ("total", "canary", "batch", "minimum", "errors"),
    [
        (
            3,
            1,
            "10%",
            2,
            [
                "rollout_api_batch_size=10%: 10% of the 3 API hosts rounds down to 0 hosts; give at least 34% or a "
                "number of hosts"
            ],
        ),
        (
            3,
            1,
            2,
            2,
            [
                "rollout_api_min_in_service=2: a batch of 2 of the 3 API hosts leaves 1 in service, fewer than "
                "rollout_api_min_in_service; lower the batch sizes (rollout_api_canary, rollout_api_batch_size) or "
                "rollout_api_min_in_service"
            ],
        ),
        (
            96,
            1,
            "50%",
            "60%",
            [
                "rollout_api_min_in_service=60%: a batch of 48 of the 96 API hosts leaves 48 in service, fewer than "
                "rollout_api_min_in_service (58 of the 96); lower the batch sizes (rollout_api_canary, "
                "rollout_api_batch_size) or rollout_api_min_in_service"
            ],
        ),
        (
            12,
            0,
            "150%",
            "lots",
            [
                "rollout_api_canary=0: must be a number of hosts (1 or more) or a percentage (1% to 100%)",
                "rollout_api_batch_size=150%: must be a number of hosts (1 or more) or a percentage (1% to 100%)",
                "rollout_api_min_in_service=lots: must be a number of hosts (0 or more) or a percentage (0% to 100%)",
            ],
        ),
    ],
    ids=["percentage-rounds-to-0", "batch-too-large", "percentages-too-large", "malformed"],
)
def test_a_bad_batch_names_the_variable_its_value_and_both_numbers(
    total: int, canary: object, batch: object, minimum: object, errors: list[str]
) -> None:
    assert rollout_batch_errors(total, canary, batch, minimum) == errors
