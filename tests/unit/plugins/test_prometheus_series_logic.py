"""intelgraph.ops.prometheus_series: the queries it asks and how it judges the age of samples."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    check_label,
    describe_series,
    judge_series,
    merge_ages,
    newest_sample_query,
    read_sample_ages,
    sample_ages,
    series_names_query,
    series_selector,
    wait_for_series,
)
from conftest import serve_prometheus


def test_series_selector_covers_a_histogram_and_narrows_by_labels() -> None:
    assert series_selector("subscription_latency_seconds") == (
        '{__name__=~"subscription_latency_seconds(?:_bucket|_count|_sum)?"}'
    )
    assert series_selector("up", {"job": "intelgraph-api", "env": 'a"b\\c'}) == (
        '{__name__=~"up(?:_bucket|_count|_sum)?", env="a\\"b\\\\c", job="intelgraph-api"}'
    )


def test_queries() -> None:
    assert series_names_query("x") == 'count by (__name__) ({__name__=~"x(?:_bucket|_count|_sum)?"})'
    assert newest_sample_query("x_count", "host", {"job": "api"}) == (
        'max by (host) (timestamp({__name__="x_count", job="api"}))'
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: series_selector("bad-name"), "not a Prometheus metric name"),
        (lambda: series_selector("x", {"bad-label": "v"}), "not a label name"),
        (lambda: series_selector("x", {"__name__": "y"}), "not a label name"),
        (lambda: newest_sample_query("x", "1host"), "not a label name"),
        (lambda: check_label("__name__"), "not a label name"),
    ],
)
def test_bad_names_are_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_sample_ages_are_measured_against_the_evaluation_time() -> None:
    samples = [
        {"metric": {"host": "api1"}, "value": 1000.0, "time": 1002.5},
        {"metric": {"host": "api2"}, "value": 900.0, "time": 1002.5},
        {"metric": {"host": "api3"}, "value": 1003.0, "time": 1002.5},  # a clock ahead: age 0
        {"metric": {}, "value": 1000.0, "time": 1002.5},  # no host label
        {"metric": {"host": "api4"}, "value": math.nan, "time": 1002.5},
    ]
    assert sample_ages(samples, "host") == {"api1": 2.5, "api2": 102.5, "api3": 0.0}


def test_merge_keeps_the_newest_sample_per_owner() -> None:
    assert merge_ages({"api1": 30.0, "api2": 4.0}, {"api1": 2.0}, {"api3": 9.0}) == {
        "api1": 2.0,
        "api2": 4.0,
        "api3": 9.0,
    }


@pytest.mark.parametrize(
    ("ages", "missing", "stale"),
    [
        ({"api1": 1.0, "api2": 59.9, "api3": 60.0}, [], {}),
        ({"api1": 1.0, "api3": 2.0}, ["api2"], {}),
        ({"api1": 1.0, "api2": 61.0, "api3": 2.0}, [], {"api2": 61.0}),
        ({}, ["api1", "api2", "api3"], {}),
        ({"api1": 1.0, "api2": 1.0, "api3": 1.0, "ingest1": 500.0}, [], {}),  # not expected
    ],
)
def test_judge_series(ages: dict[str, float], missing: list[str], stale: dict[str, float]) -> None:
    got_missing, got_stale, fresh = judge_series(ages, ["api1", "api2", "api3"], 60)
    assert (got_missing, got_stale) == (missing, stale)
    assert set(fresh) == {"api1", "api2", "api3"} - set(missing) - set(stale)


def test_describe_series_names_every_host() -> None:
    text = describe_series("subscription_latency_seconds", "host", ["api2", "api3"], {"api1": 75.2}, 60)
    assert text == (
        "subscription_latency_seconds: no series for host=api2, api3; "
        "newest sample older than 60s for host=api1 (75s old)"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_for_series_until_every_host_is_fresh() -> None:
    clock = Clock()
    answers = iter([{"api1": 1.0}, {"api1": 1.0, "api2": 90.0}, {"api1": 1.0, "api2": 3.0}])
    ages, missing, stale, elapsed = wait_for_series(
        lambda: next(answers), ["api1", "api2"], 60, timeout=30, interval=5, clock=clock, sleep=clock.sleep
    )
    assert (ages, missing, stale, elapsed) == ({"api1": 1.0, "api2": 3.0}, [], {}, 10.0)


def test_wait_for_series_gives_up_at_the_timeout() -> None:
    clock = Clock()
    ages, missing, stale, elapsed = wait_for_series(
        lambda: {"api1": 1.0, "api2": 75.0},
        ["api1", "api2"],
        60,
        timeout=12,
        interval=5,
        clock=clock,
        sleep=clock.sleep,
    )
    assert (ages, missing, stale, elapsed) == ({"api1": 1.0, "api2": 75.0}, [], {"api2": 75.0}, 12.0)


def test_wait_for_series_with_no_timeout_asks_once() -> None:
    clock = Clock()
    calls = []
    wait_for_series(
        lambda: calls.append(1) or {}, ["api1"], 60, timeout=0, interval=5, clock=clock, sleep=clock.sleep
    )
    assert calls == [1]


# --- against an HTTP server answering like Prometheus ------------------------------------

NOW = 1700000100.0
SERIES = {  # name -> {host: timestamp of its newest sample}
    "subscription_latency_seconds_bucket": {"api1": NOW - 3, "api2": NOW - 8},
    "subscription_latency_seconds_count": {"api1": NOW - 2, "api2": NOW - 7},
    "subscription_latency_seconds_sum": {"api1": NOW - 2, "api2": NOW - 7},
}


def answer(query: str) -> tuple[int, dict]:
    if query.startswith("count by (__name__)"):
        result = [{"metric": {"__name__": name}, "value": [NOW, "2"]} for name in SERIES]
    else:
        name = next(n for n in SERIES if f'__name__="{n}"' in query)
        result = [{"metric": {"host": h}, "value": [NOW, repr(ts)]} for h, ts in SERIES[name].items()]
    return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    yield from serve_prometheus(answer)


def test_read_sample_ages_takes_the_newest_of_every_series_name(prometheus: str) -> None:
    assert read_sample_ages(prometheus, "subscription_latency_seconds", "host") == {"api1": 2.0, "api2": 7.0}
