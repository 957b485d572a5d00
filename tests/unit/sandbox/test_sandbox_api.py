"""The API's routing, guards and metrics, served for real on loopback over in-memory fakes."""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from intelgraph.api import SLOW_HOST_SECONDS, ApiHttpServer, ApiService, classify
from intelgraph.config import ApiSettings, HardeningSettings
from intelgraph.store import DependencyError
from intelgraph.version import features_for
from sandbox_promtext import parse


class FakeRedis:
    """The handful of Redis commands the API uses, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.stream: list[tuple[str, dict[str, str]]] = []
        self.down = False
        self._seq = 0

    def _check(self) -> None:
        if self.down:
            raise redis.ConnectionError("Connection refused")

    def ping(self) -> bool:
        self._check()
        return True

    def get(self, key: str) -> str | None:
        self._check()
        return self.values.get(key)

    def setex(self, key: str, _ttl: int, value: str) -> None:
        self._check()
        self.values[key] = value

    def setnx(self, key: str, value: str) -> bool:
        self._check()
        if key in self.values:
            return False
        self.values[key] = value
        return True

    def delete(self, key: str) -> None:
        self._check()
        self.values.pop(key, None)

    def scan_iter(self, match: str, count: int) -> list[str]:
        self._check()
        return [k for k in self.values if fnmatch.fnmatchcase(k, match)]

    def mget(self, keys: list[str]) -> list[str | None]:
        return [self.values.get(k) for k in keys]

    def xadd(self, _name: str, fields: dict[str, str], maxlen: int, approximate: bool) -> str:
        self._check()
        self._seq += 1
        entry_id = f"{self._seq}-0"
        self.stream.append((entry_id, dict(fields)))
        return entry_id

    def xrevrange(self, _name: str, _max: str, _min: str, count: int) -> list[tuple[str, dict[str, str]]]:
        self._check()
        return list(reversed(self.stream))[:count]

    def xrange(self, _name: str, start: str, _end: str, count: int) -> list[tuple[str, dict[str, str]]]:
        self._check()
        after = int(start.lstrip("(").split("-")[0])
        return [(i, f) for i, f in self.stream if int(i.split("-")[0]) > after][:count]


class FakeConnection:
    """Answers the API's two statements from a dict."""

    def __init__(self, rows: dict[str, tuple[Any, ...]]) -> None:
        self.rows = rows
        self._result: tuple[Any, ...] | None = None

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> FakeConnection:
        now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
        if sql.strip().startswith("INSERT INTO entities"):
            entity_id, tenant, region, data = params
            self.rows[entity_id] = (entity_id, tenant, region, json.loads(data), now)
            self._result = (now,)
        elif sql.startswith("SELECT id"):
            self._result = self.rows.get(params[0])
        else:
            self._result = (1,)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._result


