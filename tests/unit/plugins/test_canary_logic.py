"""intelgraph.ops canary analysis: the queries per side, the comparisons, their reasons, and the
load sent during the bake."""

from __future__ import annotations

import json
import math
import threading

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._canary import (
    FAIL,
    NODATA,
    PASS,
    Comparison,
    LoadCounts,
    LoadRequest,
    LoadTarget,
    hosts_regex,
    number,
    render,
    send_load,
    summary,
    vector_value,
    with_unit,
)

CANARY = ["api1"]
BASELINE = ["api2", "api3"]


def samples(*values: float) -> list[dict]:
    return [{"metric": {}, "value": v, "time": 0.0} for v in values]


def ratio(limit: float = 1.5, floor: float = 0.0, unit: str = "s", limit_name: str = "") -> Comparison:
    return Comparison("read_p95", "q", "ratio", limit, floor, unit, limit_name)


def delta(limit: float = 0.01, unit: str = "", limit_name: str = "") -> Comparison:
    return Comparison("error_rate", "q", "delta", limit, 0.0, unit, limit_name)


def judge(comparison: Comparison, canary: float | None, baseline: float | None) -> dict:
    return comparison.judge(canary, baseline, CANARY, BASELINE, 10)


# --- the queries ---------------------------------------------------------------------------


def test_the_hosts_are_an_alternation_of_escaped_names_in_a_promql_string() -> None:
    assert hosts_regex(["api1"]) == "api1"
    assert hosts_regex(["api2", "api3"]) == "api2|api3"
    # re.escape's backslashes, doubled for the PromQL string: the regex Prometheus reads is api\-1\.prod.
    assert hosts_regex(["api-1.prod", "api2"]) == r"api\\-1\\.prod|api2"
    assert hosts_regex(["a+b"]) == r"a\\+b"


def test_render_replaces_hosts_window_and_label() -> None:
    query = 'sum(rate(x{$label=~"$hosts", kind="read"}[$window])) / sum(rate(y{$label=~"$hosts"}[$window]))'
    assert render(query, BASELINE, 60) == (
        'sum(rate(x{host=~"api2|api3", kind="read"}[60s])) / sum(rate(y{host=~"api2|api3"}[60s]))'
    )
    assert render('x{instance=~"$hosts"}', CANARY, 1, label="instance") == 'x{instance=~"api1"}'
    assert render('x{$label=~"$hosts"}', CANARY, 5, label="node") == 'x{node=~"api1"}'


def test_render_refuses_what_is_not_a_label() -> None:
    with pytest.raises(ValueError, match="not a label name"):
        render('x{$label=~"$hosts"}', CANARY, 5, label="host name")


@pytest.mark.parametrize(
    ("values", "value"),
    [
        ((0.25,), 0.25),
        ((0.25, 0.5), 0.75),  # several series are added up
        ((math.nan, 0.5), 0.5),
        ((), None),
        ((math.nan,), None),
        ((math.inf,), None),
        ((-math.inf, math.nan), None),
        ((0.0,), 0.0),  # zero is a measurement, not no data
    ],
)
def test_vector_value(values: tuple[float, ...], value: float | None) -> None:
    assert vector_value(samples(*values)) == value


# --- the values as the operator reads them -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.312, "0.312"),
        (0.0041, "0.0041"),
        (0.04, "0.04"),
        (7.8, "7.8"),
        (1.0513, "1.05"),
        (0.15000000000000002, "0.15"),
        (1234.5, "1230"),
        (0.00000012345, "0.000000123"),
        (0.99951, "1"),
        (0, "0"),
        (-0.002, "-0.002"),
        (math.inf, "infinitely many"),
    ],
)
def test_numbers_have_three_significant_digits_and_no_exponent(value: float, text: str) -> None:
    assert number(value) == text


def test_a_unit_follows_the_number() -> None:
    assert with_unit(0.312, "s") == "0.312 s"
    assert with_unit(0.0041, "s") == "0.0041 s"
    assert with_unit(0.2, "") == "0.2"


