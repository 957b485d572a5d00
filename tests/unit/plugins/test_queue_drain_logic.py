"""intelgraph.ops.queue_drain: measuring a consumer group's queue and waiting for it to drain."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._queue import (
    QueueError,
    QueueState,
    consumer_list,
    describe,
    drained,
    find_group,
    held_by,
    measure,
    retry_pending,
    wait_until_drained,
)

STREAM, GROUP = "intelgraph:ingest", "ingest-workers"


class FakeRedis:
    """The calls measure() makes, answered the way redis-py answers them (bytes values)."""

    def __init__(
        self,
        groups: list[dict[str, Any]],
        consumers: list[dict[str, Any]],
        length: int = 10,
        undelivered: int = 0,
        pending_of: dict[str, int] | None = None,
        exists: bool = True,
    ) -> None:
        self.groups = groups
        self.consumers = consumers
        self.length = length
        self.undelivered = undelivered
        self.pending_of = pending_of or {}
        self.present = exists
        self.calls: list[tuple[Any, ...]] = []

    def exists(self, key: str) -> int:
        return int(self.present)

    def xinfo_groups(self, stream: str) -> list[dict[str, Any]]:
        return self.groups

    def xinfo_consumers(self, stream: str, group: str) -> list[dict[str, Any]]:
        return self.consumers

    def xlen(self, stream: str) -> int:
        return self.length

    def xrange(self, stream: str, min: str, max: str, count: int) -> list[tuple[bytes, dict]]:
        self.calls.append(("xrange", min, max, count))
        return [(f"{i}-0".encode(), {}) for i in range(self.undelivered)]

    def xpending_range(
        self, stream: str, group: str, start: str, end: str, count: int, consumername: str | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("xpending_range", consumername))
        return [{"message_id": b"1-0"}] * self.pending_of.get(consumername or "", 0)


def group(pending: int = 0, lag: int | None = 0, name: bytes = b"ingest-workers") -> dict[str, Any]:
    return {
        "name": name,
        "consumers": 2,
        "pending": pending,
        "last-delivered-id": b"1700-0",
        "entries-read": 100,
        "lag": lag,
    }


CONSUMERS = [
    {"name": b"ingest2", "pending": 1, "idle": 2500, "inactive": 2500},
    {"name": b"ingest1", "pending": 0, "idle": 120, "inactive": 120},
]


def test_find_group_decodes_bytes() -> None:
    groups = [group(name=b"other"), group(pending=3)]
    assert find_group(groups, GROUP)["pending"] == 3
    assert find_group(groups, GROUP)["last-delivered-id"] == "1700-0"
    assert find_group(groups, "missing") is None


def test_consumer_list_is_sorted_and_decoded() -> None:
    assert consumer_list(CONSUMERS) == [
        {"name": "ingest1", "pending": 0, "idle_ms": 120},
        {"name": "ingest2", "pending": 1, "idle_ms": 2500},
    ]


def test_measure_takes_pending_and_lag_from_xinfo() -> None:
    client = FakeRedis([group(pending=4, lag=7)], CONSUMERS, length=321)
    state = measure(client, STREAM, GROUP)
    assert (state.pending, state.lag, state.lag_source, state.length) == (4, 7, "xinfo", 321)
    assert state.last_delivered_id == "1700-0"
    assert [c["name"] for c in state.consumers] == ["ingest1", "ingest2"]
    assert client.calls == []


def test_measure_counts_the_undelivered_entries_when_redis_gives_no_lag() -> None:
    client = FakeRedis([group(lag=None)], CONSUMERS, undelivered=5)
    state = measure(client, STREAM, GROUP)
    assert (state.lag, state.lag_source) == (5, "xrange")
    assert client.calls[0][:3] == ("xrange", "(1700-0", "+")


def test_measure_of_one_consumer_counts_its_own_pending_entries() -> None:
    client = FakeRedis([group(pending=9)], CONSUMERS, pending_of={"ingest1": 2})
    state = measure(client, STREAM, GROUP, consumer="ingest1")
    assert (state.pending, state.consumer) == (2, "ingest1")
    assert ("xpending_range", "ingest1") in client.calls


@pytest.mark.parametrize(
    ("client", "error"),
    [
        (FakeRedis([], [], exists=False), "stream 'intelgraph:ingest' does not exist"),
        (FakeRedis([group(name=b"other")], []), "has no consumer group 'ingest-workers'"),
    ],
)
def test_measure_names_a_missing_stream_or_group(client: FakeRedis, error: str) -> None:
    with pytest.raises(QueueError, match=error):
        measure(client, STREAM, GROUP)


def state(pending: int, lag: int | None) -> QueueState:
    return QueueState(
        STREAM,
        GROUP,
        100,
        pending,
        lag,
        "xinfo",
        "1-0",
        None,
        [{"name": "ingest1", "pending": pending, "idle_ms": 1500}],
    )


@pytest.mark.parametrize(
    ("pending", "lag", "max_pending", "max_lag", "expected"),
    [
        (0, 0, 0, 0, True),
        (1, 0, 0, 0, False),
        (0, 1, 0, 0, False),
        (3, 0, 5, 0, True),
        (0, 10, 0, 10, True),
        (0, 11, 0, 10, False),
        (99, 0, -1, 0, True),  # pending not checked
        (0, 99, 0, -1, True),  # lag not checked
        (0, None, 0, 0, False),  # an unknown lag is not zero
        (0, None, 0, -1, True),
    ],
)
def test_drained(pending: int, lag: int | None, max_pending: int, max_lag: int, expected: bool) -> None:
    assert drained(state(pending, lag), max_pending, max_lag) is expected


def test_describe_gives_the_numbers() -> None:
    assert describe(state(2, 40)) == (
        "pending=2 lag=40 length=100 consumers=1: ingest1 (pending 2, idle 1.5s)"
    )
    one = state(2, 40)
    one.consumer = "ingest1"
    assert describe(one).startswith("consumer ingest1's pending=2 lag=40")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_returns_once_the_queue_has_drained() -> None:
    clock = Clock()
    states = iter([state(3, 10), state(1, 2), state(0, 0), state(5, 5)])
    outcome = wait_until_drained(
        lambda: next(states), 0, 0, timeout=60, interval=2, clock=clock, sleep=clock.sleep
    )
    assert outcome.drained and outcome.samples == 3
    assert outcome.elapsed == 4.0 and clock.sleeps == [2, 2]


def test_wait_gives_up_at_the_timeout_with_the_last_numbers() -> None:
    clock = Clock()
    lags = iter(range(10, 100))
    outcome = wait_until_drained(
        lambda: state(0, next(lags)), 0, 0, timeout=5, interval=2, clock=clock, sleep=clock.sleep
    )
    assert not outcome.drained
    assert clock.sleeps == [2, 2, 1]  # the last wait is cut to the deadline
    assert outcome.samples == 4 and outcome.state.lag == 13 and outcome.elapsed == 5.0


def test_wait_with_no_timeout_measures_once() -> None:
    clock = Clock()
    outcome = wait_until_drained(
        lambda: state(1, 0), 0, 0, timeout=0, interval=1, clock=clock, sleep=clock.sleep
    )
    assert (outcome.drained, outcome.samples, clock.sleeps) == (False, 1, [])


def held(pending: dict[str, int], consumer: str | None = None) -> QueueState:
    """A group whose consumers hold these pending entries (no lag)."""
    consumers = [{"name": name, "pending": count, "idle_ms": 9000} for name, count in sorted(pending.items())]
    total = pending.get(consumer, 0) if consumer else sum(pending.values())
    return QueueState(STREAM, GROUP, 100, total, 0, "xinfo", "1-0", consumer, consumers)


def test_the_entries_of_quiesced_consumers_are_left_for_a_retry() -> None:
    group = held({"ingest1": 1, "ingest2": 2})
    first = held_by(group, {"ingest1", "ingest2"})
    assert first == {"ingest1": 1, "ingest2": 2}
    retry_pending(group, {"ingest1", "ingest2"}, first)
    assert (group.pending, group.pending_retry, group.pending_retry_by) == (
        3,
        3,
        {"ingest1": 1, "ingest2": 2},
    )
    assert drained(group, 0, 0)
    assert describe(group).startswith("pending=3 (of them 3 failed, pending a retry) lag=0")


def test_the_entries_of_a_consumer_not_quiesced_must_drain() -> None:
    group = held({"ingest1": 1, "ingest2": 2})
    retry_pending(group, {"ingest2"}, held_by(group, {"ingest2"}))
    assert (group.pending_retry, group.pending_retry_by) == (2, {"ingest2": 2})
    assert not drained(group, 0, 0)
    assert drained(group, 1, 0)


def test_a_quiesced_consumer_is_bounded_by_what_it_held_first() -> None:
    later = held({"ingest1": 3})
    retry_pending(later, {"ingest1"}, {"ingest1": 1})  # it took two entries since: not quiesced
    assert (later.pending, later.pending_retry) == (3, 1)
    assert not drained(later, 0, 0)
    fewer = held({"ingest1": 0, "ingest2": 1})  # another consumer claimed ingest1's entry
    retry_pending(fewer, {"ingest1"}, {"ingest1": 1})
    assert (fewer.pending_retry, fewer.pending_retry_by) == (0, {})
    assert not drained(fewer, 0, 0)


def test_with_one_consumer_only_its_own_entries_are_left_for_a_retry() -> None:
    own = held({"ingest1": 1, "ingest2": 2}, consumer="ingest1")
    retry_pending(own, {"ingest1", "ingest2"}, held_by(own, {"ingest1", "ingest2"}))
    assert (own.pending, own.pending_retry, own.pending_retry_by) == (1, 1, {"ingest1": 1})
    other = held({"ingest1": 1, "ingest2": 2}, consumer="ingest1")
    retry_pending(other, {"ingest2"}, held_by(other, {"ingest2"}))
    assert (other.pending_retry, drained(other, 0, 0)) == (0, False)


def wait_quiesced(states: list[QueueState], quiesced: set[str]) -> Any:
    """wait_until_drained() over these measurements (1 s apart, 2 s at most)."""
    clock, measured = Clock(), iter(states)
    return wait_until_drained(
        lambda: next(measured), 0, 0, timeout=2, interval=1, clock=clock, sleep=clock.sleep, quiesced=quiesced
    )


def test_wait_leaves_the_quiesced_consumers_entries_and_no_more() -> None:
    # ingest2 acknowledges its entry; ingest1's stays, left for a retry.
    outcome = wait_quiesced(
        [held({"ingest1": 1, "ingest2": 1}), held({"ingest1": 1, "ingest2": 0})], {"ingest1"}
    )
    assert outcome.drained and outcome.samples == 2
    assert (outcome.state.pending, outcome.state.pending_retry) == (1, 1)
    # ingest1 takes a second entry after the first measurement: not quiesced, that one must drain.
    outcome = wait_quiesced(
        [held({"ingest1": 1, "ingest2": 1}), held({"ingest1": 2}), held({"ingest1": 2})], {"ingest1"}
    )
    assert not outcome.drained and outcome.samples == 3
    assert (outcome.state.pending, outcome.state.pending_retry) == (2, 1)


def test_wait_without_quiesced_consumers_leaves_nothing_for_a_retry() -> None:
    clock = Clock()
    outcome = wait_until_drained(
        lambda: held({"ingest1": 1}), 0, 0, timeout=0, interval=1, clock=clock, sleep=clock.sleep
    )
    assert (outcome.drained, outcome.state.pending_retry) == (False, 0)
