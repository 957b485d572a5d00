"""Backfill idempotency state for historical ingest batches.

Run as ``pnpm --filter intelgraph-server run backfill:idempotency-state``. For every
batch in ``ingest_events`` it records the idempotency keys of its events and upserts
its ``ingest_batches`` row with the number of distinct events. Safe to run again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from intelgraph.store import pg_connect

BATCHES_SQL = """
SELECT batch_id, min(tenant), count(DISTINCT event_id)
  FROM ingest_events
 GROUP BY batch_id
 ORDER BY batch_id
"""
KEYS_SQL = """
INSERT INTO ingest_idempotency_keys (idempotency_key, event_id, tenant, batch_id, applied_at)
SELECT DISTINCT ON (tenant, event_id) tenant || ':' || event_id, event_id, tenant, batch_id, applied_at
  FROM ingest_events
 WHERE batch_id = %s
 ORDER BY tenant, event_id, applied_at
ON CONFLICT (idempotency_key) DO NOTHING
"""
BATCH_SQL = """
INSERT INTO ingest_batches (batch_id, tenant, event_count, state, backfilled_at)
VALUES (%s, %s, %s, 'backfilled', now())
ON CONFLICT (batch_id) DO UPDATE
   SET tenant = EXCLUDED.tenant, event_count = EXCLUDED.event_count,
       state = 'backfilled', backfilled_at = now()
"""
REQUIRED_TABLES = ("ingest_events", "ingest_idempotency_keys", "ingest_batches")


@dataclass(frozen=True)
class BatchResult:
    """What the backfill did for one batch."""

    batch_id: str
    tenant: str
    events: int
    keys_inserted: int


def missing_tables(conn: psycopg.Connection) -> list[str]:
    """Required tables that do not exist (the migration has not run)."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    present = {row[0] for row in rows}
    return [name for name in REQUIRED_TABLES if name not in present]


def backfill_batch(conn: psycopg.Connection, batch_id: str, tenant: str, events: int) -> BatchResult:
    """Record keys and the batch row of one batch in one transaction."""
    with conn.transaction():
        inserted = conn.execute(KEYS_SQL, (batch_id,)).rowcount
        conn.execute(BATCH_SQL, (batch_id, tenant, events))
    return BatchResult(batch_id, tenant, events, max(inserted, 0))


def backfill(conn: psycopg.Connection) -> list[BatchResult]:
    """Backfill every batch, printing one line per batch."""
    results = []
    for batch_id, tenant, events in conn.execute(BATCHES_SQL).fetchall():
        result = backfill_batch(conn, batch_id, tenant, int(events))
        print(
            f"backfill: batch={result.batch_id} tenant={result.tenant} events={result.events} "
            f"keys_inserted={result.keys_inserted}",
            flush=True,
        )
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python3 -m intelgraph.backfill`` with DATABASE_URL set."""
    del argv
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("backfill: DATABASE_URL is not set", file=sys.stderr)
        return 2
    try:
        with pg_connect(url, statement_timeout_ms=None) as conn:
            missing = missing_tables(conn)
            if missing:
                print(
                    f"backfill: missing tables {', '.join(missing)}: run `pnpm run db:migrate` first",
                    file=sys.stderr,
                )
                return 2
            results = backfill(conn)
    except psycopg.Error as exc:
        print(f"backfill: failed: {str(exc).strip()}", file=sys.stderr)
        return 1
    print(f"backfill: batches={len(results)} events={sum(r.events for r in results)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
