#!/usr/bin/env python3
"""Traffic generator for the IntelGraph sandbox.

Keeps steady reads, writes and subscription polls flowing through the load balancer
and produces ingest events into the Redis stream, so that gates have data and
zero downtime can be measured. Statistics are written atomically to a JSON file
every second and at exit.

    traffic.py run   --base-url http://LB --redis-url redis://:pw@HOST:6379/0 --stats .sandbox/traffic.json
    traffic.py start ...same options...     run in the background (pid file next to the stats file)
    traffic.py stop  --stats .sandbox/traffic.json
    traffic.py report --stats .sandbox/traffic.json
    traffic.py wait  --stats .sandbox/traffic.json --min-requests 100

Every ingest event added to the stream is listed in ``<stats>.ingest`` (``.sandbox/traffic.ingest``),
one ``<event_id> <tenant> <poison 0|1>`` line each, so that a test can account for each one.

Only the given base URL and Redis URL are ever contacted. ``run`` stops by itself after
``--max-duration`` seconds, or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

TENANT_REGIONS: dict[str, str] = {
    "acme": "eu-west",
    "globex": "us-east",
    "initech": "us-west",
    "umbrella": "ap-south",
}
"""The sandbox tenants and their regions (the same set the service's seed uses)."""

KINDS = ("read", "write", "subscription")
KIND_WEIGHTS = (0.70, 0.15, 0.15)
"""Shares of the HTTP rate. Reads and writes are drawn at random by the workers; the polls are
sent by one subscriber per tenant, each on a steady cadence (``Runner.subscriber``)."""
HOT_ENTITIES_PER_TENANT = 20
RECENT_WRITES = 200
LATENCY_WINDOW = 5000
LAST_FAILURES = 20
INGEST_BATCH_SECONDS = 10
INGEST_STREAM = "intelgraph:ingest"
REJECTED_CODES = frozenset({403, 429})


# -- statistics -------------------------------------------------------------------------


def outcome_of(status: int | None) -> str:
    """``failed`` (no answer or 5xx), ``rejected`` (403/429) or ``ok`` (anything else)."""
    if status is None or status >= 500:
        return "failed"
    if status in REJECTED_CODES:
        return "rejected"
    return "ok"


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile, or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


class KindStats:
    """Counters and a latency window of one request kind."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0
        self.rejected = 0
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)

    def to_dict(self) -> dict[str, Any]:
        """JSON form; p95 over the latest answered requests."""
        p95 = percentile(list(self.latencies), 95)
        return {
            "sent": self.sent,
            "failed": self.failed,
            "rejected": self.rejected,
            "p95_ms": None if p95 is None else round(p95, 2),
        }


class Stats:
    """Thread-safe accounting of everything the generator did."""

    def __init__(self, base_url: str, rate: float, ingest_rate: float, clock: Any = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.base_url = base_url
        self.rate = rate
        self.ingest_rate = ingest_rate
        self.started_at = clock()
        self.requests_sent = 0
        self.requests_failed = 0
        self.rejected = 0
        self.status_counts: collections.Counter[str] = collections.Counter()
        self.by_kind = {kind: KindStats() for kind in KINDS}
        self.failures: collections.deque[dict[str, Any]] = collections.deque(maxlen=LAST_FAILURES)
        # When the first and the last failed request ended: every failure lies between them.
        self.first_failure_at: float | None = None
        self.last_failure_at: float | None = None
        self.ingest_events_produced = 0
        self.ingest_poison_produced = 0
        self.ingest_errors = 0
        self.running = True

    def record(self, kind: str, status: int | None, latency_ms: float, error: str | None = None) -> str:
        """Account one HTTP request; return its outcome."""
        outcome = outcome_of(status)
        with self._lock:
            self.requests_sent += 1
            self.status_counts[str(status) if status is not None else "error"] += 1
            ks = self.by_kind[kind]
            ks.sent += 1
            if status is not None:
                ks.latencies.append(latency_ms)
            if outcome == "failed":
                self.requests_failed += 1
                ks.failed += 1
                now = self._clock()
                if self.first_failure_at is None:
                    self.first_failure_at = now
                self.last_failure_at = now
                self.failures.append({"time": now, "kind": kind, "error": error or f"HTTP {status}"})
            elif outcome == "rejected":
                self.rejected += 1
                ks.rejected += 1
        return outcome

    def record_ingest(self, ok: bool, poison: bool = False, error: str | None = None) -> None:
        """Account one produced (or failed) ingest event."""
        with self._lock:
            if ok:
                self.ingest_events_produced += 1
                self.ingest_poison_produced += int(poison)
            else:
                self.ingest_errors += 1
                self.failures.append({"time": self._clock(), "kind": "ingest", "error": error or "error"})

    def to_dict(self) -> dict[str, Any]:
        """The stats file's document."""
        with self._lock:
            now = self._clock()
            return {
                "base_url": self.base_url,
                "rate": self.rate,
                "ingest_rate": self.ingest_rate,
                "pid": os.getpid(),
                "started_at": self.started_at,
                "updated_at": now,
                "elapsed_seconds": round(now - self.started_at, 3),
                "running": self.running,
                "requests_sent": self.requests_sent,
                "requests_failed": self.requests_failed,
                "rejected": self.rejected,
                "error_rate": round(self.requests_failed / self.requests_sent, 6)
                if self.requests_sent
                else 0.0,
                "status_counts": dict(sorted(self.status_counts.items())),
                "by_kind": {kind: ks.to_dict() for kind, ks in self.by_kind.items()},
                "failures": list(self.failures),
                "first_failure_at": self.first_failure_at,
                "last_failure_at": self.last_failure_at,
                "ingest_events_produced": self.ingest_events_produced,
                "ingest_poison_produced": self.ingest_poison_produced,
                "ingest_errors": self.ingest_errors,
            }


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_stats(path: Path) -> dict[str, Any]:
    """Load a stats file."""
    return json.loads(path.read_text(encoding="utf-8"))


# -- workload ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP request to send."""

    kind: str
    method: str
    path: str
    tenant: str
    region: str
    body: dict[str, Any] | None = None


class Workload:
    """Chooses the next read or write so the cache sees a realistic hit ratio, and each
    tenant's next subscription poll.

    Reads mostly go to a small hot set per tenant that is written once and rarely
    updated; most writes create new entities. Each tenant keeps a subscription cursor,
    polled by its one subscriber, so that the answers come in order and the cursor only
    moves forward.
    """

    def __init__(self, tenants: dict[str, str], rng: random.Random | None = None) -> None:
        self.tenants = tenants
        self.rng = rng or random.Random()
        self.run_id = uuid.uuid4().hex[:8]
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._unwritten = [
            (tenant, self.hot_id(tenant, i)) for i in range(HOT_ENTITIES_PER_TENANT) for tenant in tenants
        ]
        self._written: dict[str, list[str]] = {tenant: [] for tenant in tenants}
        self._recent: collections.deque[tuple[str, str]] = collections.deque(maxlen=RECENT_WRITES)
        self._cursors: dict[str, str | None] = dict.fromkeys(tenants)

    @staticmethod
    def hot_id(tenant: str, index: int) -> str:
        """Id of a hot (frequently read) entity."""
        return f"hot-{tenant}-{index:03d}"

    def next(self) -> Request:
        """The next read or write to send."""
        kind = self.rng.choices(KINDS[:2], weights=KIND_WEIGHTS[:2])[0]
        with self._lock:
            if kind == "read" and any(self._written.values()):
                return self._read()
            return self._write()

    def poll(self, tenant: str) -> Request:
        """The tenant's next subscription poll, from its cursor."""
        with self._lock:
            cursor = self._cursors.get(tenant)
        path = "/api/v1/subscriptions/poll" + (f"?cursor={cursor}" if cursor else "")
        return Request("subscription", "GET", path, tenant, self.tenants[tenant])

    def _read(self) -> Request:
        if self._recent and self.rng.random() < 0.1:
            tenant, entity_id = self.rng.choice(self._recent)
        else:
            tenant = self.rng.choice([t for t, ids in self._written.items() if ids])
            entity_id = self.rng.choice(self._written[tenant])
        return Request("read", "GET", f"/api/v1/entities/{entity_id}", tenant, self.tenants[tenant])

    def _write(self) -> Request:
        if self._unwritten:
            tenant, entity_id = self._unwritten[0]
        elif self.rng.random() < 0.05:
            tenant = self.rng.choice(list(self.tenants))
            entity_id = self.rng.choice(self._written[tenant])
        else:
            tenant = self.rng.choice(list(self.tenants))
            entity_id = f"w-{tenant}-{self.run_id}-{next(self._counter)}"
        body = {
            "id": entity_id,
            "data": {"tenant": tenant, "value": self.rng.randint(0, 10**6), "at": time.time()},
        }
        return Request("write", "POST", "/api/v1/entities", tenant, self.tenants[tenant], body)

    def observe(self, request: Request, status: int | None, body: Any) -> None:
        """Learn from an answer: written entities become readable, cursors advance."""
        with self._lock:
            if request.kind == "write" and status == 201 and request.body:
                entity_id = request.body["id"]
                if (request.tenant, entity_id) in self._unwritten:
                    self._unwritten.remove((request.tenant, entity_id))
                    self._written[request.tenant].append(entity_id)
                elif entity_id.startswith("w-"):
                    self._recent.append((request.tenant, entity_id))
            elif request.kind == "subscription" and status == 200 and isinstance(body, dict):
                cursor = body.get("cursor")
                if isinstance(cursor, str):
                    self._cursors[request.tenant] = cursor


# -- HTTP -------------------------------------------------------------------------------


class HttpTarget:
    """Sends requests to one base URL, a new connection per request."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port], got {base_url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout

    def send(self, request: Request) -> tuple[int | None, Any, str | None]:
        """Return (status or None, decoded body, error text)."""
        factory = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = factory(self.host, self.port, timeout=self.timeout)
        headers = {"X-Tenant-Id": request.tenant, "X-Tenant-Region": request.region, "Connection": "close"}
        payload = None
        if request.body is not None:
            payload = json.dumps(request.body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            conn.request(request.method, self.prefix + request.path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return None, None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return response.status, body, None


# -- runner -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """Options of ``run``."""

    base_url: str
    redis_url: str | None
    rate: float
    ingest_rate: float
    stats: Path
    max_duration: float
    poison_ratio: float
    threads: int
    timeout: float
    ingest_stream: str


class Pacer:
    """Paces a loop at ``rate`` iterations per second without building a backlog."""

    def __init__(self, rate: float, clock: Any = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.next_at = clock()

    def delay(self) -> float:
        """Seconds to wait before the next iteration (and book it)."""
        now = self.clock()
        if self.next_at < now - 1.0:
            self.next_at = now
        wait = max(0.0, self.next_at - now)
        self.next_at += self.interval
        return wait


class Runner:
    """Runs the HTTP workers, the ingest producer and the stats writer until stopped."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.stop = threading.Event()
        self.stats = Stats(options.base_url, options.rate, options.ingest_rate)
        self.workload = Workload(TENANT_REGIONS)
        self.target = HttpTarget(options.base_url, options.timeout)
        self._batch_counter = itertools.count(1)

    def http_worker(self, rate: float) -> None:
        """Send reads and writes at ``rate`` per second."""
        pacer = Pacer(rate)
        while not self.stop.wait(pacer.delay()):
            self.send(self.workload.next())

    def subscriber(self, tenant: str, interval: float, offset: float) -> None:
        """Poll the tenant's subscription as its client does: one poll at a time, every
        ``interval`` seconds (at once after an answer that came later), starting after ``offset``.
        A change is delivered within an interval of being written, unless the API holds it back.
        """
        if self.stop.wait(offset):
            return
        pacer = Pacer(1.0 / interval)
        while not self.stop.wait(pacer.delay()):
            self.send(self.workload.poll(tenant))

    def send(self, request: Request) -> None:
        """Send one request, account for it and learn from its answer."""
        started = time.perf_counter()
        status, body, error = self.target.send(request)
        self.stats.record(request.kind, status, (time.perf_counter() - started) * 1000.0, error)
        self.workload.observe(request, status, body)

    def ingest_producer(self) -> None:
        """XADD ingest events at the ingest rate."""
        import redis  # imported here so report/stop work without redis-py

        client = redis.Redis.from_url(
            self.options.redis_url or "", socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
        pacer = Pacer(self.options.ingest_rate)
        tenants = list(TENANT_REGIONS)
        with open(ingest_log_for(self.options.stats), "a", encoding="utf-8") as produced:
            while not self.stop.wait(pacer.delay()):
                fields, poison = self.ingest_event(tenants)
                try:
                    client.xadd(self.options.ingest_stream, fields)
                except redis.RedisError as exc:
                    self.stats.record_ingest(False, error=f"{type(exc).__name__}: {exc}")
                else:
                    self.stats.record_ingest(True, poison=poison)
                    record_produced(produced, fields, poison)

    def ingest_event(self, tenants: Sequence[str]) -> tuple[dict[str, str], bool]:
        """Fields of one new ingest event: a unique event id, batches ``live-<tenant>-<n>`` of 10 s each."""
        now = time.time()
        poison = self.options.poison_ratio > 0 and random.random() < self.options.poison_ratio
        payload: dict[str, Any] = {"poison": True} if poison else {"seq": next(self._batch_counter)}
        tenant = random.choice(tenants)
        fields = {
            "event_id": uuid.uuid4().hex,
            "tenant": tenant,
            "batch_id": f"live-{tenant}-{int(now // INGEST_BATCH_SECONDS)}",
            "payload": json.dumps(payload),
            "produced_at": repr(now),
        }
        return fields, poison

    def stats_writer(self) -> None:
        """Write the stats file every second."""
        while not self.stop.wait(1.0):
            self.write_stats()

    def write_stats(self) -> None:
        """Write the stats file now."""
        write_json_atomic(self.options.stats, self.stats.to_dict())

    def run(self) -> int:
        """Run until stopped or ``max_duration`` passed; write final stats."""
        threads = self._start_threads()
        deadline = time.monotonic() + self.options.max_duration
        while not self.stop.wait(max(0.0, min(1.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                self.stop.set()
        for thread in threads:
            thread.join(timeout=self.options.timeout + 2.0)
        self.stats.running = False
        self.write_stats()
        return 0

    def _start_threads(self) -> list[threading.Thread]:
        opts = self.options
        ingest_log_for(opts.stats).write_text("", encoding="utf-8")
        threads = [threading.Thread(target=self.stats_writer, name="stats", daemon=True)]
        if opts.rate > 0:
            subscription_share = KIND_WEIGHTS[KINDS.index("subscription")]
            per_thread = opts.rate * (1.0 - subscription_share) / opts.threads
            threads += [
                threading.Thread(target=self.http_worker, args=(per_thread,), name=f"http-{i}", daemon=True)
                for i in range(opts.threads)
            ]
            tenants = list(self.workload.tenants)
            interval = len(tenants) / (opts.rate * subscription_share)
            threads += [
                threading.Thread(
                    target=self.subscriber,
                    args=(tenant, interval, interval * i / len(tenants)),
                    name=f"subscriber-{tenant}",
                    daemon=True,
                )
                for i, tenant in enumerate(tenants)
            ]
        if opts.ingest_rate > 0 and opts.redis_url:
            threads.append(threading.Thread(target=self.ingest_producer, name="ingest", daemon=True))
        self.write_stats()
        for thread in threads:
            thread.start()
        return threads


# -- process management -----------------------------------------------------------------


def pid_file_for(stats: Path) -> Path:
    """The pid file next to the stats file."""
    return stats.with_suffix(".pid")


def ingest_log_for(stats: Path) -> Path:
    """The list of the ingest events a run produced, next to the stats file: one line per event
    added to the stream, ``<event_id> <tenant> <poison 0|1>``."""
    return stats.with_suffix(".ingest")


def record_produced(log: Any, fields: dict[str, str], poison: bool) -> None:
    """Append one produced event to the open ingest log and flush it."""
    log.write(f"{fields['event_id']} {fields['tenant']} {int(poison)}\n")
    log.flush()


def read_produced(path: Path) -> dict[str, bool]:
    """{event_id: poison} of an ingest log."""
    produced = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        event_id, _tenant, poison = line.split()
        produced[event_id] = poison == "1"
    return produced


def log_file_for(stats: Path) -> Path:
    """The log file of a background run, next to the stats file."""
    return stats.with_suffix(".log")


def running_pid(stats: Path) -> int | None:
    """Pid of a live generator recorded next to ``stats``, else None."""
    try:
        pid = int(pid_file_for(stats).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"traffic.py" in cmdline else None


def cmd_run(args: argparse.Namespace) -> int:
    """Run in the foreground."""
    options = RunOptions(
        base_url=args.base_url,
        redis_url=args.redis_url,
        rate=args.rate,
        ingest_rate=args.ingest_rate,
        stats=args.stats,
        max_duration=args.max_duration,
        poison_ratio=args.poison_ratio,
        threads=args.threads,
        timeout=args.timeout,
        ingest_stream=args.ingest_stream,
    )
    runner = Runner(options)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        runner.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pid_file = pid_file_for(args.stats)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        return runner.run()
    finally:
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()


def cmd_start(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Start ``run`` in the background and wait for its first stats."""
    if running_pid(args.stats):
        print(f"traffic: already running (pid {running_pid(args.stats)})", file=sys.stderr)
        return 1
    args.stats.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        args.stats.unlink()
    run_argv = [sys.executable, os.path.abspath(__file__), "run", *argv[1:]]
    with open(log_file_for(args.stats), "ab") as log:
        process = subprocess.Popen(
            run_argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(
                f"traffic: exited with {process.returncode}; see {log_file_for(args.stats)}", file=sys.stderr
            )
            return 1
        if args.stats.exists() and running_pid(args.stats) == process.pid:
            print(f"traffic: started pid {process.pid}, stats {args.stats}")
            return 0
        time.sleep(0.1)
    print("traffic: no stats after 10s", file=sys.stderr)
    return 1


def cmd_stop(args: argparse.Namespace) -> int:
    """SIGTERM the background generator and wait for its final stats."""
    pid = running_pid(args.stats)
    if pid is None:
        print("traffic: not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        print(f"traffic: pid {pid} still running after {args.timeout}s", file=sys.stderr)
        return 1
    stats = read_stats(args.stats)
    print(f"traffic: stopped pid {pid}")
    print(summary(stats))
    return 0 if not stats.get("running") else 1


def summary(stats: dict[str, Any]) -> str:
    """A human summary of a stats document."""
    sent = stats.get("requests_sent", 0)
    failed = stats.get("requests_failed", 0)
    lines = [
        f"traffic against {stats.get('base_url')}: {'running' if stats.get('running') else 'stopped'}, "
        f"{stats.get('elapsed_seconds', 0):.0f}s",
        f"  requests: {sent} sent, {failed} failed ({(failed / sent * 100) if sent else 0:.3f}%), "
        f"{stats.get('rejected', 0)} rejected (403/429)",
        f"  status codes: {', '.join(f'{k}={v}' for k, v in stats.get('status_counts', {}).items()) or '-'}",
    ]
    for kind, ks in stats.get("by_kind", {}).items():
        p95 = ks.get("p95_ms")
        lines.append(
            f"  {kind:<12} sent={ks.get('sent', 0)} failed={ks.get('failed', 0)} "
            f"rejected={ks.get('rejected', 0)} p95={'-' if p95 is None else f'{p95:.1f} ms'}"
        )
    lines.append(
        f"  ingest: {stats.get('ingest_events_produced', 0)} events produced "
        f"({stats.get('ingest_poison_produced', 0)} poison), {stats.get('ingest_errors', 0)} errors"
    )
    failures = stats.get("failures", [])
    if failures:
        lines.append(f"  last {len(failures)} failure(s):")
        for failure in failures:
            stamp = time.strftime("%H:%M:%S", time.localtime(failure.get("time", 0)))
            lines.append(f"    {stamp} {failure.get('kind')}: {failure.get('error')}")
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    """Print the summary (or the JSON) of a stats file."""
    stats = read_stats(args.stats)
    print(json.dumps(stats, indent=2, sort_keys=True) if args.json else summary(stats))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    """Wait until at least ``--min-requests`` were sent."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            stats = read_stats(args.stats)
            if stats.get("requests_sent", 0) >= args.min_requests:
                print(f"traffic: {stats['requests_sent']} requests sent")
                return 0
        time.sleep(0.5)
    print(f"traffic: fewer than {args.min_requests} requests after {args.timeout}s", file=sys.stderr)
    return 1


def _positive(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "start"):
        p = sub.add_parser(name, help="generate traffic" + (" in the background" if name == "start" else ""))
        p.add_argument("--base-url", required=True, help="API base URL, e.g. http://10.89.40.10")
        p.add_argument(
            "--redis-url",
            default=os.environ.get("INTELGRAPH_TRAFFIC_REDIS_URL"),
            help="Redis URL of the ingest stream (default $INTELGRAPH_TRAFFIC_REDIS_URL, which keeps its "
            "password off the command line; neither: no ingest)",
        )
        p.add_argument(
            "--rate",
            type=_positive,
            default=20.0,
            help="HTTP requests per second, subscription polls included (default 20)",
        )
        p.add_argument(
            "--ingest-rate", type=_positive, default=5.0, help="ingest events per second (default 5)"
        )
        p.add_argument("--stats", type=Path, required=True, help="stats JSON path")
        p.add_argument(
            "--max-duration", type=_positive, default=3600.0, help="stop after seconds (default 3600)"
        )
        p.add_argument("--poison-ratio", type=_positive, default=0.0, help="share of poison ingest events")
        p.add_argument("--threads", type=int, default=8, help="HTTP worker threads (default 8)")
        p.add_argument(
            "--timeout", type=_positive, default=5.0, help="per-request timeout seconds (default 5)"
        )
        p.add_argument("--ingest-stream", default=INGEST_STREAM, help=f"default {INGEST_STREAM}")
    for name in ("stop", "report", "wait"):
        p = sub.add_parser(name)
        p.add_argument("--stats", type=Path, required=True)
    stop, report, wait = (sub.choices[n] for n in ("stop", "report", "wait"))
    stop.add_argument("--timeout", type=_positive, default=20.0, help="seconds to wait for the exit")
    report.add_argument("--json", action="store_true", help="print the raw JSON")
    wait.add_argument("--min-requests", type=int, required=True)
    wait.add_argument("--timeout", type=_positive, default=120.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    if args.command in ("run", "start") and args.threads < 1:
        build_parser().error("--threads must be >= 1")
    if args.command == "run":
        return cmd_run(args)
    if args.command == "start":
        return cmd_start(args, arguments)
    if args.command == "stop":
        return cmd_stop(args)
    if args.command == "report":
        return cmd_report(args)
    return cmd_wait(args)


if __name__ == "__main__":
    sys.exit(main())
