"""Prometheus text rendering, checked by parsing the output back."""

from __future__ import annotations

import math

import pytest
from intelgraph.metrics import Registry, escape_label_value, format_value
from sandbox_promtext import parse


def test_counter_gauge_histogram_round_trip() -> None:
    registry = Registry()
    requests = registry.counter("app_requests_total", "Requests.", ["kind", "code"])
    gauge = registry.gauge("app_ratio", "A ratio.")
    hist = registry.histogram("app_duration_seconds", "Durations.", ["kind"], buckets=(0.1, 1.0))
    requests.inc(kind="read", code="200")
    requests.inc(2, kind="read", code="200")
    requests.inc(kind="write", code="503")
    gauge.set(0.25)
    for value in (0.05, 0.1, 0.5, 3.0):
        hist.observe(value, kind="read")
    hist.touch(kind="write")

    types, samples = parse(registry.render())

    assert types == {
        "app_requests_total": "counter",
        "app_ratio": "gauge",
        "app_duration_seconds": "histogram",
    }
    assert samples[("app_requests_total", (("code", "200"), ("kind", "read")))] == 3
    assert samples[("app_requests_total", (("code", "503"), ("kind", "write")))] == 1
    assert samples[("app_ratio", ())] == 0.25
    read = (("kind", "read"),)
    assert samples[("app_duration_seconds_bucket", (("kind", "read"), ("le", "0.1")))] == 2
    assert samples[("app_duration_seconds_bucket", (("kind", "read"), ("le", "1")))] == 3
    assert samples[("app_duration_seconds_bucket", (("kind", "read"), ("le", "+Inf")))] == 4
    assert samples[("app_duration_seconds_count", read)] == 4
    assert samples[("app_duration_seconds_sum", read)] == pytest.approx(3.65)
    assert samples[("app_duration_seconds_count", (("kind", "write"),))] == 0
    assert samples[("app_duration_seconds_bucket", (("kind", "write"), ("le", "+Inf")))] == 0


def test_render_ends_with_newline_and_has_help() -> None:
    registry = Registry()
    registry.counter("x_total", "Line one\nline two.")
    text = registry.render()
    assert text.endswith("\n")
    assert "# HELP x_total Line one\\nline two." in text
    assert "x_total 0" in text


@pytest.mark.parametrize(
    ("raw", "escaped"), [('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), ("plain", "plain")]
)
def test_label_escaping_round_trips(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped
    registry = Registry()
    registry.gauge("g", "G.", ["v"]).set(1, v=raw)
    _, samples = parse(registry.render())
    assert samples == {("g", (("v", raw),)): 1}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.25, "0.25"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (2.5e-07, "2.5e-07"),
    ],
)
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text


def test_wrong_labels_and_duplicates_are_errors() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "C.", ["kind"])
    with pytest.raises(ValueError):
        counter.inc(code="200")
    with pytest.raises(ValueError):
        counter.inc(-1, kind="read")
    with pytest.raises(ValueError):
        registry.counter("c_total", "again")


def test_histogram_buckets_are_cumulative_and_monotonic() -> None:
    registry = Registry()
    hist = registry.histogram("h", "H.")
    for i in range(100):
        hist.observe(i / 10)
    _, samples = parse(registry.render())
    buckets = sorted(
        (float(dict(labels)["le"]), value) for (name, labels), value in samples.items() if name == "h_bucket"
    )
    counts = [value for _, value in buckets]
    assert counts == sorted(counts)
    assert buckets[-1] == (math.inf, 100)
