"""intelgraph.ops prometheus_range: range queries for the report's charts, gaps kept as gaps."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import range_points, range_step
from conftest import run_module, serve_http, serve_prometheus

T0 = 1_796_000_000.0
MATRIX = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [
            # No sample at T0 + 10 (a scrape missed), NaN at T0 + 15 (a histogram without observations).
            {"metric": {}, "values": [[T0, "0.012"], [T0 + 5, "0.02"], [T0 + 15, "NaN"], [T0 + 20, "0.03"]]}
        ],
    },
}


def answer(query: str) -> tuple[int, dict]:
    if query == "read_p95":
        return 200, MATRIX
    return 400, {"status": "error", "errorType": "bad_data", "error": f"parse error in {query}"}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    yield from serve_prometheus(answer)


def test_points_are_on_the_query_s_grid_with_gaps_as_none() -> None:
    result = [{"metric": {}, "values": [[T0, 1.0], [T0 + 10, math.nan], [T0 + 20, 3.0]]}]
    assert range_points(result, T0, T0 + 20, 5) == [
        [T0, 1.0],
        [T0 + 5, None],
        [T0 + 10, None],
        [T0 + 15, None],
        [T0 + 20, 3.0],
    ]
    # Several series: the highest value at each time.
    two = [{"values": [[T0, 1.0], [T0 + 5, 4.0]]}, {"values": [[T0, 2.0]]}]
    assert range_points(two, T0, T0 + 5, 5) == [[T0, 2.0], [T0 + 5, 4.0]]
    assert range_points([], T0, T0 + 10, 5) == [[T0, None], [T0 + 5, None], [T0 + 10, None]]


def test_samples_a_little_off_the_grid_land_on_its_nearest_time_and_none_outside_the_range() -> None:
    # A backend that aligns its steps otherwise (a few milliseconds off) is still read.
    result = [
        {"values": [[T0 - 5, 9.0], [T0 + 0.004, 1.0], [T0 + 4.998, 2.0], [T0 + 10.002, 3.0], [T0 + 15, 9.0]]}
    ]
    assert range_points(result, T0, T0 + 10, 5) == [[T0, 1.0], [T0 + 5, 2.0], [T0 + 10, 3.0]]


def prometheus_time(value: str) -> int:
    """A query_range time as Prometheus reads it (web/api/v1 parseTime), in milliseconds: a float
    rounded to the millisecond in floating point, then cut to whole milliseconds; or RFC 3339."""
    try:
        seconds = float(value)
    except ValueError:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return round(moment.timestamp() * 1000)
    whole, fraction = int(seconds), seconds - int(seconds)
    return whole * 1000 + int(round(fraction * 1000) / 1000 * 1e9) // 1_000_000


def prometheus_step(value: str) -> int:
    """A query_range step as Prometheus reads it (parseDuration), in milliseconds: float seconds
    cut to whole nanoseconds, then to whole milliseconds; or a duration such as 2058ms."""
    if value.endswith("ms"):
        return int(value[:-2])
    return int(float(value) * 1e9) // 1_000_000


def test_the_points_stay_on_the_grid_prometheus_evaluates_for_any_step() -> None:
    """Prometheus evaluates a range query at start, start + step, ... in whole milliseconds, with
    the times and step as it parses them: every point it answers must land on the module's grid,
    whatever the step and the start's fraction of a second (a step of 2.058 s sent as seconds is
    2.057 s to Prometheus, and all but the first point fell off the grid)."""

    def answer(path: str) -> tuple[int, str, bytes]:
        params = {name: values[0] for name, values in parse_qs(urlsplit(path).query).items()}
        first, last, step = (
            prometheus_time(params["start"]),
            prometheus_time(params["end"]),
            prometheus_step(params["step"]),
        )
        values = [[ms / 1000, "0.5"] for ms in range(first, last + 1, step)]
        body = {
            "status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]},
        }
        return 200, "application/json", json.dumps(body).encode()

    server = serve_http(answer)
    url = next(server)
    try:
        for start, end in [(T0 + 0.8463, T0 + 247.8), (T0 + 0.1537, T0 + 124.6), (T0 + 0.5, T0 + 138.3)]:
            result = run_module(
                "prometheus_range",
                {"prometheus_url": url, "queries": {"read": "read_p95"}, "start": start, "end": end},
            )
            read = result["series"]["read"]
            assert len(read["points"]) >= 118 and all(v == 0.5 for _t, v in read["points"]), (
                read["step"],
                read,
            )
    finally:
        server.close()


@pytest.mark.parametrize(("start", "end", "step"), [(0, 1800, 15.0), (0, 60, 1.0), (0, 12000, 100.0)])
def test_the_default_step_gives_about_120_points_and_at_least_a_second(
    start: float, end: float, step: float
) -> None:
    assert range_step(start, end) == step


def test_the_module_returns_each_series_and_the_error_of_a_query_prometheus_refuses(prometheus: str) -> None:
    result = run_module(
        "prometheus_range",
        {
            "prometheus_url": prometheus,
            "queries": {"read": "read_p95", "broken": "rate(x[)"},
            "start": T0,
            "end": T0 + 20,
            "step": 5,
        },
    )
    assert not result.get("failed") and result["changed"] is False
    assert result["series"]["read"] == {
        "points": [[T0, 0.012], [T0 + 5, 0.02], [T0 + 10, None], [T0 + 15, None], [T0 + 20, 0.03]],
        "step": 5.0,
        "error": None,
    }
    broken = result["series"]["broken"]
    assert broken["points"] == [] and "bad_data: parse error in rate(x[)" in broken["error"]


def test_an_unreachable_prometheus_is_a_gap_with_its_reason_not_a_failure() -> None:
    result = run_module(
        "prometheus_range",
        {
            "prometheus_url": "http://127.0.0.1:9",
            "queries": {"read": "up"},
            "start": T0,
            "end": T0 + 60,
        },
    )
    assert not result.get("failed")
    assert result["series"]["read"]["points"] == []
    assert result["series"]["read"]["error"].startswith("Prometheus did not answer: http://127.0.0.1:9/")


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    result = run_module("prometheus_range", {"queries": {}, "start": T0, "end": T0})
    assert result["failed"] and "must come after start" in result["msg"]
