"""intelgraph.ops.slo_gate run by ansible against a Prometheus API served on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import run_module, serve_prometheus

SERIES = {
    "read_p95": [{"metric": {}, "value": [1700000000, "0.012"]}],
    "two_hosts": [
        {"metric": {"host": "api1"}, "value": [1, "0.01"]},
        {"metric": {"host": "api2"}, "value": [1, "0.2"]},
    ],
    "empty": [],
    "nan": [{"metric": {}, "value": [1, "NaN"]}],
}


def answer(query: str) -> tuple[int, dict]:
    if query in SERIES:
        return 200, {"status": "success", "data": {"resultType": "vector", "result": SERIES[query]}}
    return 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    yield from serve_prometheus(answer)


def gate(prometheus: str, gates: list[dict], **extra: object) -> dict:
    return run_module(
        "slo_gate", {"prometheus_url": prometheus, "window": 2, "interval": 1, "gates": gates, **extra}
    )


def test_gates_within_target_pass_with_every_value(prometheus: str) -> None:
    result = gate(prometheus, [{"name": "read_p95", "query": "read_p95", "threshold": 0.3}])
    assert result.get("failed") is not True, result.get("msg")
    assert result["passed"] is True
    (read,) = result["gates"]
    assert read["status"] == "pass"
    assert read["values"] == [0.012, 0.012, 0.012]


def test_impossible_target_fails_naming_query_and_value(prometheus: str) -> None:
    result = gate(prometheus, [{"name": "read_p95", "query": "read_p95", "threshold": 0.001}])
    assert result["failed"] is True
    assert "gate read_p95 failed" in result["msg"]
    assert "'read_p95'" in result["msg"]
    assert "0.012" in result["msg"]


def test_worst_series_decides(prometheus: str) -> None:
    result = gate(prometheus, [{"name": "p95", "query": "two_hosts", "threshold": 0.1}])
    assert result["failed"] is True
    assert result["gates"][0]["worst"] == 0.2


@pytest.mark.parametrize("query", ["empty", "nan"])
def test_no_data_is_inconclusive_and_stops(prometheus: str, query: str) -> None:
    result = gate(prometheus, [{"name": "sub_p95", "query": query, "threshold": 1.0}])
    assert result["failed"] is True
    assert result["gates"][0]["status"] == "inconclusive"
    assert "inconclusive" in result["msg"]


def test_inconclusive_can_be_reported_without_failing(prometheus: str) -> None:
    result = gate(
        prometheus, [{"name": "sub_p95", "query": "empty", "threshold": 1.0}], fail_on_inconclusive=False
    )
    assert result.get("failed") is not True
    assert result["passed"] is False


def test_a_bad_query_is_named(prometheus: str) -> None:
    result = gate(prometheus, [{"name": "typo", "query": "rate(x[", "threshold": 1.0}])
    assert result["failed"] is True
    assert "rejected the query 'rate(x['" in result["msg"]


def test_check_mode_evaluates_once(prometheus: str) -> None:
    result = run_module(
        "slo_gate",
        {
            "prometheus_url": prometheus,
            "window": 600,
            "interval": 1,
            "gates": [{"name": "r", "query": "read_p95", "threshold": 1}],
        },
        check=True,
    )
    assert result["gates"][0]["evaluations"] == 1
