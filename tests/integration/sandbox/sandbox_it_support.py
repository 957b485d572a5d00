"""Local Redis and PostgreSQL servers and the built releases, for the service's integration tests.

Everything runs on 127.0.0.1 with ports picked at random; every process started here is
stopped by its pid at the end. Without the redis-server and PostgreSQL binaries (installed by
`make deps`) the run stops with a usage error rather than skipping.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "sandbox" / "app" / "build.py"
VERSIONS = ("24.0.0", "24.1.0")
REDIS_PASSWORD = "integration-secret"


def _postgres_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


REDIS_SERVER = shutil.which("redis-server")
PG_BINDIR = _postgres_bindir()

MISSING = (
    None
    if REDIS_SERVER and PG_BINDIR
    else "needs the redis-server and PostgreSQL (initdb, postgres) binaries"
)
"""Why the integration tests cannot run here, or None when they can."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_python() -> str:
    """Debian's python3 when it has redis and psycopg (as on the hosts), else this interpreter."""
    probe = "import redis, psycopg"
    for candidate in ("/usr/bin/python3", sys.executable):
        if (
            Path(candidate).exists()
            and subprocess.run([candidate, "-c", probe], capture_output=True).returncode == 0
        ):
            return candidate
    raise RuntimeError("no python3 with redis and psycopg")


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
            value = predicate()
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET from 127.0.0.1:port; JSON bodies are decoded."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        raw = response.read().decode()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw


@dataclass
class Processes:
    """Processes started by the tests, stopped by pid at the end."""

    log_dir: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: Path | None = None,
        user: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` with its output in ``<log_dir>/<name>.log``."""
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        kwargs: dict[str, Any] = {}
        if user:
            kwargs["user"] = user
        process = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        """What a process printed so far."""
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        """SIGTERM, then SIGKILL, every process still running (newest first)."""
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@dataclass
class Services:
    """Connection details of the local Redis and PostgreSQL, and the unpacked releases."""

    redis_url: str
    redis_port: int
    database_url: str
    releases: dict[str, Path]
    python: str
    processes: Processes
    base: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a service process."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(REDIS_URL=self.redis_url, DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        env["PATH"] = f"{Path(self.python).parent}:{env.get('PATH', '/usr/bin:/bin')}"
        env.update(extra)
        return env

    def run_module(
        self, version: str, module: str, *args: str, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """``python3 -m <module>`` from a release root."""
        return subprocess.run(
            [self.python, "-m", module, *args],
            cwd=self.releases[version],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def lock_key(self) -> int:
        """The migration advisory lock key, as the release defines it."""
        result = self.run_module("24.1.0", "intelgraph.migrate", "--print-lock-key")
        return int(result.stdout.strip())

    def redis(self) -> Any:
        """A Redis client (from the test interpreter)."""
        import redis

        return redis.Redis.from_url(self.redis_url, decode_responses=True)

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement with psycopg and return its rows."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []


def _start_postgres(processes: Processes, base: Path, port: int) -> str:
    assert PG_BINDIR is not None
    data = base / "pgdata"
    sockets = base / "pgsock"
    data.mkdir()
    sockets.mkdir()
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        for path in (data, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    subprocess.run(
        [str(PG_BINDIR / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        env=env,
        user=user,
        cwd=base,
    )
    processes.start(
        "postgres",
        [
            str(PG_BINDIR / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        env,
        cwd=base,
        user=user,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def ready() -> bool:
        import psycopg

        try:
            with psycopg.connect(url, connect_timeout=1) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    wait_until(ready, 30, "PostgreSQL")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE intelgraph")
    return f"postgresql://postgres@127.0.0.1:{port}/intelgraph"


def _start_redis(processes: Processes, base: Path, port: int) -> str:
    assert REDIS_SERVER is not None
    processes.start(
        "redis",
        [
            str(REDIS_SERVER),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            REDIS_PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(base),
        ],
        {"PATH": "/usr/bin:/bin"},
    )
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    import redis

    def answers() -> bool:
        # A refused connection is redis's ConnectionError, not an OSError: catch it here, or
        # the first PING before the server listens ends the wait.
        try:
            return bool(redis.Redis.from_url(url).ping())
        except redis.ConnectionError:
            return False

    wait_until(answers, 15, "Redis")
    return url


def _unpack_releases(base: Path) -> dict[str, Path]:
    dist = base / "dist"
    argv = [sys.executable, str(BUILD), "--out", str(dist)]
    for version in VERSIONS:
        argv += ["--version", version]
    subprocess.run(argv, check=True, capture_output=True)
    releases = {}
    for version in VERSIONS:
        target = base / "releases" / version
        target.mkdir(parents=True)
        with tarfile.open(dist / f"intelgraph-server-{version}.tar.gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, filter="data")
            else:  # pragma: no cover - Pythons without extraction filters
                tar.extractall(target)
        releases[version] = target
    return releases


@contextlib.contextmanager
def running_services() -> Iterator[Services]:
    """Start Redis and PostgreSQL, unpack both releases; stop everything on exit."""
    base = Path(tempfile.mkdtemp(prefix="intelgraph-it-"))
    os.chmod(base, 0o755)
    logs = base / "logs"
    logs.mkdir()
    processes = Processes(logs)
    try:
        redis_port = free_port()
        svc = Services(
            redis_url=_start_redis(processes, base, redis_port),
            redis_port=redis_port,
            database_url=_start_postgres(processes, base, free_port()),
            releases=_unpack_releases(base),
            python=app_python(),
            processes=processes,
            base=base,
        )
        yield svc
    finally:
        processes.stop_all()
        shutil.rmtree(base, ignore_errors=True)
