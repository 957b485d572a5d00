# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the collection's Prometheus modules: the HTTP API's instant and range
queries, and the pure logic that reads their results."""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_text, redact_url

# The TLS options of prometheus_argument_spec(), as open_url() takes them.
TLS_OPTIONS = ("validate_certs", "ca_path", "client_cert", "client_key")


class PrometheusError(Exception):
    """Prometheus could not be asked, or answered with an error."""


def prometheus_argument_spec() -> dict[str, dict[str, Any]]:
    """Connection options, documented in the intelgraph.ops.prometheus doc fragment."""
    return {
        "prometheus_url": {"type": "str", "default": "http://127.0.0.1:9090"},
        "timeout": {"type": "float", "default": 10.0},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path", "no_log": False},
    }


def tls_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The TLS options of a module's parameters, for open_url()."""
    return {name: params.get(name) for name in TLS_OPTIONS if params.get(name) is not None}


def api_get(
    base_url: str, path: str, params: dict[str, Any], timeout: float, tls: Mapping[str, Any] | None = None
) -> Any:
    """GET an API path; return its `data`, raising PrometheusError on any failure. Errors show
    the URL without its secrets (a user:password@ of a Prometheus behind basic auth)."""
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    shown = redact_url(url)
    try:
        with open_url(url, method="GET", timeout=timeout, **dict(tls or {})) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            error = json.load(exc)
            detail = f"{error.get('errorType')}: {error.get('error')}"
        except ValueError:
            detail = exc.reason
        raise PrometheusError(f"{shown}: HTTP {exc.code}: {detail}") from exc
    except (OSError, ValueError, UrlsConnectionError) as exc:  # no answer, a TLS failure, not JSON
        raise PrometheusError(f"{shown}: {redact_text(str(exc))}") from exc
    if body.get("status") != "success":
        raise PrometheusError(f"{shown}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def instant(
    base_url: str,
    query: str,
    timeout: float = 10.0,
    at: float | None = None,
    tls: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """An instant query: [{"metric": {labels}, "value": float, "time": float}, ...]."""
    params: dict[str, Any] = {"query": query}
    if at is not None:
        params["time"] = at
    data = api_get(base_url, "/api/v1/query", params, timeout, tls)
    if data.get("resultType") == "scalar":
        ts, value = data["result"]
        return [{"metric": {}, "value": to_float(value), "time": float(ts)}]
    return [
        {
            "metric": item.get("metric", {}),
            "value": to_float(item["value"][1]),
            "time": float(item["value"][0]),
        }
        for item in data.get("result", [])
    ]


def millis(seconds: float) -> int:
    """Seconds as whole milliseconds, Prometheus' resolution for times and steps."""
    return round(seconds * 1000)


def rfc3339(ms: int) -> str:
    """A time in milliseconds as Prometheus reads it exactly (RFC 3339, UTC)."""
    whole, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{frac:03d}Z"


def query_range(
    base_url: str,
    query: str,
    start: float,
    end: float,
    step: float,
    timeout: float = 10.0,
    tls: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """A range query: [{"metric": {labels}, "values": [[time, float], ...]}, ...]. The range and
    step go to the millisecond, as RFC 3339 times and a step in milliseconds: Prometheus cuts a
    step given in seconds to whole nanoseconds, then milliseconds (2.058 s becomes 2.057 s), and
    its points would drift off the grid range_points() puts them on."""
    params = {
        "query": query,
        "start": rfc3339(millis(start)),
        "end": rfc3339(millis(end)),
        "step": f"{millis(step)}ms",
    }
    data = api_get(base_url, "/api/v1/query_range", params, timeout, tls)
    return [
        {
            "metric": item.get("metric", {}),
            "values": [[float(t), to_float(v)] for t, v in item.get("values", [])],
        }
        for item in data.get("result", [])
    ]


def range_step(start: float, end: float, points: int = 120, least: float = 1.0) -> float:
    """A step giving about `points` points from start to end, and no less than `least` seconds."""
    return max(least, round((end - start) / points, 3))


def range_points(result: list[dict[str, Any]], start: float, end: float, step: float) -> list[list[Any]]:
    """The points of a one-series range result on the query's own grid (start, start + step, ...
    up to end, to the millisecond): [time, value], the value None where Prometheus has none (no
    sample, or NaN as from a histogram without observations), so a gap stays a gap. A sample is
    put on the grid's nearest time, so a backend that aligns its steps otherwise still lands on
    it; one outside the range is left out. A query with several series is read by its highest
    value at each time (the worst, for the gates' latencies and rates)."""
    first, step_ms = millis(start), millis(step)
    count = (millis(end) - first) // step_ms + 1
    found: dict[int, float] = {}
    for series in result:
        for ts, value in series.get("values", []):
            index = round((millis(float(ts)) - first) / step_ms)
            if math.isnan(value) or math.isinf(value) or not 0 <= index < count:
                continue
            found[index] = max(value, found.get(index, value))
    return [[(first + index * step_ms) / 1000, found.get(index)] for index in range(count)]


def to_float(value: str) -> float:
    """Prometheus sends sample values as strings, NaN and +Inf included."""
    return float(value)


def finite_values(samples: list[dict[str, Any]]) -> list[float]:
    """The sample values that are numbers (NaN, as from a histogram with no observations, is
    not a measurement)."""
    return [s["value"] for s in samples if not math.isnan(s["value"]) and not math.isinf(s["value"])]


# --- series presence and age -----------------------------------------------------------

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The series a metric is exported as: itself, or a histogram's or summary's parts.
METRIC_SUFFIXES = ("_bucket", "_count", "_sum")


def quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _matchers(matchers: dict[str, str] | None) -> list[str]:
    parts = []
    for name, value in sorted((matchers or {}).items()):
        if not LABEL_NAME.match(name) or name == "__name__":
            raise ValueError(f"'{name}' is not a label name to match on")
        parts.append(f"{name}={quote(str(value))}")
    return parts


def series_selector(metric: str, matchers: dict[str, str] | None = None) -> str:
    """A selector of every series of a metric: the name itself or with a histogram's or
    summary's suffix, narrowed by label equality matchers."""
    if not METRIC_NAME.match(metric):
        raise ValueError(f"'{metric}' is not a Prometheus metric name")
    parts = [f'__name__=~"{metric}(?:{"|".join(METRIC_SUFFIXES)})?"', *_matchers(matchers)]
    return "{" + ", ".join(parts) + "}"


def series_names_query(metric: str, matchers: dict[str, str] | None = None) -> str:
    """The names the metric's series carry (e.g. x_bucket, x_count, x_sum of a histogram x)."""
    return f"count by (__name__) ({series_selector(metric, matchers)})"


def check_label(label: str) -> str:
    """The label name, if it is one."""
    if not LABEL_NAME.match(label) or label == "__name__":
        raise ValueError(f"'{label}' is not a label name")
    return label


def newest_sample_query(name: str, label: str, matchers: dict[str, str] | None = None) -> str:
    """The time of the newest sample of the series named name, per value of label. One name
    at a time: timestamp() drops the name, so a histogram's _count and _sum would collide."""
    if not METRIC_NAME.match(name):
        raise ValueError(f"'{name}' is not a Prometheus metric name")
    check_label(label)
    selector = "{" + ", ".join([f"__name__={quote(name)}", *_matchers(matchers)]) + "}"
    return f"max by ({label}) (timestamp({selector}))"


def sample_ages(samples: list[dict[str, Any]], label: str) -> dict[str, float]:
    """{label value: seconds between its newest sample and the query's evaluation time} from
    the answer of newest_sample_query (each sample's value is a sample timestamp)."""
    ages: dict[str, float] = {}
    for sample in samples:
        owner = sample["metric"].get(label)
        if owner is None or math.isnan(sample["value"]):
            continue
        ages[owner] = round(max(0.0, sample["time"] - sample["value"]), 3)
    return ages


def merge_ages(*ages: dict[str, float]) -> dict[str, float]:
    """Per owner, the youngest of several ages (its newest sample over several series names)."""
    merged: dict[str, float] = {}
    for one in ages:
        for owner, age in one.items():
            merged[owner] = min(age, merged.get(owner, age))
    return merged


def read_sample_ages(
    base_url: str,
    metric: str,
    label: str,
    matchers: dict[str, str] | None = None,
    timeout: float = 10.0,
    tls: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Ask Prometheus, per value of label, for the age of the newest sample of the metric."""
    named = instant(base_url, series_names_query(metric, matchers), timeout, tls=tls)
    names = sorted({s["metric"]["__name__"] for s in named if s["metric"].get("__name__")})
    return merge_ages(
        *(
            sample_ages(instant(base_url, newest_sample_query(n, label, matchers), timeout, tls=tls), label)
            for n in names
        )
    )


def judge_series(
    ages: dict[str, float], expected: list[str], max_age: float
) -> tuple[list[str], dict[str, float], dict[str, float]]:
    """(missing, stale, fresh): the expected owners without a series, those whose newest
    sample is older than max_age seconds (with its age), and the fresh ones."""
    missing = [owner for owner in expected if owner not in ages]
    stale = {o: ages[o] for o in expected if o in ages and ages[o] > max_age}
    fresh = {o: ages[o] for o in expected if o in ages and ages[o] <= max_age}
    return missing, stale, fresh


def describe_series(
    metric: str, label: str, missing: list[str], stale: dict[str, float], max_age: float
) -> str:
    """What is wrong with a metric's series, in one sentence."""
    problems = []
    if missing:
        problems.append(f"no series for {label}={', '.join(missing)}")
    if stale:
        olds = ", ".join(f"{owner} ({age:.0f}s old)" for owner, age in sorted(stale.items()))
        problems.append(f"newest sample older than {max_age:g}s for {label}={olds}")
    return f"{metric}: {'; '.join(problems) or 'fresh for every expected ' + label}"


def wait_for_series(
    read_ages: Callable[[], dict[str, float]],
    expected: list[str],
    max_age: float,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, float], list[str], dict[str, float], float]:
    """Ask read_ages() every interval until every expected owner has a fresh series or timeout
    seconds passed; return (ages, missing, stale, seconds waited) of the last answer."""
    started = clock()
    while True:
        ages = read_ages()
        missing, stale, _fresh = judge_series(ages, expected, max_age)
        elapsed = clock() - started
        if (not missing and not stale) or elapsed >= timeout:
            return ages, missing, stale, elapsed
        sleep(max(0.0, min(interval, timeout - elapsed)))
