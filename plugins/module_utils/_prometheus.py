# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the collection's Prometheus modules: the HTTP API's instant and range
queries, and the pure logic that reads their results."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class PrometheusError(Exception):
    """Prometheus could not be asked, or answered with an error."""


def prometheus_argument_spec() -> dict[str, dict[str, Any]]:
    """Connection options, documented in the intelgraph.ops.prometheus doc fragment."""
    return {
        "prometheus_url": {"type": "str", "default": "http://127.0.0.1:9090"},
        "timeout": {"type": "float", "default": 10.0},
    }


def api_get(base_url: str, path: str, params: dict[str, Any], timeout: float) -> Any:
    """GET an API path; return its `data`, raising PrometheusError on any failure."""
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            error = json.load(exc)
            detail = f"{error.get('errorType')}: {error.get('error')}"
        except ValueError:
            detail = exc.reason
        raise PrometheusError(f"{url}: HTTP {exc.code}: {detail}") from exc
    except (OSError, ValueError) as exc:
        raise PrometheusError(f"{url}: {exc}") from exc
    if body.get("status") != "success":
        raise PrometheusError(f"{url}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def instant(
    base_url: str, query: str, timeout: float = 10.0, at: float | None = None
) -> list[dict[str, Any]]:
    """An instant query: [{"metric": {labels}, "value": float, "time": float}, ...]."""
    params: dict[str, Any] = {"query": query}
    if at is not None:
        params["time"] = at
    data = api_get(base_url, "/api/v1/query", params, timeout)
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


def to_float(value: str) -> float:
    """Prometheus sends sample values as strings, NaN and +Inf included."""
    return float(value)


def finite_values(samples: list[dict[str, Any]]) -> list[float]:
    """The sample values that are numbers (NaN, as from a histogram with no observations, is
    not a measurement)."""
    return [s["value"] for s in samples if not math.isnan(s["value"]) and not math.isinf(s["value"])]
