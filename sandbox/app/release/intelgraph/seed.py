"""Write historical ingest batches and their source manifests (sandbox helper).

``python3 -m intelgraph.seed --batches N --events-per-batch M --manifest-dir DIR``
inserts N batches of M events into ``ingest_events`` (as v24.0 applied them, without
idempotency keys) and writes ``DIR/<batch_id>.json`` for each. Batches already present
are left alone; their manifests are rewritten with the same content.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg

from intelgraph.store import pg_connect
from intelgraph.tenants import TENANT_REGIONS

INSERT_SQL = "INSERT INTO ingest_events (event_id, tenant, batch_id, payload) VALUES (%s, %s, %s, %s::jsonb)"


def batch_id(prefix: str, index: int) -> str:
    """``<prefix>-0001`` style batch id."""
    return f"{prefix}-{index:04d}"


def batch_tenant(index: int, tenants: Sequence[str]) -> str:
    """Tenants take turns owning batches."""
    return tenants[(index - 1) % len(tenants)]


def manifest(batch: str, tenant: str, events: int) -> dict[str, object]:
    """The source manifest of one batch."""
    return {
        "batch_id": batch,
        "tenant": tenant,
        "event_count": events,
        "source": f"archive/{tenant}/{batch}.jsonl",
    }


def write_manifest(directory: Path, document: dict[str, object]) -> Path:
    """Write ``<batch_id>.json`` atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{document['batch_id']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def seed_batch(conn: psycopg.Connection, batch: str, tenant: str, events: int) -> bool:
    """Insert one batch unless it exists; return whether it was inserted."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM ingest_events WHERE batch_id = %s LIMIT 1", (batch,)).fetchone():
            return False
        rows = [
            (
                f"{batch}-{n:05d}",
                tenant,
                batch,
                json.dumps({"seq": n, "region": TENANT_REGIONS.get(tenant, "")}),
            )
            for n in range(1, events + 1)
        ]
        with conn.cursor() as cursor:
            cursor.executemany(INSERT_SQL, rows)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="intelgraph.seed", description=__doc__)
    parser.add_argument("--batches", type=int, required=True)
    parser.add_argument("--events-per-batch", type=int, required=True)
    parser.add_argument("--manifest-dir", type=Path, required=True)
    parser.add_argument("--prefix", default="hist", help="batch id prefix (default: hist)")
    parser.add_argument("--tenants", default=",".join(TENANT_REGIONS), help="comma-separated tenants")
    args = parser.parse_args(argv)
    tenants = [t for t in args.tenants.split(",") if t]
    if args.batches < 1 or args.events_per_batch < 1 or not tenants:
        parser.error("--batches and --events-per-batch must be positive and --tenants not empty")
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("seed: DATABASE_URL is not set", file=sys.stderr)
        return 2
    inserted = 0
    try:
        with pg_connect(url, statement_timeout_ms=None) as conn:
            for index in range(1, args.batches + 1):
                batch, tenant = batch_id(args.prefix, index), batch_tenant(index, tenants)
                created = seed_batch(conn, batch, tenant, args.events_per_batch)
                write_manifest(args.manifest_dir, manifest(batch, tenant, args.events_per_batch))
                inserted += int(created)
                print(
                    f"seed: batch={batch} tenant={tenant} events={args.events_per_batch} "
                    f"{'inserted' if created else 'present'}",
                    flush=True,
                )
    except psycopg.Error as exc:
        print(f"seed: failed: {str(exc).strip()}", file=sys.stderr)
        return 1
    print(f"seed: batches={args.batches} inserted={inserted} manifests={args.manifest_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
