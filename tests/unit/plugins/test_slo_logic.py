"""intelgraph.ops SLO logic: gate verdicts, hit ratio and dead-letter growth."""

from __future__ import annotations

import math

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._slo import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Gate,
    describe,
    dlq_growth,
    hit_ratio,
)


def run(gate: Gate, rounds: list[list[float]], min_samples: int = 3, failure_limit: int = 0) -> dict:
    for values in rounds:
        gate.record(values)
    return gate.verdict(min_samples, failure_limit)


@pytest.mark.parametrize(
    ("direction", "rounds", "limit", "status"),
    [
        ("below", [[0.1], [0.2], [0.15]], 0, PASS),
        ("below", [[0.1], [0.9], [0.15]], 0, FAIL),
        ("below", [[0.1], [0.9], [0.15]], 1, PASS),
        ("above", [[0.8], [0.9], [0.76]], 0, PASS),
        ("above", [[0.8], [0.7], [0.9]], 0, FAIL),
        ("below", [[], [0.1], [math.nan]], 0, INCONCLUSIVE),
        ("below", [[], [], []], 0, INCONCLUSIVE),
    ],
)
def test_verdicts(direction: str, rounds: list[list[float]], limit: int, status: str) -> None:
    result = run(
        Gate("g", "q", 0.5 if direction == "below" else 0.75, direction), rounds, failure_limit=limit
    )
    assert result["status"] == status


def test_no_data_is_never_a_pass_even_with_a_failure_limit() -> None:
    result = run(Gate("read_p95", "q", 0.3), [[], []], min_samples=1, failure_limit=5)
    assert result["status"] == INCONCLUSIVE
    assert "inconclusive" in describe(result)
    assert "0 of 2 evaluations" in describe(result)


def test_several_series_are_judged_by_the_worst() -> None:
    gate = Gate("p95", "q", 0.3)
    assert gate.record([0.1, 0.4, 0.2]) == 0.4
    floor = Gate("ratio", "q", 0.75, "above")
    assert floor.record([0.9, 0.7]) == 0.7


def test_failure_message_names_query_and_value() -> None:
    result = run(Gate("write_p95", "histogram_quantile(0.95, x)", 0.001), [[0.02], [0.03], [0.025]])
    assert result["status"] == FAIL
    assert result["worst"] == 0.03
    message = describe(result)
    assert "write_p95 failed" in message
    assert "histogram_quantile(0.95, x)" in message
    assert "0.03" in message


def test_gate_rejects_a_bad_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        Gate("g", "q", 1, "sideways")


def test_hit_ratio_uses_the_change_over_the_window_not_counters_since_start() -> None:
    before = [
        {"node": "cache1", "keyspace_hits": 1_000_000, "keyspace_misses": 10},
        {"node": "cache2", "keyspace_hits": 50, "keyspace_misses": 50},
    ]
    after = [
        {"node": "cache1", "keyspace_hits": 1_000_300, "keyspace_misses": 110},
        {"node": "cache2", "keyspace_hits": 150, "keyspace_misses": 50},
    ]
    # window: hits 300 + 100 = 400, misses 100 + 0 = 100 -> 0.8 (since start it would be ~0.9999)
    assert hit_ratio(before, after) == {"hits": 400, "misses": 100, "ratio": 0.8}


def test_hit_ratio_counts_a_restarted_node_from_zero() -> None:
    before = [{"node": "c", "keyspace_hits": 900, "keyspace_misses": 100}]
    after = [{"node": "c", "keyspace_hits": 30, "keyspace_misses": 10}]
    assert hit_ratio(before, after) == {"hits": 30, "misses": 10, "ratio": 0.75}


def test_hit_ratio_without_lookups_is_unknown() -> None:
    sample = [{"node": "c", "keyspace_hits": 5, "keyspace_misses": 5}]
    assert hit_ratio(sample, sample)["ratio"] is None


def test_hit_ratio_needs_a_start_for_every_node() -> None:
    with pytest.raises(ValueError, match="cache2"):
        hit_ratio([{"node": "cache1"}], [{"node": "cache2"}])


@pytest.mark.parametrize(
    ("before", "after", "ratio"),
    [
        (
            {"ingest_entries_added": 100, "dlq_entries_added": 1},
            {"ingest_entries_added": 1100, "dlq_entries_added": 6},
            0.005,
        ),
        (
            {"ingest_entries_added": 0, "dlq_entries_added": 0},
            {"ingest_entries_added": 200, "dlq_entries_added": 4},
            0.02,
        ),
        (
            {"ingest_entries_added": 10, "dlq_entries_added": 0},
            {"ingest_entries_added": 10, "dlq_entries_added": 0},
            None,
        ),
    ],
)
def test_dlq_growth_share_of_traffic(before: dict, after: dict, ratio: float | None) -> None:
    assert dlq_growth(before, after)["ratio"] == ratio
