"""The ingest worker (``bin/intelgraph-ingest``).

Consumes the ingest stream with a consumer group and applies each event to PostgreSQL
in its own transaction, then acknowledges it. Failed events stay pending; they are
claimed again once idle and dead-lettered after ``INGEST_MAX_DELIVERIES`` deliveries.
v24.1 records an idempotency key in the same transaction, so a replayed event is
applied once.

Signals: SIGUSR1 quiesces (no new messages; the in-flight batch is finished and
acknowledged), SIGUSR2 resumes, SIGTERM quiesces and exits 0.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import psycopg
import redis

from intelgraph.config import ConfigError, IngestSettings
from intelgraph.metrics import CONTENT_TYPE, DELIVERY_BUCKETS, Registry
from intelgraph.store import DependencyError, pg_connect, redis_client
from intelgraph.version import Features, features_for, read_version

LOG = logging.getLogger("intelgraph.ingest")

READ_COUNT = 10
READ_BLOCK_MS = 1000
CLAIM_BATCH = 50
DLQ_MAXLEN = 100000
OUTCOMES = ("applied", "duplicate", "failed", "dead_lettered")
REQUIRED_FIELDS = ("event_id", "tenant", "batch_id", "payload")

INSERT_EVENT_SQL = (
    "INSERT INTO ingest_events (event_id, tenant, batch_id, payload) VALUES (%s, %s, %s, %s::jsonb)"
)
INSERT_KEY_SQL = (
    "INSERT INTO ingest_idempotency_keys (idempotency_key, event_id, tenant, batch_id)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING"
)


class PoisonEvent(ValueError):
    """An event that can never be applied (malformed, or marked poison for tests)."""


@dataclass(frozen=True)
class IngestEvent:
    """One parsed stream entry."""

    event_id: str
    tenant: str
    batch_id: str
    payload: dict[str, Any]
    produced_at: float | None

    @property
    def idempotency_key(self) -> str:
        """``<tenant>:<event_id>``, the key v24.1 and the backfill record."""
        return idempotency_key(self.tenant, self.event_id)


def idempotency_key(tenant: str, event_id: str) -> str:
    """The idempotency key of an event."""
    return f"{tenant}:{event_id}"


def parse_event(fields: dict[str, str]) -> IngestEvent:
    """Validate the fields of a stream entry.

    Raises:
        PoisonEvent: when fields are missing, the payload is not a JSON object, or the
            payload says ``{"poison": true}``.
    """
    missing = [name for name in REQUIRED_FIELDS if not fields.get(name)]
    if missing:
        raise PoisonEvent(f"missing fields: {', '.join(missing)}")
    try:
        payload = json.loads(fields["payload"])
    except ValueError as exc:
        raise PoisonEvent(f"payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PoisonEvent("payload must be a JSON object")
    if payload.get("poison") is True:
        raise PoisonEvent("poison event")
    try:
        produced_at = float(fields["produced_at"]) if fields.get("produced_at") else None
    except ValueError:
        produced_at = None
    return IngestEvent(fields["event_id"], fields["tenant"], fields["batch_id"], payload, produced_at)


def apply_event(conn: psycopg.Connection, event: IngestEvent, idempotent: bool) -> str:
    """Apply ``event`` in one transaction; return ``applied`` or ``duplicate``.

    Without ``idempotent`` (v24.0) every delivery inserts a row, so a redelivered
    event is applied twice.
    """
    with conn.transaction():
        if idempotent:
            cursor = conn.execute(
                INSERT_KEY_SQL, (event.idempotency_key, event.event_id, event.tenant, event.batch_id)
            )
            if cursor.rowcount == 0:
                return "duplicate"
        conn.execute(
            INSERT_EVENT_SQL, (event.event_id, event.tenant, event.batch_id, json.dumps(event.payload))
        )
    return "applied"


class IngestMetrics:
    """The metrics the worker exports."""

    def __init__(self, features: Features, settings: IngestSettings) -> None:
        self.registry = r = Registry()
        r.gauge("intelgraph_build_info", "Build of the running service.", ["version", "component"]).set(
            1, version=features.version, component="ingest"
        )
        self.events = r.counter("intelgraph_ingest_events_total", "Ingest events by outcome.", ["outcome"])
        for outcome in OUTCOMES:
            self.events.touch(outcome=outcome)
        self.duration = r.histogram(
            "intelgraph_ingest_duration_seconds", "Time to apply one ingest event (parse and transaction)."
        )
        self.duration.touch()
        self.end_to_end = r.histogram(
            "intelgraph_ingest_end_to_end_seconds",
            "Delay from an event's produced_at until it was applied.",
            buckets=DELIVERY_BUCKETS,
        )
        self.end_to_end.touch()
        self.quiesced = r.gauge("intelgraph_ingest_quiesced", "1 while the worker takes no new messages.")
        self.quiesced.set(0)
        self.in_flight = r.gauge("intelgraph_ingest_in_flight", "Messages being processed now.")
        self.in_flight.set(0)
        self.claimed = r.counter("intelgraph_ingest_claimed_total", "Pending messages claimed for a retry.")
        if features.trace_sampling:
            r.gauge("intelgraph_trace_sampling_ratio", "Share of events traced.").set(
                settings.trace_sampling_ratio
            )


@dataclass
class Delivery:
    """A message handed to this consumer, with its delivery count."""

    message_id: str
    fields: dict[str, str]
    deliveries: int


class Worker:
    """The consume-apply-acknowledge loop and its quiesce state."""

    def __init__(self, settings: IngestSettings, features: Features, client: redis.Redis) -> None:
        self.settings = settings
        self.features = features
        self.redis = client
        self.metrics = IngestMetrics(features, settings)
        self.stop_requested = threading.Event()
        self.quiesce_requested = threading.Event()
        self._state_lock = threading.Lock()
        self._quiesced = False
        self._in_flight = 0
        self._conn: psycopg.Connection | None = None
        self._group_ready = False
        self._recovered_own = False
        self._next_claim = 0.0
        self._errors: dict[str, str] = {}

    # -- state -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``GET /status`` reports."""
        with self._state_lock:
            quiesced, in_flight = self._quiesced, self._in_flight
        return {
            "consumer": self.settings.consumer,
            "quiesced": quiesced,
            "in_flight": in_flight,
            "version": self.features.version,
            "stream": self.settings.stream,
            "group": self.settings.group,
            "idempotent": self.features.ingest_idempotency,
            "events": {o: int(self.metrics.events.value(outcome=o)) for o in OUTCOMES},
        }

    def _set_quiesced(self, value: bool) -> None:
        with self._state_lock:
            changed = self._quiesced != value
            self._quiesced = value
        self.metrics.quiesced.set(1 if value else 0)
        if changed:
            LOG.info("quiesced: in-flight messages finished and acknowledged" if value else "resumed")

    def _set_in_flight(self, count: int) -> None:
        with self._state_lock:
            self._in_flight = count
        self.metrics.in_flight.set(count)

    # -- loop --------------------------------------------------------------------

    def run(self) -> None:
        """Consume until a stop is requested."""
        while not self.stop_requested.is_set():
            if self.quiesce_requested.is_set():
                self._set_quiesced(True)
                self.stop_requested.wait(0.2)
                continue
            self._set_quiesced(False)
            try:
                self._step()
            except (redis.RedisError, DependencyError) as exc:
                self._group_ready = self._group_ready and "NOGROUP" not in str(exc)
                LOG.warning("%s; retrying in 1s", exc)
                self.stop_requested.wait(1.0)
        self._set_quiesced(True)
        self._close_pg()

    def _step(self) -> None:
        """One round: make sure the group exists, retry stale messages, read new ones.

        Nothing is read or claimed while PostgreSQL is unreachable, so an outage leaves
        messages waiting in the stream instead of using up their deliveries.
        """
        self._ensure_group()
        self._pg()
        if not self._recovered_own:
            self._claim(consumer=self.settings.consumer, min_idle_ms=0)
            self._recovered_own = True
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self._claim_interval()
            self._claim(consumer=None, min_idle_ms=self.settings.claim_idle_ms)
        if self.quiesce_requested.is_set():
            return
        reply = self.redis.xreadgroup(
            self.settings.group,
            self.settings.consumer,
            {self.settings.stream: ">"},
            count=READ_COUNT,
            block=READ_BLOCK_MS,
        )
        batch = [
            Delivery(mid, fields or {}, 1) for _stream, entries in reply or [] for mid, fields in entries
        ]
        self._process(batch)

    def _claim_interval(self) -> float:
        return min(5.0, max(0.5, self.settings.claim_idle_ms / 3000.0))

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.redis.xgroup_create(self.settings.stream, self.settings.group, id="0", mkstream=True)
            LOG.info("created consumer group %s on %s", self.settings.group, self.settings.stream)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _claim(self, consumer: str | None, min_idle_ms: int) -> None:
        """Claim pending messages idle for ``min_idle_ms`` (of ``consumer``, or anyone's) and retry them."""
        pending = self.redis.xpending_range(
            self.settings.stream,
            self.settings.group,
            "-",
            "+",
            CLAIM_BATCH,
            consumername=consumer,
            idle=min_idle_ms or None,
        )
        if not pending:
            return
        counts = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        claimed = self.redis.xclaim(
            self.settings.stream, self.settings.group, self.settings.consumer, min_idle_ms, list(counts)
        )
        batch = [Delivery(mid, fields or {}, counts.get(mid, 0) + 1) for mid, fields in claimed or [] if mid]
        if batch:
            self.metrics.claimed.inc(len(batch))
            LOG.info("claimed %d pending message(s) for a retry", len(batch))
        self._process(batch, already_delivered=counts)

    # -- processing --------------------------------------------------------------

    def _process(self, batch: list[Delivery], already_delivered: dict[str, int] | None = None) -> None:
        """Apply a batch; each success is acknowledged right after its commit."""
        if not batch:
            return
        self._set_in_flight(len(batch))
        try:
            for index, delivery in enumerate(batch):
                previous = (already_delivered or {}).get(delivery.message_id, 0)
                if previous >= self.settings.max_deliveries:
                    delivery.deliveries = previous
                    self._dead_letter(
                        delivery, self._errors.get(delivery.message_id, "max deliveries exceeded")
                    )
                else:
                    self._handle(delivery)
                self._set_in_flight(len(batch) - index - 1)
        finally:
            self._set_in_flight(0)

    def _handle(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        try:
            event = parse_event(delivery.fields)
            outcome = apply_event(self._pg(), event, self.features.ingest_idempotency)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._close_pg()
            raise DependencyError("postgresql", exc) from exc
        except (PoisonEvent, psycopg.Error) as exc:
            self._failed(delivery, exc)
            return
        self.redis.xack(self.settings.stream, self.settings.group, delivery.message_id)
        self._errors.pop(delivery.message_id, None)
        self.metrics.events.inc(outcome=outcome)
        self.metrics.duration.observe(time.perf_counter() - started)
        if event.produced_at is not None:
            self.metrics.end_to_end.observe(max(0.0, time.time() - event.produced_at))

    def _failed(self, delivery: Delivery, exc: Exception) -> None:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.metrics.events.inc(outcome="failed")
        self._errors[delivery.message_id] = error
        LOG.warning(
            "message %s failed (delivery %d of %d): %s",
            delivery.message_id,
            delivery.deliveries,
            self.settings.max_deliveries,
            error,
        )
        if delivery.deliveries >= self.settings.max_deliveries:
            self._dead_letter(delivery, error)

    def _dead_letter(self, delivery: Delivery, error: str) -> None:
        fields = dict(delivery.fields)
        fields.update(
            error=error,
            original_id=delivery.message_id,
            deliveries=str(delivery.deliveries),
            dead_lettered_at=repr(time.time()),
            consumer=self.settings.consumer,
        )
        self.redis.xadd(self.settings.dlq_stream, fields, maxlen=DLQ_MAXLEN, approximate=True)
        self.redis.xack(self.settings.stream, self.settings.group, delivery.message_id)
        self._errors.pop(delivery.message_id, None)
        self.metrics.events.inc(outcome="dead_lettered")
        LOG.warning(
            "message %s dead-lettered to %s after %d deliveries: %s",
            delivery.message_id,
            self.settings.dlq_stream,
            delivery.deliveries,
            error,
        )

    # -- PostgreSQL --------------------------------------------------------------

    def _pg(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._close_pg()
            try:
                self._conn = pg_connect(self.settings.common.database_url, statement_timeout_ms=5000)
            except psycopg.Error as exc:
                raise DependencyError("postgresql", exc) from exc
        return self._conn

    def _close_pg(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class StatusHandler(BaseHTTPRequestHandler):
    """``/healthz``, ``/status``, ``/version``, ``/metrics`` of the worker."""

    protocol_version = "HTTP/1.0"
    server_version = "intelgraph-ingest"
    timeout = 10
    server: StatusServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""

    def do_GET(self) -> None:
        """Serve the status endpoints."""
        worker = self.server.worker
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, {"status": "ok"})
        elif path == "/status":
            self._send(200, worker.status())
        elif path == "/version":
            self._send(200, {"version": worker.features.version, "host": socket.gethostname()})
        elif path == "/metrics":
            self._send(200, worker.metrics.registry.render(), CONTENT_TYPE)
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        text = body if isinstance(body, str) else json.dumps(body) + "\n"
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class StatusServer(ThreadingHTTPServer):
    """The worker's small HTTP server."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], worker: Worker) -> None:
        self.worker = worker
        super().__init__(address, StatusHandler)


def install_signal_handlers(worker: Worker) -> None:
    """SIGUSR1 quiesce, SIGUSR2 resume, SIGTERM/SIGINT quiesce and exit."""

    def on_quiesce(_signum: int, _frame: FrameType | None) -> None:
        worker.quiesce_requested.set()

    def on_resume(_signum: int, _frame: FrameType | None) -> None:
        worker.quiesce_requested.clear()

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        LOG.info("%s: finishing in-flight messages, then exiting", signal.Signals(signum).name)
        worker.quiesce_requested.set()
        worker.stop_requested.set()

    signal.signal(signal.SIGUSR1, on_quiesce)
    signal.signal(signal.SIGUSR2, on_resume)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)


def main() -> int:
    """Run the worker until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = IngestSettings.from_env(os.environ)
    except ConfigError as exc:
        LOG.error("configuration: %s", exc)
        return 2
    features = features_for(read_version())
    worker = Worker(settings, features, redis_client(settings.common.redis_url))
    server = StatusServer((settings.host, settings.port), worker)
    threading.Thread(target=server.serve_forever, name="status", daemon=True).start()
    install_signal_handlers(worker)
    LOG.info(
        "intelgraph-ingest %s consumer %s group %s stream %s (idempotent=%s)",
        features.version,
        settings.consumer,
        settings.group,
        settings.stream,
        features.ingest_idempotency,
    )
    try:
        worker.run()
    finally:
        server.shutdown()
        server.server_close()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
