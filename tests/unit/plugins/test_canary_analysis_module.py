"""intelgraph.ops.canary_analysis run by ansible against a Prometheus API served on loopback, which
answers each query by the hosts its regex names, and a load balancer on loopback that counts the
load it is sent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from conftest import run_module, run_tasks, serve_http, serve_prometheus

CANARY = ["api1"]
BASELINE = ["api2", "api3"]
QUERY = re.compile(r'^max\(max_over_time\((\w+)\{host=~"([^"]*)"\}\[10s\]\)\)$')
# Per metric, per hosts regex the query carries: the vector Prometheus answers.
SERIES = {
    "read_p95": {"api1": "0.0041", "api2|api3": "0.0039"},
    "error_rate": {"api1": "0.051", "api2|api3": "0.05"},
    "slow_p95": {"api1": "0.312", "api2|api3": "0.04"},
    "fresh_p95": {"api1": "0.01"},  # the hosts on the previous release have no series
}


def answer(query: str) -> tuple[int, dict]:
    matched = QUERY.match(query)
    if not matched:
        return 400, {"status": "error", "errorType": "bad_data", "error": f"unexpected query {query}"}
    value = SERIES.get(matched[1], {}).get(matched[2])
    result = [] if value is None else [{"metric": {}, "value": [1796521000, value]}]
    return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    yield from serve_prometheus(answer)


def metric(name: str, compare: str = "ratio", limit: float = 1.5, **extra: object) -> dict:
    query = "max(max_over_time(" + name + '{$label=~"$hosts"}[$window]))'
    return {"name": name, "query": query, "compare": compare, "limit": limit, "unit": "s", **extra}


def analysis(prometheus: str, metrics: list[dict], **extra: object) -> dict:
    args = {"prometheus_url": prometheus, "canary": CANARY, "baseline": BASELINE, "bake": 0, "window": 10}
    return {**args, "metrics": metrics, **extra}


@pytest.fixture(scope="module")
def results(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The module's cases, as tasks of one play (one ansible-playbook run)."""
    slow = metric("slow_p95", limit_name="rollout_canary_max_ratio")
    cases = {
        "passing": analysis(
            prometheus, [metric("read_p95"), metric("error_rate", "delta", 0.01, unit="")], bake=1
        ),
        "slow canary": analysis(prometheus, [metric("read_p95"), slow]),
        "no baseline data": analysis(prometheus, [metric("fresh_p95")]),
        "unreachable": analysis("http://127.0.0.1:9", [metric("read_p95")]),
        "reported": analysis(prometheus, [slow], fail_on_failure=False),
        "a host on both sides": analysis(prometheus, [metric("read_p95")], baseline=["api1", "api2"]),
        "no metric": analysis(prometheus, []),
    }
    tasks = [
        {"name": name, "intelgraph.ops.canary_analysis": args, "ignore_errors": True}
        for name, args in cases.items()
    ]
    tasks.append(
        {
            "name": "check mode",
            "intelgraph.ops.canary_analysis": analysis(prometheus, [slow], bake=600),
            "check_mode": True,
        }
    )
    return run_tasks(tasks, tmp_path_factory.mktemp("canary"))


def test_a_canary_like_the_previous_release_passes(results: dict[str, dict]) -> None:
    result = results["passing"]
    assert result.get("failed") is not True, result.get("msg")
    assert result["passed"] is True and result["changed"] is False
    read, errors = result["metrics"]
    assert read == {
        "name": "read_p95",
        "compare": "ratio",
        "unit": "s",
        "limit": 1.5,
        "limit_name": "",
        "floor": 0.0,
        "canary": 0.0041,
        "baseline": 0.0039,
        "score": pytest.approx(0.0041 / 0.0039),
        "status": "pass",
        "reason": "read_p95 on the canary (api1) 0.0041 s, on the previous release (api2, api3) 0.0039 s: "
        "1.05 times, at most 1.5",
    }
    assert errors["status"] == "pass" and errors["score"] == pytest.approx(0.001)
    assert errors["reason"].endswith(
        "0.051, on the previous release (api2, api3) 0.05: 0.001 above, at most 0.01"
    )
    assert result["msg"] == (
        "The canary (api1) passed every comparison with the hosts on the previous release (api2, api3) "
        "after a bake of 1 s: read_p95, error_rate"
    )
    assert (result["canary"], result["baseline"], result["bake"], result["window"]) == (
        CANARY,
        BASELINE,
        1,
        10,
    )
    assert result["load"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result["started_at"])
    assert result["ended_at"] > result["started_at"]  # the bake of a second was waited out


