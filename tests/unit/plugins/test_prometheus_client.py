"""intelgraph.ops Prometheus client: queries against a real HTTP server on loopback."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    PrometheusError,
    finite_values,
    instant,
)
from conftest import serve_prometheus

ANSWERS = {
    "up": {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"host": "api1"}, "value": [1700000000.5, "1"]},
                {"metric": {"host": "api2"}, "value": [1700000000.5, "NaN"]},
            ],
        },
    },
    "scalar(1)": {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "1"]}},
}


def answer(query: str) -> tuple[int, dict]:
    if query in ANSWERS:
        return 200, ANSWERS[query]
    return 400, {"status": "error", "errorType": "bad_data", "error": f"parse error in {query}"}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    yield from serve_prometheus(answer)


def test_vector_samples_carry_labels_and_float_values(prometheus: str) -> None:
    samples = instant(prometheus, "up")
    assert [s["metric"]["host"] for s in samples] == ["api1", "api2"]
    assert samples[0]["value"] == 1.0
    assert math.isnan(samples[1]["value"])
    assert finite_values(samples) == [1.0]


def test_scalar_result(prometheus: str) -> None:
    assert instant(prometheus, "scalar(1)") == [{"metric": {}, "value": 1.0, "time": 1700000000.0}]


def test_error_names_the_cause(prometheus: str) -> None:
    with pytest.raises(PrometheusError, match="bad_data: parse error in rate\\(x\\[\\)"):
        instant(prometheus, "rate(x[)")


def test_unreachable_server_is_an_error() -> None:
    with pytest.raises(PrometheusError, match=r"127\.0\.0\.1:9"):
        instant("http://127.0.0.1:9", "up", timeout=1)