class FakePool:
    """Hands out one fake connection; can be switched down."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Any, ...]] = {}
        self.down = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[FakeConnection]:
        if self.down:
            raise DependencyError("postgresql", "connection refused")
        yield FakeConnection(self.rows)

    def close(self) -> None:
        pass


class Api:
    """A served API plus a tiny client."""

    def __init__(self, version: str, env: dict[str, str]) -> None:
        features = features_for(version)
        hardening = HardeningSettings.from_env(env) if features.hardening else None
        self.redis = FakeRedis()
        self.pool = FakePool()
        self.service = ApiService(ApiSettings.from_env(env), features, hardening, self.redis, self.pool)
        self.server = ApiHttpServer(("127.0.0.1", 0), self.service)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        tenant: str | None = "acme",
        region: str | None = "eu-west",
    ) -> tuple[int, Any, dict[str, str]]:
        conn = http.client.HTTPConnection(*self.server.server_address[:2], timeout=5)
        headers = {}
        if tenant:
            headers["X-Tenant-Id"] = tenant
        if region:
            headers["X-Tenant-Region"] = region
        payload = None if body is None else json.dumps(body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read().decode()
        conn.close()
        try:
            decoded: Any = json.loads(raw)
        except ValueError:
            decoded = raw
        return response.status, decoded, dict(response.getheaders())

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text, _ = self.request("GET", "/metrics")
        assert status == 200
        return parse(text)[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def make_api() -> Iterator[Any]:
    apis: list[Api] = []

    def factory(version: str = "24.1.0", **env: str) -> Api:
        api = Api(version, env)
        apis.append(api)
        return api

    yield factory
    for api in apis:
        api.close()


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/api/v1/entities/x", "read"),
        ("POST", "/api/v1/entities", "write"),
        ("GET", "/api/v1/subscriptions/poll", "subscription"),
        ("GET", "/api/v1/features", "other"),
        ("GET", "/healthz", None),
        ("GET", "/metrics", None),
    ],
)
def test_classify(method: str, path: str, kind: str | None) -> None:
    assert classify(method, path) == kind


@pytest.mark.parametrize("version", ["24.0.0", "24.1.0"])
def test_ops_endpoints(make_api: Any, version: str) -> None:
    api = make_api(version)
    assert api.request("GET", "/healthz")[:2] == (200, {"status": "ok"})
    assert api.request("GET", "/readyz")[:2] == (200, {"ready": True})
    assert api.request("GET", "/version")[:2] == (200, {"version": version, "host": socket.gethostname()})
    assert api.request("GET", "/nope")[0] == 404
    assert api.request("POST", "/healthz", {})[0] == 405
    samples = api.metrics()
    assert samples[("intelgraph_build_info", (("component", "api"), ("version", version)))] == 1
    for kind in ("read", "write", "subscription"):
        assert samples[("intelgraph_http_request_duration_seconds_count", (("kind", kind),))] == 0
    has_latency = ("subscription_latency_seconds_count", ()) in samples
    assert has_latency is (version == "24.1.0")
    assert (("intelgraph_rate_limited_total", ()) in samples) is (version == "24.1.0")


@pytest.mark.parametrize("dependency", ["redis", "pool"])
def test_readyz_reports_a_failed_dependency(make_api: Any, dependency: str) -> None:
    api = make_api()
    getattr(api, dependency).down = True
    status, body, _ = api.request("GET", "/readyz")
    assert status == 503 and body["ready"] is False
    assert ("redis" if dependency == "redis" else "postgresql") in body["reason"]


def test_readyz_while_draining(make_api: Any) -> None:
    api = make_api()
    api.service.start_drain()
    assert api.request("GET", "/readyz")[:2] == (503, {"ready": False, "reason": "draining"})
    assert api.request("GET", "/healthz")[0] == 200
    assert api.metrics()[("intelgraph_draining", ())] == 1


def test_write_read_poll(make_api: Any) -> None:
    api = make_api()
    status, body, _ = api.request("GET", "/api/v1/subscriptions/poll")
    assert status == 200 and body == {"events": [], "cursor": "0-0"}
    status, body, _ = api.request("POST", "/api/v1/entities", {"id": "e1", "data": {"a": 1}})
    assert status == 201 and body["tenant"] == "acme" and body["region"] == "eu-west"
    status, body, headers = api.request("GET", "/api/v1/entities/e1")
    assert status == 200 and body["data"] == {"a": 1} and headers["X-Cache"] == "miss"
    assert api.request("GET", "/api/v1/entities/e1")[2]["X-Cache"] == "hit"
    api.request("POST", "/api/v1/entities", {"id": "e2", "data": {}}, tenant="globex")
    status, body, _ = api.request("GET", "/api/v1/subscriptions/poll?cursor=0-0")
    assert [e["entity_id"] for e in body["events"]] == ["e1"]
    assert body["cursor"] == "2-0"
    assert api.request("GET", f"/api/v1/subscriptions/poll?cursor={body['cursor']}")[1]["events"] == []
    samples = api.metrics()
    assert samples[("intelgraph_cache_requests_total", (("result", "hit"),))] == 1
    assert samples[("subscription_latency_seconds_count", ())] == 1
    assert samples[("intelgraph_http_requests_total", (("code", "201"), ("kind", "write")))] == 2


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/entities/missing", None, 404),
        ("GET", "/api/v1/entities/bad%20id", None, 400),
        ("POST", "/api/v1/entities", {"id": "x"}, 400),
        ("POST", "/api/v1/entities", {"id": "x y", "data": {}}, 400),
        ("POST", "/api/v1/entities", [1], 400),
        ("GET", "/api/v1/subscriptions/poll?cursor=abc", None, 400),
        ("GET", "/api/v1/subscriptions/poll?limit=0", None, 400),
    ],
)
def test_client_errors(make_api: Any, method: str, path: str, body: Any, status: int) -> None:
    assert make_api().request(method, path, body)[0] == status


def test_dependency_failure_is_503_not_a_hang(make_api: Any) -> None:
    api = make_api()
    api.redis.down = True
    status, body, _ = api.request("GET", "/api/v1/entities/e1")
    assert status == 503 and "redis" in body["detail"]
    api.redis.down = False
    api.pool.down = True
    assert api.request("POST", "/api/v1/entities", {"id": "e1", "data": {}})[0] == 503
    samples = api.metrics()
    assert samples[("intelgraph_dependency_errors_total", (("dependency", "postgresql"),))] == 1
    assert samples[("intelgraph_http_requests_total", (("code", "503"), ("kind", "read")))] == 1


@pytest.mark.parametrize(
    ("version", "mode", "status", "counted"),
    [
        ("24.0.0", "strict", 404, None),
        ("24.1.0", "off", 404, None),
        ("24.1.0", "permissive", 404, 1),
        ("24.1.0", "strict", 403, 1),
    ],
)
def test_residency_guard(make_api: Any, version: str, mode: str, status: int, counted: int | None) -> None:
    api = make_api(version, TENANT_RESIDENCY_MODE=mode)
    assert api.request("GET", "/api/v1/entities/e1", region=None)[0] == status
    assert api.request("GET", "/api/v1/entities/e1")[0] == 404
    assert api.request("GET", "/healthz", region=None)[0] == 200
    samples = api.metrics()
    key = ("intelgraph_residency_denied_total", (("mode", mode),))
    assert samples.get(key) == counted


@pytest.mark.parametrize(("version", "limited"), [("24.0.0", False), ("24.1.0", True)])
def test_rate_limiter(make_api: Any, version: str, limited: bool) -> None:
    api = make_api(version, RPS_LIMIT="1", RPS_BURST="3")
    codes = [api.request("GET", "/api/v1/entities/e1")[0] for _ in range(5)]
    assert codes == ([404, 404, 404, 429, 429] if limited else [404] * 5)
    assert api.request("GET", "/api/v1/entities/e1", tenant="globex")[0] == 404
    status, _, headers = api.request("GET", "/api/v1/entities/e1")
    if limited:
        assert status == 429 and headers["Retry-After"] == "1"
        assert api.metrics()[("intelgraph_rate_limited_total", ())] == 3
    assert [api.request("GET", "/metrics")[0] for _ in range(5)] == [200] * 5


def test_toggles_switch_guards_off(make_api: Any) -> None:
    api = make_api("24.1.0", RPS_LIMIT="1", RPS_BURST="1", TENANT_RESIDENCY_MODE="strict")
    api.service.maintain()
    assert api.redis.values["intelgraph:features:residency_guard"] == "on"
    assert api.redis.values["intelgraph:features:rps_limiter"] == "on"
    assert api.request("GET", "/api/v1/entities/e1", region=None)[0] == 403
    api.redis.values["intelgraph:features:residency_guard"] = "off"
    api.redis.values["intelgraph:features:rps_limiter"] = "off"
    api.service.maintain()
    assert [api.request("GET", "/api/v1/entities/e1", region=None)[0] for _ in range(3)] == [404] * 3
    status, body, _ = api.request("GET", "/api/v1/features")
    assert status == 200
    assert body == {
        "prefix": "intelgraph:features:",
        "toggles": {"residency_guard": "off", "rps_limiter": "off"},
    }
    samples = api.metrics()
    assert samples[("intelgraph_feature_toggle", (("name", "rps_limiter"),))] == 0


def test_v24_0_creates_no_toggles(make_api: Any) -> None:
    api = make_api("24.0.0")
    api.service.maintain()
    assert api.redis.values == {}


def test_trace_sampling_gauge(make_api: Any) -> None:
    api = make_api("24.1.0", TRACE_SAMPLING_RATIO="1.0")
    api.request("GET", "/api/v1/entities/e1")
    samples = api.metrics()
    assert samples[("intelgraph_trace_sampling_ratio", ())] == 1.0
    assert samples[("intelgraph_traces_sampled_total", ())] == 1


@pytest.mark.parametrize(
    ("version", "slow_host", "slow"),
    [("24.1.0", "this", True), ("24.1.0", "another-host", False), ("24.0.0", "this", False)],
)
def test_slow_host_answers_later(make_api: Any, version: str, slow_host: str, slow: bool) -> None:
    api = make_api(version, SANDBOX_SLOW_HOST=socket.gethostname() if slow_host == "this" else slow_host)
    started = time.perf_counter()
    assert api.request("GET", "/api/v1/entities/e1")[0] == 404
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    assert api.request("GET", "/healthz")[0] == 200
    health_seconds = time.perf_counter() - started
    assert (read_seconds >= SLOW_HOST_SECONDS) is slow
    assert health_seconds < SLOW_HOST_SECONDS
    read = api.metrics()[("intelgraph_http_request_duration_seconds_sum", (("kind", "read"),))]
    assert (read >= SLOW_HOST_SECONDS) is slow
