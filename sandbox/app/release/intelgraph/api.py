"""The IntelGraph API server (``bin/intelgraph-api``).

HTTP/1.0, one request per connection, a thread per request. Reads are Redis
cache-aside over PostgreSQL, writes append a change event to a Redis stream that
subscription polls read. v24.1 adds the per-tenant rate limiter, the residency guard,
the subscription latency metric and trace sampling.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis

from intelgraph import residency
from intelgraph.config import ApiSettings, ConfigError, HardeningSettings
from intelgraph.features import FeatureToggles, toggle_enabled
from intelgraph.limiter import TenantLimiter
from intelgraph.metrics import CONTENT_TYPE, DELIVERY_BUCKETS, Counter, Histogram, Registry
from intelgraph.store import DependencyError, PgPool, redis_client
from intelgraph.version import Features, features_for, read_version

LOG = logging.getLogger("intelgraph.api")

CHANGES_STREAM = "intelgraph:changes"
CHANGES_MAXLEN = 10000
CACHE_PREFIX = "intelgraph:entity:"
DEFAULT_TENANT = "default"
MAX_BODY_BYTES = 1 << 20
POLL_DEFAULT_LIMIT = 100
POLL_MAX_LIMIT = 500
READINESS_CACHE_SECONDS = 1.0
API_KINDS = ("read", "write", "subscription")

_ENTITY_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_STREAM_ID_RE = re.compile(r"^\d+(-\d+)?$")
_TENANT_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

UPSERT_SQL = """
INSERT INTO entities (id, tenant, region, data, updated_at)
VALUES (%s, %s, %s, %s::jsonb, now())
ON CONFLICT (id) DO UPDATE
   SET tenant = EXCLUDED.tenant, region = EXCLUDED.region,
       data = EXCLUDED.data, updated_at = now()
RETURNING updated_at
"""
SELECT_SQL = "SELECT id, tenant, region, data, updated_at FROM entities WHERE id = %s"


class HttpError(Exception):
    """A request that ends with a 4xx/5xx status and a JSON error body."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": message, **extra}
        self.headers = headers or {}