# --- ratio -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("canary", "baseline", "floor", "score", "status"),
    [
        (0.0041, 0.0039, 0.0, 0.0041 / 0.0039, PASS),
        (0.06, 0.04, 0.0, 1.5, PASS),  # at the limit passes
        (0.312, 0.04, 0.0, 7.8, FAIL),
        (0.312, 0.04, 0.05, 6.24, FAIL),  # the baseline under the floor counts as the floor
        (0.03, 0.004, 0.05, 1.0, PASS),  # both under the floor: noise, a ratio of 1
        (0.0, 0.0, 0.0, 1.0, PASS),
        (0.3, 0.0, 0.0, math.inf, FAIL),
        (0.0, 0.2, 0.0, 0.0, PASS),
    ],
)
def test_ratio(canary: float, baseline: float, floor: float, score: float, status: str) -> None:
    result = judge(ratio(floor=floor), canary, baseline)
    assert result["status"] == status
    assert ratio(floor=floor).score(canary, baseline) == pytest.approx(score)
    # JSON has no infinity: the result carries null, the reason says it.
    assert result["score"] == (None if math.isinf(score) else pytest.approx(score))
    assert (result["canary"], result["baseline"]) == (canary, baseline)


@pytest.mark.parametrize(
    ("comparison", "canary", "baseline", "reason"),
    [
        (
            ratio(limit_name="rollout_canary_max_ratio"),
            0.312,
            0.04,
            "read_p95 on the canary (api1) was 0.312 s, 7.8 times the 0.04 s of the hosts on the previous "
            "release (api2, api3): more than rollout_canary_max_ratio (1.5)",
        ),
        (
            ratio(floor=0.05),
            0.312,
            0.04,
            "read_p95 on the canary (api1) was 0.312 s, 6.24 times the 0.04 s (counted as 0.05 s) of the hosts "
            "on the previous release (api2, api3): more than the limit (1.5)",
        ),
        (
            ratio(),
            0.3,
            0.0,
            "read_p95 on the canary (api1) was 0.3 s, infinitely many times the 0 s of the hosts on the "
            "previous release (api2, api3): more than the limit (1.5)",
        ),
        (
            delta(limit_name="rollout_canary_max_error_delta"),
            0.2,
            0.05,
            "error_rate on the canary (api1) was 0.2, 0.15 above the 0.05 of the hosts on the previous release "
            "(api2, api3): more than rollout_canary_max_error_delta (0.01)",
        ),
    ],
    ids=["ratio", "ratio above the floor", "ratio to zero", "delta"],
)
def test_a_failure_names_the_metric_both_values_the_hosts_and_the_limit(
    comparison: Comparison, canary: float, baseline: float, reason: str
) -> None:
    result = judge(comparison, canary, baseline)
    assert result["status"] == FAIL
    assert result["reason"] == reason


def test_a_passing_ratio_says_both_values_and_the_limit() -> None:
    assert judge(ratio(), 0.0041, 0.0039)["reason"] == (
        "read_p95 on the canary (api1) 0.0041 s, on the previous release (api2, api3) 0.0039 s: 1.05 times, "
        "at most 1.5"
    )
    floored = judge(ratio(floor=0.05), 0.0041, 0.0039)
    assert floored["reason"] == (
        "read_p95 on the canary (api1) 0.0041 s (counted as 0.05 s), on the previous release (api2, api3) "
        "0.0039 s (counted as 0.05 s): 1 times, at most 1.5"
    )


def test_a_floor_above_no_value_is_not_mentioned() -> None:
    assert "counted as" not in judge(ratio(floor=0.001), 0.312, 0.04)["reason"]


# --- delta -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("canary", "baseline", "status"),
    [(0.051, 0.05, PASS), (0.06, 0.05, PASS), (0.2, 0.05, FAIL), (0.0, 0.3, PASS), (0.0, 0.0, PASS)],
)
def test_delta(canary: float, baseline: float, status: str) -> None:
    result = judge(delta(), canary, baseline)
    assert result["status"] == status
    assert result["score"] == pytest.approx(canary - baseline)


def test_a_passing_delta_says_the_difference_and_the_limit_with_their_unit() -> None:
    assert judge(delta(), 0.051, 0.05)["reason"] == (
        "error_rate on the canary (api1) 0.051, on the previous release (api2, api3) 0.05: 0.001 above, at most 0.01"
    )
    seconds = judge(delta(limit=0.05, unit="s"), 0.1, 0.12)["reason"]
    assert seconds.endswith(
        "0.1 s, on the previous release (api2, api3) 0.12 s: 0.02 s below, at most 0.05 s"
    )


def test_the_floor_does_not_touch_a_delta() -> None:
    comparison = Comparison("error_rate", "q", "delta", 0.01, 0.5)
    assert comparison.score(0.2, 0.05) == pytest.approx(0.15)
    assert "counted as" not in judge(comparison, 0.2, 0.05)["reason"]


