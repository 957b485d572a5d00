"""Connections to Redis and PostgreSQL with short timeouts, so a request fails fast."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator

import psycopg
import redis

DEPENDENCY_TIMEOUT_SECONDS = 2
"""Upper bound for connecting to, and waiting on, Redis or PostgreSQL."""


class DependencyError(RuntimeError):
    """Redis or PostgreSQL failed or did not answer in time."""

    def __init__(self, dependency: str, error: BaseException | str) -> None:
        self.dependency = dependency
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        super().__init__(f"{dependency}: {text}")


def redis_client(url: str, timeout: float = DEPENDENCY_TIMEOUT_SECONDS) -> redis.Redis:
    """A thread-safe Redis client returning ``str`` values."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        health_check_interval=15,
    )


def pg_connect(
    url: str, statement_timeout_ms: int | None = DEPENDENCY_TIMEOUT_SECONDS * 1000
) -> psycopg.Connection:
    """Open an autocommit PostgreSQL connection with connect and statement timeouts."""
    conninfo = psycopg.conninfo.make_conninfo(
        url,
        connect_timeout=DEPENDENCY_TIMEOUT_SECONDS,
        tcp_user_timeout=DEPENDENCY_TIMEOUT_SECONDS * 1000 + 1000,
        application_name="intelgraph",
        options=f"-c statement_timeout={statement_timeout_ms}" if statement_timeout_ms else None,
    )
    return psycopg.connect(conninfo, autocommit=True)


class PgPool:
    """A small pool of autocommit connections shared by request threads.

    The HTTP server starts a thread per request, so connections are pooled rather than
    kept per thread. A connection that failed is closed and replaced on the next checkout.
    """

    def __init__(
        self, url: str, size: int = 8, statement_timeout_ms: int = DEPENDENCY_TIMEOUT_SECONDS * 1000
    ) -> None:
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """Check a connection out for the duration of the ``with`` block.

        Raises:
            DependencyError: when no connection can be had or the block fails on PostgreSQL.
        """
        if not self._slots.acquire(timeout=DEPENDENCY_TIMEOUT_SECONDS):
            raise DependencyError("postgresql", "connection pool exhausted")
        conn: psycopg.Connection | None = None
        try:
            conn = self._checkout()
            yield conn
        except psycopg.Error as exc:
            if conn is not None:
                self._discard(conn)
                conn = None
            raise DependencyError("postgresql", exc) from exc
        finally:
            if conn is not None:
                self._checkin(conn)
            self._slots.release()

    def _checkout(self) -> psycopg.Connection:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return pg_connect(self.url, self.statement_timeout_ms)
            if not conn.closed and not conn.broken:
                return conn
            self._discard(conn)

    def _checkin(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self._discard(conn)
        else:
            self._idle.put(conn)

    @staticmethod
    def _discard(conn: psycopg.Connection) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        """Close the idle connections."""
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                return
