"""The upgrade's data phases on one fleet: `make bootstrap` and `pnpm run db:migrate` once, on
the tools host, under a PostgreSQL advisory lock, with the new tables checked before any
service restarts; then the backfill of the historical ingest batches (written by the sandbox's
seed), verified batch by batch against their source manifests."""

from __future__ import annotations

import json
import time
from contextlib import closing

import yaml
from checks import ledger, services

from sandbox import ROOT, Fleet, PlaybookRun

WORKSPACE = "/opt/intelgraph/releases/24.1.0"
MANIFEST_DIR = "/var/lib/intelgraph/manifests"
ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles/migrate/defaults/main.yml").read_text())
LOCK_KEY = ROLE_DEFAULTS["migrate_lock_key"]

BROKEN = """-- Breaks half way: the table is created, then the statement after it fails.
CREATE TABLE broken_probe (id integer);
SELECT intelgraph_no_such_function();
"""
FIXED = """-- The fixed migration that replaces 0003_broken.sql.
CREATE TABLE IF NOT EXISTS replay_audit (batch_id text PRIMARY KEY, replayed_at timestamptz);
"""
WAITERS_SQL = """
SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
 WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = 'intelgraph.ops.db_migrate'
"""


def table_exists(fleet: Fleet, table: str) -> bool:
    with fleet.pg() as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def manifests(fleet: Fleet, tools: str) -> dict[str, dict]:
    """The source manifests on the tools host, by batch."""
    host = fleet.host(tools)
    return {
        name.removesuffix(".json"): json.loads(host.file(f"{MANIFEST_DIR}/{name}").content)
        for name in host.file(MANIFEST_DIR).listdir()
    }


def backfilled(fleet: Fleet) -> dict[str, tuple[str, int, int]]:
    """(tenant, ingest_batches.event_count, idempotency keys) of every historical batch."""
    with fleet.pg() as conn:
        rows = conn.execute(
            """
            SELECT b.batch_id, b.tenant, b.event_count,
                   (SELECT count(*) FROM ingest_idempotency_keys k WHERE k.batch_id = b.batch_id)
              FROM ingest_batches b WHERE b.batch_id LIKE 'hist-%'
            """
        ).fetchall()
    return {batch: (tenant, events, keys) for batch, tenant, events, keys in rows}


def changed_on_fleet(run: PlaybookRun) -> list[str]:
    """The fleet's hosts the run changed; localhost's change is the maintenance window record."""
    return [host for host in run.changed_hosts() if host != "localhost"]


def flat(text: str) -> str:
    """Output with YAML's line folding undone, so a long message can be searched whole."""
    return " ".join(text.replace("''", "'").split())


