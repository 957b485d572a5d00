"""intelgraph.ops low-traffic check: the request rate against its ceiling."""

from __future__ import annotations

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._traffic import describe, judge, request_rate


def samples(*values: float) -> list[dict]:
    return [{"metric": {}, "value": v, "time": 0.0} for v in values]


@pytest.mark.parametrize(
    ("values", "rate", "series"),
    [((), 0.0, 0), ((12.5,), 12.5, 1), ((1.0, 2.25), 3.25, 2), ((float("nan"), 4.0), 4.0, 2)],
)
def test_request_rate(values: tuple[float, ...], rate: float, series: int) -> None:
    assert request_rate(samples(*values)) == (rate, series)


@pytest.mark.parametrize(
    ("rate", "ceiling", "force", "low", "go"),
    [
        (10.0, 50.0, False, True, True),
        (50.0, 50.0, False, True, True),  # at the ceiling is still low
        (50.1, 50.0, False, False, False),
        (80.0, 50.0, True, False, True),  # forced
        (0.0, 0.0, False, True, True),
    ],
)
def test_the_ceiling_and_the_force(rate: float, ceiling: float, force: bool, low: bool, go: bool) -> None:
    verdict = judge(samples(rate), ceiling, force)
    assert (verdict.low, verdict.go, verdict.forced) == (low, go, force)
    assert verdict.as_dict()["rate"] == rate


def test_no_series_means_no_traffic() -> None:
    verdict = judge([], 1.0, False)
    assert verdict.rate == 0.0 and verdict.series == 0 and verdict.go


def test_a_negative_ceiling_is_refused() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        judge(samples(1.0), -1.0, False)


def test_describe_says_what_was_measured_and_decided() -> None:
    query = "sum(rate(intelgraph_http_requests_total[1m]))"
    assert describe(judge(samples(3.5), 10, False), query).startswith("Traffic is low enough: 3.5 requests/s")
    busy = describe(judge(samples(30), 10, False), query)
    assert "too high" in busy and query in busy and "ceiling of 10/s" in busy
    assert "going on as forced" in describe(judge(samples(30), 10, True), query)