def test_a_slow_canary_fails_naming_the_metric_and_both_values(results: dict[str, dict]) -> None:
    result = results["slow canary"]
    assert result["failed"] is True and result["passed"] is False
    assert [m["status"] for m in result["metrics"]] == ["pass", "fail"]
    assert result["msg"] == (
        "slow_p95 on the canary (api1) was 0.312 s, 7.8 times the 0.04 s of the hosts on the previous "
        "release (api2, api3): more than rollout_canary_max_ratio (1.5)"
    )
    slow = result["metrics"][1]
    assert (slow["canary"], slow["baseline"], slow["score"]) == (0.312, 0.04, pytest.approx(7.8))


def test_no_data_for_the_previous_release_is_not_a_pass(results: dict[str, dict]) -> None:
    result = results["no baseline data"]
    assert result["failed"] is True and result["passed"] is False
    (fresh,) = result["metrics"]
    assert (fresh["status"], fresh["canary"], fresh["baseline"], fresh["score"]) == (
        "nodata",
        0.01,
        None,
        None,
    )
    assert (
        result["msg"]
        == "fresh_p95: no data for the hosts on the previous release (api2, api3) over the last 10 s"
    )


def test_an_unreachable_prometheus_is_nodata_with_its_reason(results: dict[str, dict]) -> None:
    result = results["unreachable"]
    assert result["failed"] is True and result["passed"] is False
    assert result["metrics"][0]["status"] == "nodata"
    assert result["msg"].startswith("read_p95: Prometheus did not answer: http://127.0.0.1:9/api/v1/query?")


def test_a_failure_can_be_reported_without_failing(results: dict[str, dict]) -> None:
    result = results["reported"]
    assert result.get("failed") is not True
    assert result["passed"] is False
    assert result["metrics"][0]["status"] == "fail"
    assert "7.8 times the 0.04 s" in result["msg"]


def test_check_mode_judges_nothing_and_does_not_wait(results: dict[str, dict]) -> None:
    result = results["check mode"]
    assert result.get("failed") is not True
    assert (result["changed"], result["passed"], result["skipped"]) == (False, True, True)
    assert result["msg"] == "check mode: the canary is not judged"
    assert result["metrics"] == [] and result["load"] is None
    assert result["started_at"] == result["ended_at"]


def test_a_host_on_both_sides_is_refused(results: dict[str, dict]) -> None:
    result = results["a host on both sides"]
    assert result["failed"] is True
    assert result["msg"] == "a host cannot be both canary and baseline: api1"


def test_nothing_to_compare_is_refused(results: dict[str, dict]) -> None:
    result = results["no metric"]
    assert result["failed"] is True and "metrics list a metric" in result["msg"]


# --- the load ------------------------------------------------------------------------------


@pytest.fixture
def balancer() -> Iterator[SimpleNamespace]:
    """A load balancer answering 500 on /api/broken and 200 elsewhere, recording each request."""
    received: list[dict] = []

    def answer(path: str) -> tuple[int, str, bytes]:
        return (500, "text/plain", b"broken") if path == "/api/broken" else (200, "text/plain", b"ok")

    for base in serve_http(answer, received):
        yield SimpleNamespace(url=f"{base}/api", received=received)


def test_the_load_is_sent_during_the_bake_and_counted(prometheus: str, balancer: SimpleNamespace) -> None:
    load = {
        "url": balancer.url,
        "rate": 20,
        "requests": [
            {"path": "/search?q=status", "headers": {"X-Load": "canary"}},
            {"method": "POST", "path": "/lookup", "body": {"ids": ["e-1"]}},
            {"path": "/broken"},
        ],
    }
    result = run_module("canary_analysis", analysis(prometheus, [metric("read_p95")], bake=1, load=load))
    assert result.get("failed") is not True, result.get("msg")
    received = balancer.received
    # At most 20 a second for a second, each of the three in turn; the module's counts are what the
    # balancer served. They go out from a pool of threads, so they may arrive in another order, and a
    # request not started by the end of the bake is not sent: on a busy machine (the suite's lanes
    # beside it) fewer go out. The pace and the order of sending are test_canary_logic's
    # (test_the_load_goes_in_turn_at_its_rate_...); here, each request as the options describe it.
    assert 3 <= len(received) <= 20
    kinds = {(r["method"], r["path"]) for r in received}
    assert kinds == {("GET", "/api/search?q=status"), ("POST", "/api/lookup"), ("GET", "/api/broken")}
    search = next(r for r in received if r["path"] == "/api/search?q=status")
    lookup = next(r for r in received if r["path"] == "/api/lookup")
    assert search["headers"]["X-Load"] == "canary" and search["body"] == b""
    assert lookup["headers"]["Content-Type"] == "application/json"
    assert json.loads(lookup["body"]) == {"ids": ["e-1"]}
    broken = sum(1 for r in received if r["path"] == "/api/broken")
    assert result["load"] == {
        "sent": len(received),
        "answered": len(received),
        "errors_5xx": broken,
        "unanswered": 0,
        "by_status": {"200": len(received) - broken, "500": broken},
    }