def test_migrations_once_under_a_lock_and_backfill_verified_against_manifests(deployed: Fleet) -> None:
    migrate_data = deployed.reports / "24.1.0/data/migrate.json"
    backfill_data = deployed.reports / "24.1.0/data/backfill.json"
    migrate_data.unlink(missing_ok=True)
    backfill_data.unlink(missing_ok=True)
    tools = deployed.groups["tools"][0]
    stamp = f"{WORKSPACE}/node_modules/.bootstrap-stamp"

    # A broken migration in the 24.1.0 workspace stops the upgrade before any restart.
    deployed.unpack_release(tools, "24.1.0")
    deployed.write(tools, f"{WORKSPACE}/migrations/0003_broken.sql", BROKEN)
    before = services(deployed)
    assert {version for version, _, _ in before.values()} == {"24.0.0"}
    run = deployed.playbook("playbooks/upgrade.yml")
    assert not run.ok, f"the upgrade went on past a broken migration, see {run.log}"
    assert "'pnpm run db:migrate' failed with exit code 1" in flat(run.output)
    assert "intelgraph_no_such_function() does not exist" in flat(run.output)
    assert services(deployed) == before
    assert ledger(deployed) == ["0001_base.sql", "0002_ingest_idempotency.sql"]
    assert not table_exists(deployed, "broken_probe")
    failed = json.loads(migrate_data.read_text())
    assert failed["ok"] is False
    assert failed["applied"] == ["0002_ingest_idempotency.sql"]
    assert "intelgraph_no_such_function" in failed["msg"]

    # The migration is fixed. While another session holds the lock, a run with a short wait
    # stops naming the holder, having run nothing.
    deployed.host(tools).check_output("rm -f %s %s", f"{WORKSPACE}/migrations/0003_broken.sql", stamp)
    deployed.write(tools, f"{WORKSPACE}/migrations/0003_replay_audit.sql", FIXED)
    holder = deployed.pg()
    holder.execute("SET application_name = 'e2e-lock-holder'")
    holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        bounded = deployed.playbook(
            "playbooks/upgrade.yml", "--tags", "migrate", extra_vars={"migrate_lock_timeout": 5}
        )
        assert not bounded.ok
        assert f"Another migration run holds advisory lock {LOCK_KEY}" in flat(bounded.output)
        assert "application 'e2e-lock-holder'" in flat(bounded.output)
        assert "0003_replay_audit.sql" not in ledger(deployed)
        assert not deployed.host(tools).file(stamp).exists

        # Two runs of the migrate phase started together both wait for the lock. They share a run
        # id, as two jobs of one AWX workflow do, so the run lock lets both through: the advisory
        # lock is what keeps their migrations apart...
        one_run = {"intelgraph_run_id": "e2e-two-migrate-phases"}
        runs = [
            deployed.start_playbook("playbooks/upgrade.yml", "--tags", "migrate", extra_vars=one_run)
            for _ in range(2)
        ]
        deadline = time.monotonic() + 300
        waiting = 0
        while waiting < 2 and time.monotonic() < deadline and all(r.proc.poll() is None for r in runs):
            time.sleep(1)
            with closing(deployed.pg()) as conn:
                waiting = conn.execute(WAITERS_SQL).fetchone()[0]
        assert waiting == 2, "both runs should be waiting for the advisory lock"
    finally:
        holder.close()

    # ... and once it is free, exactly one of them bootstraps and migrates.
    first, second = (r.wait() for r in runs)
    assert first.ok, f"see {first.log}"
    assert second.ok, f"see {second.log}"
    # Each run opened and closed its own maintenance window on the controller; on the fleet,
    # exactly one of them changed anything.
    assert all("localhost" in run.changed_hosts() for run in (first, second))
    assert sorted([changed_on_fleet(first), changed_on_fleet(second)]) == [[], [tools]]
    for run in (first, second):
        assert f"for advisory lock {LOCK_KEY}" in flat(run.output), f"{run.log} never waited for the lock"
    applied = ledger(deployed)
    assert applied == ["0001_base.sql", "0002_ingest_idempotency.sql", "0003_replay_audit.sql"]
    assert table_exists(deployed, "replay_audit")
    assert deployed.host(tools).file(stamp).exists
    assert services(deployed) == before
    assert deployed.run_lock() is None  # released by the first to end; the second found it free

    # The backfill records every historical batch as its manifest describes it, and keeps
    # the verified totals for the report.
    sources = manifests(deployed, tools)
    assert len(sources) == 12
    backfill = deployed.playbook("playbooks/backfill.yml")
    assert backfill.ok, f"see {backfill.log}"
    assert backfilled(deployed) == {
        batch: (doc["tenant"], doc["event_count"], doc["event_count"]) for batch, doc in sources.items()
    }
    data = json.loads(backfill_data.read_text())
    events = sum(doc["event_count"] for doc in sources.values())
    assert data["verified"] is True
    assert data["totals"] == {
        "batches": 12,
        "batches_matched": 12,
        "batches_mismatched": 0,
        "manifest_events": events,
        "batch_events": events,
        "idempotency_keys": events,
    }
    assert data["command"]["command"] == "pnpm --filter intelgraph-server run backfill:idempotency-state"
    assert f"backfill: batches=12 events={events}" in data["command"]["stdout_lines"]

    # Both phases again, with nothing pending: nothing changes, and even at -vvv no password shows.
    again = deployed.playbook("playbooks/upgrade.yml", "--tags", "migrate,backfill", "-vvv")
    assert again.ok, f"see {again.log}"
    assert changed_on_fleet(again) == []
    assert "migrate: applied=0 pending=0" in again.output
    assert deployed.db_password not in again.output
    assert deployed.redis_password not in again.output
    assert ledger(deployed) == applied

    # A manifest that says one event more, and a batch that lost two events in PostgreSQL:
    # both are named, with the manifest's count and PostgreSQL's.
    sources["hist-0002"]["event_count"] += 1
    deployed.write(tools, f"{MANIFEST_DIR}/hist-0002.json", json.dumps(sources["hist-0002"]))
    with deployed.pg() as conn:
        conn.execute("DELETE FROM ingest_events WHERE event_id IN ('hist-0005-00001', 'hist-0005-00002')")
    mismatch = deployed.playbook("playbooks/backfill.yml")
    assert not mismatch.ok
    differ = [
        "hist-0002 (globex): manifest 51 events, ingest_batches.event_count 50, idempotency keys 50",
        "hist-0005 (acme): manifest 50 events, ingest_batches.event_count 48, idempotency keys 50",
    ]
    assert "Backfilled counts differ from the source manifests in 2 of 12 batches" in flat(mismatch.output)
    assert all(line in flat(mismatch.output) for line in differ)
    data = json.loads(backfill_data.read_text())
    assert (data["verified"], data["mismatches"]) == (False, differ)

    # Tables or columns the release needs but the migrations did not make stop the upgrade,
    # naming them, before any service restarts.
    expected = {
        **ROLE_DEFAULTS["migrate_expected_schema"],
        "ingest_batches": ["batch_id", "replayed_at"],
        "ingest_replays": [],
    }
    lacking = deployed.playbook("playbooks/upgrade.yml", extra_vars={"migrate_expected_schema": expected})
    assert not lacking.ok
    assert "table ingest_batches lacks column replayed_at; table ingest_replays is missing" in flat(
        lacking.output
    )
    assert services(deployed) == before