# --- no data -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("canary", "baseline", "missing"),
    [
        (None, 0.04, "the canary (api1)"),
        (0.04, None, "the hosts on the previous release (api2, api3)"),
        (None, None, "the canary (api1) and for the hosts on the previous release (api2, api3)"),
    ],
)
def test_no_data_on_either_side_is_nodata_and_says_which(
    canary: float | None, baseline: float | None, missing: str
) -> None:
    result = judge(ratio(), canary, baseline)
    assert result["status"] == NODATA
    assert result["score"] is None
    assert (result["canary"], result["baseline"]) == (canary, baseline)
    assert result["reason"] == f"read_p95: no data for {missing} over the last 10 s"


def test_an_unanswered_query_is_nodata_with_prometheus_s_error() -> None:
    result = ratio().unanswered("http://127.0.0.1:9/api/v1/query?query=q: [Errno 111] Connection refused")
    assert result["status"] == NODATA
    assert (result["canary"], result["baseline"], result["score"]) == (None, None, None)
    assert result["reason"] == (
        "read_p95: Prometheus did not answer: http://127.0.0.1:9/api/v1/query?query=q: [Errno 111] Connection refused"
    )
    refused = ratio().unanswered("http://p/api/v1/query?query=q: HTTP 400: bad_data: parse error")
    assert (
        refused["reason"]
        == "read_p95: Prometheus refused the query 'q': http://p/api/v1/query?query=q: HTTP 400: bad_data: parse error"
    )


def test_the_result_carries_what_the_comparison_was() -> None:
    result = judge(Comparison("read_p95", "q", "ratio", 2, 0.05, "s", "rollout_canary_max_ratio"), 0.1, 0.1)
    assert {k: result[k] for k in ("name", "compare", "unit", "limit", "limit_name", "floor")} == {
        "name": "read_p95",
        "compare": "ratio",
        "unit": "s",
        "limit": 2.0,
        "limit_name": "rollout_canary_max_ratio",
        "floor": 0.05,
    }


