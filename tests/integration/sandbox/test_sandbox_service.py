"""The stand-in IntelGraph service, run for real from its release tarballs against local
Redis and PostgreSQL: migrations, API (both versions), SIGTERM drain, ingest worker
(dedup, dead letters, quiesce), seed and backfill, smoke, and a traffic run."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sandbox_it_support import MISSING, ROOT, Services, free_port, http_get, wait_until

if MISSING is not None:
    raise pytest.UsageError(f"the integration tests {MISSING}: run 'make deps' (sandbox/setup-host.sh) first")

REGION = {"X-Tenant-Id": "acme", "X-Tenant-Region": "eu-west"}
TRAFFIC = ROOT / "sandbox" / "traffic" / "traffic.py"


@pytest.fixture(scope="module")
def schema(services: Services) -> Services:
    """The intelgraph database migrated to 24.1."""
    result = services.run_module("24.1.0", "intelgraph.migrate")
    assert result.returncode == 0, result.stderr
    return services


def start_api(services: Services, version: str, name: str, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start bin/intelgraph-api of ``version``; return the process and its port once healthy."""
    port = free_port()
    settings = {"INTELGRAPH_LISTEN": f"127.0.0.1:{port}", "SHUTDOWN_GRACE_SECONDS": "1", **env}
    release = services.releases[version]
    process = services.processes.start(
        name,
        [services.python, str(release / "bin" / "intelgraph-api")],
        services.env(**settings),
        cwd=release,
    )
    wait_until(lambda: http_get(port, "/healthz")[0] == 200, 15, f"{name} healthz")
    return process, port


def start_worker(
    services: Services, version: str, name: str, **env: str
) -> tuple[subprocess.Popen[bytes], int]:
    """Start bin/intelgraph-ingest of ``version``; return the process and its status port."""
    port = free_port()
    settings = {"INGEST_METRICS_LISTEN": f"127.0.0.1:{port}", "INGEST_CONSUMER": name, **env}
    release = services.releases[version]
    process = services.processes.start(
        name,
        [services.python, str(release / "bin" / "intelgraph-ingest")],
        services.env(**settings),
        cwd=release,
    )
    wait_until(lambda: http_get(port, "/healthz")[0] == 200, 15, f"{name} healthz")
    return process, port


