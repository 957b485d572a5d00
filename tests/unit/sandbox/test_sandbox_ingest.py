"""Event parsing and the apply transaction of the ingest worker (no database)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from intelgraph.ingest import PoisonEvent, apply_event, idempotency_key, parse_event

GOOD = {
    "event_id": "e1",
    "tenant": "acme",
    "batch_id": "live-acme-1",
    "payload": '{"n": 1}',
    "produced_at": "12.5",
}


class FakeCursor:
    """What ``execute`` returns."""

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class FakeConnection:
    """Records statements; idempotency keys conflict like the real unique index."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.events: list[tuple[Any, ...]] = []
        self.transactions = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.transactions += 1
        yield

    def execute(self, sql: str, params: tuple[Any, ...]) -> FakeCursor:
        if sql.startswith("INSERT INTO ingest_idempotency_keys"):
            if params[0] in self.keys:
                return FakeCursor(0)
            self.keys.add(params[0])
            return FakeCursor(1)
        assert sql.startswith("INSERT INTO ingest_events")
        self.events.append(params)
        return FakeCursor(1)


def test_parse_event() -> None:
    event = parse_event(GOOD)
    assert (event.event_id, event.tenant, event.batch_id) == ("e1", "acme", "live-acme-1")
    assert event.payload == {"n": 1}
    assert event.produced_at == 12.5
    assert event.idempotency_key == idempotency_key("acme", "e1") == "acme:e1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"payload": '{"poison": true}'}, "poison"),
        ({"payload": "not json"}, "not JSON"),
        ({"payload": "[1, 2]"}, "JSON object"),
        ({"tenant": ""}, "missing fields: tenant"),
        ({"event_id": None}, "missing fields: event_id"),
    ],
)
def test_parse_event_rejects(change: dict[str, Any], message: str) -> None:
    fields = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(PoisonEvent, match=message):
        parse_event(fields)


def test_bad_produced_at_is_ignored() -> None:
    assert parse_event({**GOOD, "produced_at": "yesterday"}).produced_at is None
    assert parse_event({k: v for k, v in GOOD.items() if k != "produced_at"}).produced_at is None


@pytest.mark.parametrize(
    ("idempotent", "outcomes", "rows"),
    [(False, ["applied", "applied"], 2), (True, ["applied", "duplicate"], 1)],
)
def test_redelivery(idempotent: bool, outcomes: list[str], rows: int) -> None:
    conn = FakeConnection()
    event = parse_event(GOOD)
    assert [apply_event(conn, event, idempotent) for _ in range(2)] == outcomes  # type: ignore[arg-type]
    assert len(conn.events) == rows
    assert conn.transactions == 2
    assert json.loads(conn.events[0][3]) == {"n": 1}