@pytest.mark.parametrize(
    ("compare", "floor", "error"),
    [("mean", 0.0, "ratio' or 'delta"), ("ratio", -0.1, "floor must be 0 or more")],
)
def test_a_comparison_it_cannot_make_is_refused(compare: str, floor: float, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Comparison("m", "q", compare, 1.0, floor)


def test_summary_joins_what_did_not_pass_or_says_all_passed() -> None:
    passing = judge(ratio(), 0.0041, 0.0039)
    failing = judge(ratio(), 0.312, 0.04)
    missing = judge(delta(), None, 0.1)
    assert summary([passing, failing, missing], CANARY, BASELINE, 60) == (
        f"{failing['reason']}; {missing['reason']}"
    )
    assert summary([passing, judge(delta(), 0.0, 0.0)], CANARY, BASELINE, 60) == (
        "The canary (api1) passed every comparison with the hosts on the previous release (api2, api3) "
        "after a bake of 60 s: read_p95, error_rate"
    )


# --- the load ------------------------------------------------------------------------------


def test_the_load_s_requests_are_below_the_base_url_with_json_bodies() -> None:
    target = LoadTarget.from_options(
        "https://lb.example.net:8443/api/",
        5,
        2,
        [
            {"method": "GET", "path": "/v1/search?q=a", "headers": {"X-Load": "canary"}},
            {"method": "post", "path": "v1/lookup", "headers": {}, "body": {"ids": ["e-1"]}},
            {"method": "PUT", "path": "/v1/raw", "headers": {"Content-Type": "text/json"}, "body": [1]},
        ],
    )
    assert (target.scheme, target.host, target.port, target.rate, target.timeout) == (
        "https",
        "lb.example.net",
        8443,
        5,
        2,
    )
    search, lookup, raw = target.requests
    assert (search.method, search.path, search.headers, search.body) == (
        "GET",
        "/api/v1/search?q=a",
        {"X-Load": "canary"},
        None,
    )
    assert (lookup.method, lookup.path, lookup.headers) == (
        "POST",
        "/api/v1/lookup",
        {"Content-Type": "application/json"},
    )
    assert json.loads(lookup.body or b"") == {"ids": ["e-1"]}
    assert raw.headers == {"Content-Type": "text/json"}  # a header given wins


@pytest.mark.parametrize(
    ("url", "rate", "timeout", "requests", "error"),
    [
        ("ftp://lb", 1, 2, [{"path": "/"}], "http:// or https://"),
        ("lb.example.net", 1, 2, [{"path": "/"}], "http:// or https://"),
        ("http://lb", 0, 2, [{"path": "/"}], "load.rate must be more than 0"),
        ("http://lb", 1, 0, [{"path": "/"}], "load.timeout must be more than 0"),
        ("http://lb", 1, 2, [], "at least one request"),
        ("http://lb", 1, 2, [{"path": "/search?q=a b"}], "white space"),
    ],
)
def test_a_load_it_cannot_send_is_refused(
    url: str, rate: float, timeout: float, requests: list, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        LoadTarget.from_options(url, rate, timeout, requests)


def test_the_counts() -> None:
    counts = LoadCounts()
    for status in (200, 200, 503, None, 404, 500, None):
        counts.record(status)
    assert counts.as_dict() == {
        "sent": 7,
        "answered": 5,
        "errors_5xx": 2,
        "unanswered": 2,
        "by_status": {"200": 2, "404": 1, "500": 1, "503": 1},
    }


def test_the_load_goes_at_its_rate_and_a_slow_answer_does_not_hold_it_up() -> None:
    target = LoadTarget.from_options("http://lb", 50, 2, [{"path": "/a"}, {"path": "/b"}, {"path": "/c"}])
    # On a clock of its own, moved by the waits only, so that a busy machine changes nothing. The
    # first answer is held until the last request has gone out: a load that waited for it would
    # never send the last one.
    now = [0.0]
    waits: list[float] = []
    paths: list[str] = []
    lock = threading.Lock()
    last_out = threading.Event()
    held_up = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    def send(request: LoadRequest) -> int:
        with lock:
            paths.append(request.path)
            sent = len(paths)
        if sent == 1:
            held_up.append(not last_out.wait(30))
        elif sent == 15:
            last_out.set()
        return 200

    counts = send_load(target, 0.3, send=send, clock=lambda: now[0], sleep=sleep)
    assert held_up == [False]
    # 15 in 0.3 s, one every 0.02 s (the first at once, the wait for the end last), from a pool of
    # threads; each path once a round (the rounds' order drawn anew each: the test below).
    assert counts.sent == 15 and counts.by_status == {"200": 15} and len(paths) == 15
    assert waits[0] == 0 and waits[1:15] == pytest.approx([0.02] * 14) and waits[15] == pytest.approx(0.02)
    assert {path: paths.count(path) for path in paths} == {"/a": 5, "/b": 5, "/c": 5}


def test_a_load_balancer_taking_an_even_number_of_servers_in_turn_gives_each_every_request() -> None:
    # HAProxy's roundrobin over four API hosts, two requests (a write and a read): in a fixed order,
    # every server would get only one of them. 100 requests, 25 a server.
    target = LoadTarget.from_options("http://lb", 200, 2, [{"path": "/write"}, {"path": "/read"}])
    served: dict[int, list[str]] = {server: [] for server in range(4)}
    lock = threading.Lock()
    turn = iter(range(1000))

    def send(request: LoadRequest) -> int:
        with lock:
            served[next(turn) % 4].append(request.path)
        return 200

    counts = send_load(target, 0.5, send=send)
    assert counts.sent >= 90
    assert {server: tuple(sorted(set(paths))) for server, paths in served.items()} == dict.fromkeys(
        range(4), ("/read", "/write")
    )
    assert abs(sum(paths.count("/write") for paths in served.values()) * 2 - counts.sent) <= 1


def test_a_load_balancer_that_does_not_answer_is_counted_not_raised() -> None:
    target = LoadTarget.from_options("http://127.0.0.1:9", 20, 1, [{"path": "/"}])
    # On a clock of its own, moved by the waits only: both requests are due before the end however
    # slowly the machine runs them (sent to the discard port, where nothing listens).
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    assert send_load(target, 0.1, clock=lambda: now[0], sleep=sleep).as_dict() == {
        "sent": 2,
        "answered": 0,
        "errors_5xx": 0,
        "unanswered": 2,
        "by_status": {},
    }


def test_no_bake_sends_nothing() -> None:
    target = LoadTarget.from_options("http://127.0.0.1:9", 20, 1, [{"path": "/"}])
    assert send_load(target, 0).sent == 0