def metric(text: str, line_start: str) -> float:
    """Value of the first sample line starting with ``line_start``."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start!r}")


# -- migrations ------------------------------------------------------------------------


def test_migrations_apply_once_in_order_under_a_lock(services: Services) -> None:
    dbname = f"mig_{uuid.uuid4().hex[:8]}"
    services.sql(f"CREATE DATABASE {dbname}")
    url = services.database_url.rsplit("/", 1)[0] + "/" + dbname

    def migrate(version: str) -> subprocess.CompletedProcess[str]:
        return services.run_module(version, "intelgraph.migrate", DATABASE_URL=url)

    first = migrate("24.0.0")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "applied 0001_base.sql",
        "migrate: applied=1 pending=0 current=0001_base.sql",
    ]
    assert migrate("24.0.0").stdout.strip() == "migrate: applied=0 pending=0 current=0001_base.sql"
    upgrade = migrate("24.1.0")
    assert upgrade.stdout.splitlines() == [
        "applied 0002_ingest_idempotency.sql",
        "migrate: applied=1 pending=0 current=0002_ingest_idempotency.sql",
    ]
    again = migrate("24.1.0")
    assert again.stdout.strip() == "migrate: applied=0 pending=0 current=0002_ingest_idempotency.sql"
    # 24.0.0 still runs against the newer schema (the migration is additive).
    assert (
        migrate("24.0.0").stdout.strip() == "migrate: applied=0 pending=0 current=0002_ingest_idempotency.sql"
    )

    lock_key = services.lock_key()
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key,))
        release = services.releases["24.1.0"]
        waiting = subprocess.Popen(
            [services.python, "-m", "intelgraph.migrate"],
            cwd=release,
            env=services.env(DATABASE_URL=url),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert waiting.stdout is not None
        assert "waiting for advisory lock" in waiting.stdout.readline()
        time.sleep(0.5)
        assert waiting.poll() is None
        holder.execute("SELECT pg_advisory_unlock(%s)", (lock_key,))
        rest, _ = waiting.communicate(timeout=30)
    assert waiting.returncode == 0
    assert rest.splitlines()[-1] == "migrate: applied=0 pending=0 current=0002_ingest_idempotency.sql"


def test_failed_migration_exits_non_zero_and_stays_pending(services: Services, tmp_path: Path) -> None:
    dbname = f"migfail_{uuid.uuid4().hex[:8]}"
    services.sql(f"CREATE DATABASE {dbname}")
    url = services.database_url.rsplit("/", 1)[0] + "/" + dbname
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (migrations / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM missing_table;")
    result = services.run_module("24.1.0", "intelgraph.migrate", "--dir", str(migrations), DATABASE_URL=url)
    assert result.returncode == 1
    assert "missing_table" in result.stderr
    assert "applied 0001_ok.sql" in result.stdout
    with psycopg.connect(url) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
        half = conn.execute("SELECT to_regclass('half')").fetchone()
    assert names == ["0001_ok.sql"]
    assert half == (None,)


# -- API ----------------------------------------------------------------------------------


def test_api_24_1_end_to_end_and_graceful_stop(schema: Services) -> None:
    services = schema
    process, port = start_api(
        services,
        "24.1.0",
        "api-24.1",
        RPS_LIMIT="20",
        RPS_BURST="20",
        TENANT_RESIDENCY_MODE="strict",
        TRACE_SAMPLING_RATIO="0.5",
        CACHE_TTL_SECONDS="60",
    )
    assert http_get(port, "/version") == (200, {"version": "24.1.0", "host": socket.gethostname()})
    wait_until(lambda: http_get(port, "/readyz") == (200, {"ready": True}), 10, "readyz")

    smoke = subprocess.run(
        ["make", "smoke"] if shutil.which("make") else [services.python, "-m", "intelgraph.smoke"],
        cwd=services.releases["24.1.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=services.env(SMOKE_BASE_URL=f"http://127.0.0.1:{port}", SMOKE_EXPECT_VERSION="24.1.0"),
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "smoke: passed 7 checks" in smoke.stdout

    assert http_get(port, "/api/v1/entities/nope", {"X-Tenant-Id": "acme"})[0] == 403
    codes = [
        http_get(port, "/api/v1/entities/nope", {**REGION, "X-Tenant-Id": "burst"})[0] for _ in range(40)
    ]
    assert codes.count(404) >= 20 and 429 in codes

    client = services.redis()
    assert client.get("intelgraph:features:residency_guard") == "on"
    assert client.get("intelgraph:features:rps_limiter") == "on"
    status, features = http_get(port, "/api/v1/features", REGION)
    assert status == 200 and features["toggles"]["rps_limiter"] == "on"

    text = http_get(port, "/metrics")[1]
    assert metric(text, 'intelgraph_build_info{version="24.1.0"') == 1
    assert metric(text, "subscription_latency_seconds_count") >= 1
    assert metric(text, "intelgraph_rate_limited_total") >= 1
    assert metric(text, 'intelgraph_residency_denied_total{mode="strict"}') == 1
    assert metric(text, "intelgraph_trace_sampling_ratio") == 0.5
    assert metric(text, 'intelgraph_http_requests_total{kind="write",code="201"}') == 1

    # A request in flight when SIGTERM arrives still gets its answer; readyz turns 503 at once.
    in_flight = socket.create_connection(("127.0.0.1", port), timeout=10)
    in_flight.sendall(b"GET /version HTTP/1.0\r\n")
    process.send_signal(signal.SIGTERM)
    assert wait_until(lambda: http_get(port, "/readyz")[0] == 503, 5, "readyz 503 while draining")
    assert http_get(port, "/readyz")[1] == {"ready": False, "reason": "draining"}
    assert http_get(port, "/api/v1/entities/nope", REGION)[0] == 404  # still serving during the grace period
    time.sleep(1.5)  # past SHUTDOWN_GRACE_SECONDS: no new connections, the old one still served
    in_flight.sendall(b"\r\n")
    answer = in_flight.makefile("rb").read().decode()
    in_flight.close()
    assert answer.startswith("HTTP/1.0 200") and '"24.1.0"' in answer
    assert process.wait(timeout=15) == 0


def test_api_stops_before_its_grace_once_no_request_reaches_it(schema: Services) -> None:
    """A stopping API keeps serving while API requests reach it (a load balancer that has not
    taken it out yet), however long that is within its grace, and stops about half a second
    after the last one (a drained host in maintenance), not at the end of its grace."""
    process, port = start_api(schema, "24.1.0", "api-idle", SHUTDOWN_GRACE_SECONDS="30")
    process.send_signal(signal.SIGTERM)
    assert wait_until(lambda: http_get(port, "/readyz")[0] == 503, 5, "readyz 503 while draining")
    served = []
    until = time.monotonic() + 2.0
    while time.monotonic() < until:  # four times the idle time, a request every 0.2 s
        served.append(http_get(port, "/api/v1/entities/nope", REGION)[0])
        time.sleep(0.2)
    last = time.monotonic()
    assert process.poll() is None
    assert served and set(served) == {404}
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - last < 3, "it stopped long after its last request"


def test_api_24_0_ignores_hardening_settings(schema: Services) -> None:
    process, port = start_api(
        schema,
        "24.0.0",
        "api-24.0",
        RPS_LIMIT="1",
        RPS_BURST="1",
        TENANT_RESIDENCY_MODE="strict",
        TRACE_SAMPLING_RATIO="1",
    )
    assert http_get(port, "/version") == (200, {"version": "24.0.0", "host": socket.gethostname()})
    codes = {http_get(port, "/api/v1/entities/nope", {"X-Tenant-Id": "acme"})[0] for _ in range(10)}
    assert codes == {404}
    text = http_get(port, "/metrics")[1]
    assert "subscription_latency_seconds" not in text
    assert "intelgraph_rate_limited_total" not in text
    assert "intelgraph_trace_sampling_ratio" not in text
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


@pytest.mark.parametrize("broken", ["redis", "postgresql"])
def test_unreachable_dependency_gives_503_fast(schema: Services, broken: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    env = (
        {"REDIS_URL": f"redis://{dead}/0"}
        if broken == "redis"
        else {"DATABASE_URL": f"postgresql://postgres@{dead}/intelgraph"}
    )
    process, port = start_api(schema, "24.1.0", f"api-no-{broken}", **env)
    status, body = http_get(port, "/readyz")
    assert status == 503 and broken in body["reason"]
    started = time.monotonic()
    status, body = http_get(port, "/api/v1/entities/anything", REGION)
    assert status == 503 and broken in body["detail"]
    assert time.monotonic() - started < 3
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


# -- ingest ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "e1_rows"), [("24.0.0", 2), ("24.1.0", 1)])
def test_ingest_worker(schema: Services, version: str, e1_rows: int) -> None:
    services = schema
    tag = f"{version.replace('.', '')}-{uuid.uuid4().hex[:6]}"
    stream, dlq = f"it:{tag}:ingest", f"it:{tag}:dlq"
    process, port = start_worker(
        services,
        version,
        f"ingest-{tag}",
        INGEST_STREAM=stream,
        INGEST_DLQ_STREAM=dlq,
        INGEST_CLAIM_IDLE_MS="300",
        INGEST_MAX_DELIVERIES="3",
    )
    client = services.redis()

    def event(event_id: str, payload: dict[str, Any]) -> None:
        client.xadd(
            stream,
            {
                "event_id": f"{tag}-{event_id}",
                "tenant": "acme",
                "batch_id": f"b-{tag}",
                "payload": json.dumps(payload),
                "produced_at": repr(time.time()),
            },
        )

    event("e1", {"n": 1})
    event("e2", {"n": 2})
    event("e1", {"n": 1})
    event("bad", {"poison": True})

    def status() -> dict[str, Any]:
        return http_get(port, "/status")[1]

    wait_until(lambda: status()["events"]["dead_lettered"] == 1, 30, "dead letter")
    wait_until(lambda: status()["events"]["applied"] + status()["events"]["duplicate"] == 3, 10, "3 applied")
    counts = dict(
        services.sql(
            "SELECT event_id, count(*) FROM ingest_events WHERE batch_id = %s GROUP BY 1", (f"b-{tag}",)
        )
    )
    assert counts == {f"{tag}-e1": e1_rows, f"{tag}-e2": 1}
    assert status()["events"]["duplicate"] == 2 - e1_rows
    assert status()["events"]["failed"] == 3
    dead = client.xrange(dlq)
    assert len(dead) == 1
    fields = dead[0][1]
    assert (
        fields["event_id"] == f"{tag}-bad"
        and fields["error"] == "poison event"
        and fields["deliveries"] == "3"
    )
    assert client.xpending(stream, "ingest-workers")["pending"] == 0

    text = http_get(port, "/metrics")[1]
    assert metric(text, 'intelgraph_ingest_events_total{outcome="dead_lettered"}') == 1
    assert metric(text, "intelgraph_ingest_duration_seconds_count") == 3
    assert metric(text, f'intelgraph_build_info{{version="{version}"') == 1

    # Quiesce: nothing new is taken until resumed.
    process.send_signal(signal.SIGUSR1)
    wait_until(lambda: status()["quiesced"] is True, 5, "quiesced")
    assert metric(http_get(port, "/metrics")[1], "intelgraph_ingest_quiesced") == 1
    event("e3", {"n": 3})
    time.sleep(1.5)
    assert services.sql("SELECT count(*) FROM ingest_events WHERE event_id = %s", (f"{tag}-e3",)) == [(0,)]
    process.send_signal(signal.SIGUSR2)
    wait_until(
        lambda: (
            services.sql("SELECT count(*) FROM ingest_events WHERE event_id = %s", (f"{tag}-e3",)) == [(1,)]
        ),
        10,
        "e3 applied after resume",
    )
    assert status()["quiesced"] is False
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_seed_backfill_and_replay(schema: Services, tmp_path: Path) -> None:
    services = schema
    prefix = f"it{uuid.uuid4().hex[:6]}"
    args = ("--batches", "3", "--events-per-batch", "7", "--manifest-dir", str(tmp_path), "--prefix", prefix)
    seeded = services.run_module("24.1.0", "intelgraph.seed", *args)
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.count(" inserted\n") == 3
    again = services.run_module("24.1.0", "intelgraph.seed", *args)
    assert again.stdout.count(" present\n") == 3

    first = services.run_module("24.1.0", "intelgraph.backfill")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1].startswith("backfill: batches=")
    assert f"backfill: batch={prefix}-0001 tenant=acme events=7 keys_inserted=7" in first.stdout
    second = services.run_module("24.1.0", "intelgraph.backfill")
    assert f"backfill: batch={prefix}-0001 tenant=acme events=7 keys_inserted=0" in second.stdout
    assert second.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]

    for path in sorted(tmp_path.glob("*.json")):
        manifest = json.loads(path.read_text())
        rows = services.sql(
            "SELECT tenant, event_count, state FROM ingest_batches WHERE batch_id = %s",
            (manifest["batch_id"],),
        )
        assert rows == [(manifest["tenant"], manifest["event_count"], "backfilled")]

    # After the backfill a 24.1 worker treats a replayed historical event as a duplicate.
    stream = f"it:{prefix}:ingest"
    process, port = start_worker(services, "24.1.0", f"replay-{prefix}", INGEST_STREAM=stream)
    services.redis().xadd(
        stream,
        {
            "event_id": f"{prefix}-0001-00001",
            "tenant": "acme",
            "batch_id": f"{prefix}-0001",
            "payload": "{}",
            "produced_at": repr(time.time()),
        },
    )
    wait_until(lambda: http_get(port, "/status")[1]["events"]["duplicate"] == 1, 10, "duplicate")
    assert services.sql("SELECT count(*) FROM ingest_events WHERE batch_id = %s", (f"{prefix}-0001",)) == [
        (7,)
    ]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_backfill_before_migration_says_so(services: Services) -> None:
    dbname = f"nobf_{uuid.uuid4().hex[:8]}"
    services.sql(f"CREATE DATABASE {dbname}")
    url = services.database_url.rsplit("/", 1)[0] + "/" + dbname
    assert services.run_module("24.0.0", "intelgraph.migrate", DATABASE_URL=url).returncode == 0
    result = services.run_module("24.1.0", "intelgraph.backfill", DATABASE_URL=url)
    assert result.returncode == 2
    assert "ingest_idempotency_keys" in result.stderr and "db:migrate" in result.stderr


# -- traffic ----------------------------------------------------------------------------


def test_traffic_generator_against_the_api(schema: Services, tmp_path: Path) -> None:
    services = schema
    api, port = start_api(
        services, "24.1.0", "api-traffic", RPS_LIMIT="100", RPS_BURST="200", TENANT_RESIDENCY_MODE="strict"
    )
    worker, _ = start_worker(services, "24.1.0", "ingest-traffic")
    stats_path = tmp_path / "traffic.json"
    run = subprocess.run(
        [
            sys.executable,
            str(TRAFFIC),
            "run",
            "--base-url",
            f"http://127.0.0.1:{port}",
            "--redis-url",
            services.redis_url,
            "--rate",
            "60",
            "--ingest-rate",
            "10",
            "--stats",
            str(stats_path),
            "--max-duration",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["running"] is False
    assert stats["requests_sent"] >= 300
    assert stats["requests_failed"] == 0, stats["failures"]
    assert stats["rejected"] == 0
    assert all(stats["by_kind"][kind]["sent"] > 0 for kind in ("read", "write", "subscription"))
    assert stats["ingest_events_produced"] >= 20
    # Each tenant's subscriber polls on a steady cadence, one poll at a time, its cursor only
    # going forward: every change is delivered once, within a second (the interval is
    # 4 tenants / (60/s x 0.15) = 0.44 s), however the reads and writes fall.
    text = http_get(port, "/metrics")[1]
    delivered = metric(text, "subscription_latency_seconds_count")
    assert 0 < delivered <= stats["status_counts"]["201"]
    assert metric(text, 'subscription_latency_seconds_bucket{le="1"}') == delivered
    report = subprocess.run(
        [sys.executable, str(TRAFFIC), "report", "--stats", str(stats_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "0 failed" in report.stdout
    for process in (api, worker):
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
