"""Checks shared by the end-to-end tests: what a run said, what HAProxy and the API hosts
served, and the accounting of every ingest event the traffic generator produced."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sandbox import Fleet, PlaybookRun


def said(run: PlaybookRun) -> str:
    """What a run printed, with line breaks and indentation folded to single spaces."""
    return " ".join(run.output.split())


def in_service(states: dict[str, str]) -> list[str]:
    return sorted(server for server, status in states.items() if status.startswith("UP"))


def lb_states(samples: list[tuple[float, Any]]) -> list[dict[str, str]]:
    """The HAProxy states the watch read (leaving out the reads that failed)."""
    return [value for _, value in samples if isinstance(value, dict) and value]


def served_by(fleet: Fleet, requests: int = 12) -> set[str]:
    """The API hosts that answer /version through the load balancer."""
    hosts = set()
    for _ in range(requests):
        status, body = fleet.http(fleet.groups["lb"][0], 80, "/version")
        assert status == 200, body
        hosts.add(body["host"])
    return hosts


def produce_poison(fleet: Fleet, count: int = 3) -> list[str]:
    """Ingest events no worker can apply: each must end in the dead-letter queue, once."""
    ids = []
    client = fleet.redis()
    for _ in range(count):
        event_id = f"e2e-poison-{uuid.uuid4().hex}"
        client.xadd(
            fleet.INGEST_STREAM,
            {
                "event_id": event_id,
                "tenant": "acme",
                "batch_id": "e2e-poison",
                "payload": '{"poison": true}',
                "produced_at": repr(time.time()),
            },
        )
        ids.append(event_id)
    return ids


def assert_every_event_applied_once_or_dead_lettered(
    fleet: Fleet, stats: dict[str, Any], poison: list[str]
) -> None:
    """produced == applied + dead-lettered, event by event, counted in PostgreSQL and the DLQ."""
    fleet.wait_ingest_settled(timeout=300)
    produced = fleet.traffic_ingest_events()
    assert stats["ingest_errors"] == 0, stats["failures"]
    assert len(produced) == stats["ingest_events_produced"] > 0
    events = [*produced, *poison]
    applied, dead = fleet.ingest_outcomes(events)
    assert {e: n for e, n in applied.items() if n != 1} == {}, "events applied more than once"
    assert {e: n for e, n in dead.items() if n != 1} == {}, "events dead-lettered more than once"
    assert set(applied) & set(dead) == set(), "events both applied and dead-lettered"
    assert set(events) - set(applied) - set(dead) == set(), "events lost"
    assert set(dead) == set(poison) | {e for e, is_poison in produced.items() if is_poison}
    assert len(events) == len(applied) + len(dead)


def services(fleet: Fleet) -> dict[str, tuple[str | None, str, str]]:
    """(version answered, `current` link, ActiveEnterTimestamp) of every API and ingest host."""
    return {
        host: (
            fleet.version(host),
            fleet.readlink(host, "/opt/intelgraph/current"),
            fleet.unit_started(host, f"intelgraph-{'api' if host in fleet.groups['api'] else 'ingest'}"),
        )
        for host in fleet.groups["api"] + fleet.groups["ingest"]
    }


def ledger(fleet: Fleet) -> list[str]:
    with fleet.pg() as conn:
        return [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
