"""Apply the release's SQL migrations (``pnpm run db:migrate``).

Runs under a PostgreSQL advisory lock, so concurrent runs wait for each other. Each
pending ``migrations/*.sql`` file is applied in name order, in its own transaction
together with its ``schema_migrations`` row.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg

from intelgraph.store import pg_connect
from intelgraph.version import RELEASE_ROOT

ADVISORY_LOCK_KEY = 7_240_241_001
"""Fixed key of the migration advisory lock (shared by every IntelGraph release)."""

CREATE_LEDGER_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files(directory: Path) -> list[Path]:
    """The ``*.sql`` files of ``directory`` in name order."""
    return sorted(directory.glob("*.sql"), key=lambda path: path.name)


def pending_migrations(files: Sequence[Path], applied: set[str]) -> list[Path]:
    """The files whose name is not yet recorded as applied."""
    return [path for path in files if path.name not in applied]


def acquire_lock(conn: psycopg.Connection) -> None:
    """Take the advisory lock, saying so when another migration holds it."""
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
    if got and got[0]:
        return
    print(
        f"migrate: waiting for advisory lock {ADVISORY_LOCK_KEY} (another migration is running)", flush=True
    )
    conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    print("migrate: advisory lock acquired", flush=True)


def applied_names(conn: psycopg.Connection) -> set[str]:
    """Names recorded in ``schema_migrations`` (created if missing)."""
    conn.execute(CREATE_LEDGER_SQL)
    return {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}


def apply_migration(conn: psycopg.Connection, path: Path) -> None:
    """Run one migration file and record it, in one transaction."""
    sql = path.read_text(encoding="utf-8")
    with conn.transaction():
        conn.execute(sql)
        conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))


def migrate(conn: psycopg.Connection, directory: Path) -> tuple[int, str]:
    """Apply every pending migration; return (number applied, newest recorded name)."""
    acquire_lock(conn)
    try:
        pending = pending_migrations(migration_files(directory), applied_names(conn))
        for path in pending:
            apply_migration(conn, path)
            print(f"applied {path.name}", flush=True)
        names = applied_names(conn)
        return len(pending), max(names) if names else "none"
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python3 -m intelgraph.migrate`` with DATABASE_URL set."""
    parser = argparse.ArgumentParser(prog="intelgraph.migrate", description=__doc__)
    parser.add_argument("--dir", type=Path, default=RELEASE_ROOT / "migrations", help="migrations directory")
    parser.add_argument("--print-lock-key", action="store_true", help="print the advisory lock key and exit")
    args = parser.parse_args(argv)
    if args.print_lock_key:
        print(ADVISORY_LOCK_KEY)
        return 0
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("migrate: DATABASE_URL is not set", file=sys.stderr)
        return 2
    try:
        with pg_connect(url, statement_timeout_ms=None) as conn:
            count, current = migrate(conn, args.dir)
    except psycopg.Error as exc:
        print(f"migrate: failed: {str(exc).strip()}", file=sys.stderr)
        return 1
    print(f"migrate: applied={count} pending=0 current={current}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
