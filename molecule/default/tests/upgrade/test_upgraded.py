"""After the upgrade (and its idempotence run): every API and ingest host serves the target
release from its enabled, active unit; HAProxy has every API host in service and answers with
24.1 behaviour; the traffic so far has had no failed request; each migration ran once and every
seeded historical batch was backfilled, as the release report says."""

from __future__ import annotations

import json

import pytest
from checks import SERVICES, in_service, ledger
from scenario import FLEET, TARGET, kept_path

SERVICE_HOSTS = [(group, host) for group in ("api", "ingest") for host in FLEET.groups[group]]


@pytest.mark.parametrize(("group", "host"), SERVICE_HOSTS)
def test_host_serves_the_target_release_from_its_enabled_unit(group: str, host: str) -> None:
    assert FLEET.version(host) == TARGET  # GET /version on the host's own port
    unit = FLEET.host(host).service(SERVICES[group]).systemd_properties
    assert (unit["ActiveState"], unit["UnitFileState"]) == ("active", "enabled")


def test_haproxy_has_every_api_host_in_service() -> None:
    states = FLEET.haproxy_states()
    assert in_service(states) == sorted(FLEET.groups["api"]), states


def test_the_api_answers_through_haproxy_on_the_target_release() -> None:
    lb = FLEET.groups["lb"][0]
    answers = [FLEET.http(lb, 80, "/version") for _ in range(9)]
    assert {status for status, _ in answers} == {200}, answers
    assert {body["version"] for _, body in answers} == {TARGET}, answers


def test_a_read_needs_a_tenant_region_claim() -> None:
    lb = FLEET.groups["lb"][0]
    path = "/api/v1/entities/verify-missing"
    with_claim, _ = FLEET.http(lb, 80, path, {"X-Tenant-Id": "tenant-verify", "X-Tenant-Region": "eu-west"})
    without, body = FLEET.http(lb, 80, path, {"X-Tenant-Id": "tenant-verify"})
    assert with_claim in (200, 404)
    assert without == 403, body


def test_no_request_has_failed_so_far() -> None:
    """The traffic started in prepare.yml runs on through the rollback (tests/rollback stops it)."""
    stats = FLEET.traffic_stats()
    assert stats["running"] is True
    assert stats["requests_sent"] > 100
    assert stats["requests_failed"] == 0, stats["failures"]


def test_each_migration_ran_once_and_every_seeded_batch_was_backfilled() -> None:
    # sandbox/playbooks/seed.yml writes 12 historical batches of 50 events.
    with FLEET.pg() as conn:
        batches = conn.execute(
            "SELECT count(*) FROM ingest_batches WHERE batch_id LIKE 'hist-%' AND event_count = 50"
        ).fetchone()
        keys = conn.execute(
            "SELECT count(*) FROM ingest_idempotency_keys WHERE batch_id LIKE 'hist-%'"
        ).fetchone()
    assert ledger(FLEET) == ["0001_base.sql", "0002_ingest_idempotency.sql"]
    assert (batches, keys) == ((12,), (600,))


def test_the_release_report_shows_the_verified_backfill() -> None:
    report = FLEET.reports / TARGET / "release-report.json"
    # Written by this run's upgrade, after prepare.yml kept the env files, not left by an earlier one.
    assert report.stat().st_mtime > kept_path().stat().st_mtime
    backfill = json.loads(report.read_text())["backfill"]
    assert backfill["verified"] is True, backfill
    assert backfill["totals"]["batches"] == 12, backfill
    assert backfill["mismatches"] == [], backfill