@dataclass
class Response:
    """A response to send."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self) -> bytes:
        """The body as bytes (JSON unless it is already text)."""
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return (json.dumps(self.body, separators=(",", ":"), default=str) + "\n").encode("utf-8")


@dataclass(frozen=True)
class RequestContext:
    """What the handlers need to know about the caller."""

    tenant: str
    region: str | None


def classify(method: str, path: str) -> str | None:
    """The metric kind of an API request (read, write, subscription, other) or None outside /api/."""
    if not path.startswith("/api/"):
        return None
    if path.startswith("/api/v1/entities/") and method == "GET":
        return "read"
    if path == "/api/v1/entities" and method == "POST":
        return "write"
    if path == "/api/v1/subscriptions/poll":
        return "subscription"
    return "other"


class ApiMetrics:
    """The metrics the API exports."""

    def __init__(
        self, features: Features, settings: ApiSettings, hardening: HardeningSettings | None
    ) -> None:
        self.registry = Registry()
        r = self.registry
        r.gauge("intelgraph_build_info", "Build of the running service.", ["version", "component"]).set(
            1, version=features.version, component="api"
        )
        self.duration = r.histogram(
            "intelgraph_http_request_duration_seconds", "API request duration by kind.", ["kind"]
        )
        self.requests = r.counter(
            "intelgraph_http_requests_total", "API requests by kind and status code.", ["kind", "code"]
        )
        for kind in API_KINDS:
            self.duration.touch(kind=kind)
        self.cache = r.counter(
            "intelgraph_cache_requests_total", "Entity cache lookups by result.", ["result"]
        )
        self.cache.touch(result="hit")
        self.cache.touch(result="miss")
        self.dependency_errors = r.counter(
            "intelgraph_dependency_errors_total",
            "Requests failed by an unavailable dependency.",
            ["dependency"],
        )
        self.draining = r.gauge("intelgraph_draining", "1 while the server drains after SIGTERM.")
        self.draining.set(0)
        self.ready = r.gauge("intelgraph_ready", "1 when the last readiness check passed.")
        self.toggles = r.gauge(
            "intelgraph_feature_toggle", "Feature toggles read from Redis (1 on, 0 off).", ["name"]
        )
        self.subscription_latency: Histogram | None = None
        self.rate_limited: Counter | None = None
        self.residency_denied: Counter | None = None
        self.traces_sampled: Counter | None = None
        config = r.gauge("intelgraph_config_info", "Settings in force.", self._config_labels(hardening))
        config.set(1, **self._config_values(settings, hardening))
        if hardening is not None:
            self._add_hardening(hardening)

    @staticmethod
    def _config_labels(hardening: HardeningSettings | None) -> list[str]:
        labels = ["cache_ttl_seconds"]
        if hardening is not None:
            labels += ["rps_limit", "rps_burst", "residency_mode"]
        return labels

    @staticmethod
    def _config_values(settings: ApiSettings, hardening: HardeningSettings | None) -> dict[str, str]:
        values = {"cache_ttl_seconds": str(settings.cache_ttl_seconds)}
        if hardening is not None:
            values.update(
                rps_limit=str(hardening.rps_limit),
                rps_burst=str(hardening.rps_burst),
                residency_mode=hardening.residency_mode,
            )
        return values

    def _add_hardening(self, hardening: HardeningSettings) -> None:
        r = self.registry
        self.subscription_latency = r.histogram(
            "subscription_latency_seconds",
            "Delay from a change being written until a subscription poll delivers it.",
            buckets=DELIVERY_BUCKETS,
        )
        self.subscription_latency.touch()
        self.rate_limited = r.counter(
            "intelgraph_rate_limited_total", "Requests refused with 429 by the rate limiter."
        )
        self.residency_denied = r.counter(
            "intelgraph_residency_denied_total",
            "Requests without a tenant region claim: refused (strict) or only counted (permissive).",
            ["mode"],
        )
        self.residency_denied.touch(mode="strict")
        self.residency_denied.touch(mode="permissive")
        r.gauge("intelgraph_trace_sampling_ratio", "Share of requests traced.").set(
            hardening.trace_sampling_ratio
        )
        self.traces_sampled = r.counter("intelgraph_traces_sampled_total", "Requests selected for tracing.")


SLOW_HOST_SECONDS = 1.0
"""How much later the API answers on the host SANDBOX_SLOW_HOST names."""


class ApiService:
    """State and operations behind the HTTP handlers."""

    def __init__(
        self,
        settings: ApiSettings,
        features: Features,
        hardening: HardeningSettings | None,
        cache: redis.Redis,
        pool: PgPool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.features = features
        self.hardening = hardening
        self.redis = cache
        self.pool = pool
        self.clock = clock
        self.metrics = ApiMetrics(features, settings, hardening)
        self.toggles = FeatureToggles(cache, settings.common.feature_prefix)
        limit = hardening.rps_limit if hardening else 0
        burst = hardening.rps_burst if hardening else 0
        self.limiter = TenantLimiter(limit, burst)
        self.draining = threading.Event()
        self._activity_lock = threading.Lock()
        self._in_flight = 0
        self._last_request = time.monotonic()
        self._ready_lock = threading.Lock()
        self._ready_at = float("-inf")
        self._ready: tuple[bool, str] = (False, "not checked")
        self._defaults_done = not features.feature_toggle_defaults
        # Sandbox only (SANDBOX_SLOW_HOST): a v24.1 API that answers late on one host, for canary tests.
        self.added_latency = (
            SLOW_HOST_SECONDS
            if hardening is not None and hardening.slow_host == socket.gethostname()
            else 0.0
        )

    # -- lifecycle ---------------------------------------------------------------

    def start_drain(self) -> None:
        """Report not-ready from now on; requests are still served."""
        self.draining.set()
        self.metrics.draining.set(1)

    def request_started(self) -> None:
        """An API request (not an operations one: health, readiness, version, metrics) began."""
        with self._activity_lock:
            self._in_flight += 1

    def request_ended(self) -> None:
        """An API request was answered."""
        with self._activity_lock:
            self._in_flight -= 1
            self._last_request = time.monotonic()

    def idle_seconds(self, since: float) -> float:
        """Seconds since the later of ``since`` (a time.monotonic()) and the last API request's
        answer; 0 while one is in flight."""
        with self._activity_lock:
            if self._in_flight:
                return 0.0
            return time.monotonic() - max(since, self._last_request)

    def maintain(self) -> None:
        """Periodic work: create default toggles (v24.1) and refresh the toggle gauges."""
        try:
            if not self._defaults_done:
                created = self.toggles.ensure_defaults()
                if created:
                    LOG.info("created feature toggles %s", ", ".join(created))
                self._defaults_done = True
            for name, value in self.toggles.read().items():
                self.metrics.toggles.set(1 if toggle_enabled(value) else 0, name=name)
        except redis.RedisError as exc:
            LOG.warning("feature toggles: %s", exc)

    # -- readiness ---------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason); dependency checks are cached for about a second."""
        if self.draining.is_set():
            return False, "draining"
        with self._ready_lock:
            now = time.monotonic()
            if now - self._ready_at >= READINESS_CACHE_SECONDS:
                self._ready = self._check_dependencies()
                self._ready_at = time.monotonic()
                self.metrics.ready.set(1 if self._ready[0] else 0)
            return self._ready

    def _check_dependencies(self) -> tuple[bool, str]:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            return False, str(DependencyError("redis", exc))
        try:
            with self.pool.connection() as conn:
                conn.execute("SELECT 1").fetchone()
        except DependencyError as exc:
            return False, str(exc)
        return True, "ok"

    # -- guards (v24.1) ----------------------------------------------------------

    def guard(self, ctx: RequestContext) -> None:
        """Apply the residency guard and the rate limiter to an /api/ request.

        Raises:
            HttpError: 403 for a strict residency refusal, 429 beyond the tenant's rate.
        """
        if self.hardening is None:
            return
        self._sample_trace()
        if self.toggles.enabled("residency_guard"):
            self._check_residency(ctx)
        if self.limiter.enabled and self.toggles.enabled("rps_limiter"):
            allowed, wait = self.limiter.allow(ctx.tenant)
            if not allowed:
                assert self.metrics.rate_limited is not None
                self.metrics.rate_limited.inc()
                retry = str(max(1, int(wait + 0.999)))
                raise HttpError(429, "rate limit exceeded", {"Retry-After": retry}, tenant=ctx.tenant)

    def _check_residency(self, ctx: RequestContext) -> None:
        assert self.hardening is not None and self.metrics.residency_denied is not None
        mode = self.hardening.residency_mode
        decision = residency.decide(mode, ctx.region)
        if decision is residency.Decision.ALLOW:
            return
        self.metrics.residency_denied.inc(mode=mode)
        if decision is residency.Decision.DENY:
            raise HttpError(403, "tenant region claim required", tenant=ctx.tenant, header="X-Tenant-Region")

    def _sample_trace(self) -> None:
        assert self.hardening is not None and self.metrics.traces_sampled is not None
        ratio = self.hardening.trace_sampling_ratio
        if ratio > 0 and random.random() < ratio:
            self.metrics.traces_sampled.inc()

    # -- entities ----------------------------------------------------------------

    def get_entity(self, entity_id: str) -> tuple[dict[str, Any], bool]:
        """Return (entity, cache_hit). Raises HttpError 404 when absent."""
        key = CACHE_PREFIX + entity_id
        try:
            cached = self.redis.get(key)
        except redis.RedisError as exc:
            raise DependencyError("redis", exc) from exc
        if cached is not None:
            self.metrics.cache.inc(result="hit")
            return json.loads(cached), True
        self.metrics.cache.inc(result="miss")
        entity = self._load_entity(entity_id)
        if entity is None:
            raise HttpError(404, "entity not found", id=entity_id)
        try:
            self.redis.setex(key, self.settings.cache_ttl_seconds, json.dumps(entity, default=str))
        except redis.RedisError as exc:
            raise DependencyError("redis", exc) from exc
        return entity, False

    def _load_entity(self, entity_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row = conn.execute(SELECT_SQL, (entity_id,)).fetchone()
        if row is None:
            return None
        return {
            "id": row[0],
            "tenant": row[1],
            "region": row[2],
            "data": row[3],
            "updated_at": row[4].isoformat(),
        }

    def put_entity(self, ctx: RequestContext, entity_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Upsert an entity, drop its cache entry and append a change event."""
        with self.pool.connection() as conn:
            row = conn.execute(UPSERT_SQL, (entity_id, ctx.tenant, ctx.region, json.dumps(data))).fetchone()
        updated_at = row[0].isoformat() if row else None
        event = {
            "entity_id": entity_id,
            "tenant": ctx.tenant,
            "region": ctx.region or "",
            "op": "upsert",
            "created_at": repr(self.clock()),
        }
        try:
            self.redis.delete(CACHE_PREFIX + entity_id)
            event_id = self.redis.xadd(CHANGES_STREAM, event, maxlen=CHANGES_MAXLEN, approximate=True)
        except redis.RedisError as exc:
            raise DependencyError("redis", exc) from exc
        return {
            "id": entity_id,
            "tenant": ctx.tenant,
            "region": ctx.region,
            "data": data,
            "updated_at": updated_at,
            "event_id": event_id,
        }

    # -- subscriptions -----------------------------------------------------------

    def poll(self, ctx: RequestContext, cursor: str | None, limit: int) -> dict[str, Any]:
        """Change events of the caller's tenant after ``cursor``, and the cursor to poll next.

        Without a cursor (or with ``$``) nothing is returned and the cursor is the
        newest event, so a new subscriber starts from now.
        """
        try:
            if cursor in (None, "", "$"):
                newest = self.redis.xrevrange(CHANGES_STREAM, "+", "-", count=1)
                return {"events": [], "cursor": newest[0][0] if newest else "0-0"}
            entries = self.redis.xrange(CHANGES_STREAM, "(" + cursor, "+", count=limit)
        except redis.RedisError as exc:
            raise DependencyError("redis", exc) from exc
        now = self.clock()
        events = []
        for entry_id, fields in entries:
            if fields.get("tenant") != ctx.tenant:
                continue
            events.append({"id": entry_id, **fields})
            self._observe_delivery(now, fields.get("created_at"))
        next_cursor = entries[-1][0] if entries else cursor
        return {"events": events, "cursor": next_cursor}

    def _observe_delivery(self, now: float, created_at: str | None) -> None:
        histogram = self.metrics.subscription_latency
        if histogram is None or not created_at:
            return
        try:
            histogram.observe(max(0.0, now - float(created_at)))
        except ValueError:
            return

    def feature_toggles(self) -> dict[str, Any]:
        """Every toggle under the prefix, read from Redis now."""
        try:
            toggles = self.toggles.read()
        except redis.RedisError as exc:
            raise DependencyError("redis", exc) from exc
        return {"prefix": self.settings.common.feature_prefix, "toggles": toggles}


def _query_param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return POLL_DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= POLL_MAX_LIMIT:
        raise HttpError(400, f"limit must be 1..{POLL_MAX_LIMIT}")
    return int(raw)


class ApiHandler(BaseHTTPRequestHandler):
    """Routes one request (the connection closes after it: HTTP/1.0)."""

    protocol_version = "HTTP/1.0"
    server_version = "intelgraph-api"
    timeout = 10
    server: ApiHttpServer

    # -- plumbing ----------------------------------------------------------------

    @property
    def service(self) -> ApiService:
        """The shared service."""
        return self.server.service

    def log_message(self, format: str, *args: Any) -> None:
        """Access logging is off; errors are logged where they happen."""

    def do_GET(self) -> None:
        """Handle GET."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle("POST")

    def _context(self) -> RequestContext:
        tenant = (self.headers.get("X-Tenant-Id") or DEFAULT_TENANT).strip()
        if not _TENANT_RE.match(tenant):
            raise HttpError(400, "invalid X-Tenant-Id")
        region = self.headers.get("X-Tenant-Region")
        return RequestContext(tenant=tenant, region=region.strip() if region else None)

    def _handle(self, method: str) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        kind = classify(method, url.path)
        if kind is not None:
            self.service.request_started()
        try:
            if kind is not None and self.service.added_latency:
                time.sleep(self.service.added_latency)
            response = self._route(method, url.path, parse_qs(url.query), kind)
        except HttpError as exc:
            response = Response(exc.status, exc.body, exc.headers)
        except DependencyError as exc:
            self.service.metrics.dependency_errors.inc(dependency=exc.dependency)
            LOG.warning("%s %s: %s", method, url.path, exc)
            response = Response(503, {"error": "dependency unavailable", "detail": str(exc)})
        except Exception:
            LOG.exception("%s %s failed", method, url.path)
            response = Response(500, {"error": "internal error"})
        # Counted before the answer goes out, so that a scrape made once the client has it sees it.
        if kind is not None:
            metrics = self.service.metrics
            metrics.duration.observe(time.perf_counter() - started, kind=kind)
            metrics.requests.inc(kind=kind, code=str(response.status))
        try:
            self._send(response)
        finally:
            if kind is not None:
                self.service.request_ended()

    def _send(self, response: Response) -> None:
        payload = response.encode()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            LOG.debug("client went away")

    def _read_json(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise HttpError(411, "Content-Length required")
        if int(length) > MAX_BODY_BYTES:
            raise HttpError(413, "body too large")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise HttpError(400, "body is not JSON") from None

    # -- routes ------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], kind: str | None) -> Response:
        if kind is None:
            return self._route_ops(method, path)
        ctx = self._context()
        self.service.guard(ctx)
        if kind == "read":
            return self._read_entity(path[len("/api/v1/entities/") :])
        if kind == "write":
            return self._write_entity(ctx)
        if kind == "subscription":
            if method != "GET":
                raise HttpError(405, "method not allowed")
            limit = _parse_limit(_query_param(query, "limit"))
            cursor = _query_param(query, "cursor")
            if cursor not in (None, "", "$") and not _STREAM_ID_RE.match(cursor):
                raise HttpError(400, "cursor must be a stream id such as 1700000000000-0")
            return Response(200, self.service.poll(ctx, cursor, limit))
        if path == "/api/v1/features" and method == "GET":
            return Response(200, self.service.feature_toggles())
        raise HttpError(404 if method == "GET" else 405, "not found")

    def _route_ops(self, method: str, path: str) -> Response:
        if method != "GET":
            raise HttpError(405, "method not allowed")
        if path == "/healthz":
            return Response(200, {"status": "ok"})
        if path == "/readyz":
            ready, reason = self.service.readiness()
            return (
                Response(200, {"ready": True}) if ready else Response(503, {"ready": False, "reason": reason})
            )
        if path == "/version":
            return Response(200, {"version": self.service.features.version, "host": socket.gethostname()})
        if path == "/metrics":
            return Response(200, self.service.metrics.registry.render(), content_type=CONTENT_TYPE)
        raise HttpError(404, "not found")

    def _read_entity(self, entity_id: str) -> Response:
        if not _ENTITY_ID_RE.match(entity_id):
            raise HttpError(400, "invalid entity id")
        entity, hit = self.service.get_entity(entity_id)
        return Response(200, entity, {"X-Cache": "hit" if hit else "miss"})

    def _write_entity(self, ctx: RequestContext) -> Response:
        body = self._read_json()
        if not isinstance(body, dict):
            raise HttpError(400, 'body must be {"id": ..., "data": {...}}')
        entity_id, data = body.get("id"), body.get("data")
        if not isinstance(entity_id, str) or not _ENTITY_ID_RE.match(entity_id):
            raise HttpError(400, "id must match [A-Za-z0-9._:@-]{1,128}")
        if not isinstance(data, dict):
            raise HttpError(400, "data must be a JSON object")
        return Response(201, self.service.put_entity(ctx, entity_id, data))


class ApiHttpServer(ThreadingHTTPServer):
    """Thread per request; on shutdown, ``server_close`` waits for in-flight requests."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: ApiService) -> None:
        self.service = service
        super().__init__(address, ApiHandler)


def _maintenance_loop(service: ApiService, stop: threading.Event, interval: float = 5.0) -> None:
    while not stop.is_set():
        service.maintain()
        stop.wait(interval)


# A stopping server that no API request has reached for this long stops before its grace is over:
# the load balancers have it out of service (in maintenance, a drained host gets neither requests
# nor health checks), so waiting longer serves no one.
IDLE_STOP_SECONDS = 0.5


def install_signal_handlers(server: ApiHttpServer, grace_seconds: float) -> None:
    """SIGTERM/SIGINT: drain (readyz 503), keep serving ``grace_seconds``, then stop; sooner once
    no API request has come for IDLE_STOP_SECONDS."""

    def stop_later() -> None:
        signalled = time.monotonic()
        deadline = signalled + grace_seconds
        while time.monotonic() < deadline:
            if server.service.idle_seconds(signalled) >= IDLE_STOP_SECONDS:
                LOG.info("no API request for %.1fs, stopping", IDLE_STOP_SECONDS)
                break
            time.sleep(0.05)
        else:
            LOG.info("grace period over, stopping")
        server.shutdown()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if server.service.draining.is_set():
            return
        LOG.info("%s: draining for %.1fs", signal.Signals(signum).name, grace_seconds)
        server.service.start_drain()
        threading.Thread(target=stop_later, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def build_service(env: dict[str, str] | None = None) -> ApiService:
    """Create the service from the environment and the release's VERSION."""
    environ = dict(os.environ if env is None else env)
    features = features_for(read_version())
    settings = ApiSettings.from_env(environ)
    hardening = HardeningSettings.from_env(environ) if features.hardening else None
    cache = redis_client(settings.common.redis_url)
    pool = PgPool(settings.common.database_url)
    return ApiService(settings, features, hardening, cache, pool)


def main() -> int:
    """Run the API server until SIGTERM; exit 0 after in-flight requests finished."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        service = build_service()
    except ConfigError as exc:
        LOG.error("configuration: %s", exc)
        return 2
    settings = service.settings
    server = ApiHttpServer((settings.host, settings.port), service)
    install_signal_handlers(server, settings.shutdown_grace_seconds)
    stop = threading.Event()
    threading.Thread(target=_maintenance_loop, args=(service, stop), name="maintenance", daemon=True).start()
    LOG.info("intelgraph-api %s listening on %s:%d", service.features.version, settings.host, settings.port)
    if service.hardening is not None:
        h = service.hardening
        LOG.info(
            "rps_limit=%d rps_burst=%d residency=%s trace_sampling=%s cache_ttl=%ds",
            h.rps_limit,
            h.rps_burst,
            h.residency_mode,
            h.trace_sampling_ratio,
            settings.cache_ttl_seconds,
        )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        server.server_close()
        service.pool.close()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
