# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the queue_drain module: how much of a Redis stream a consumer group still
has to handle, and the wait until that reaches a limit. The Redis calls go through a client
object (redis-py's), the judging and the waiting are plain functions."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from typing import Any

# How many undelivered entries are counted at most when Redis cannot say the group's lag.
LAG_COUNT_LIMIT = 100000


class QueueError(Exception):
    """The stream or its consumer group is not there."""


def text(value: Any) -> Any:
    """redis-py hands out bytes unless the client decodes; the logic speaks str."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


@dataclass
class QueueState:
    """What a consumer group still has to handle on a stream, at one moment."""

    stream: str
    group: str
    length: int
    pending: int
    lag: int | None
    lag_source: str
    last_delivered_id: str
    consumer: str | None = None
    consumers: list[dict[str, Any]] = field(default_factory=list)
    # Of pending, the entries held by quiesced consumers and left for a retry (retry_pending()).
    pending_retry: int = 0
    pending_retry_by: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_group(groups: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The XINFO GROUPS entry of one group, keys and values as str/int."""
    for entry in groups:
        entry = {text(k): text(v) for k, v in entry.items()}
        if entry.get("name") == name:
            return entry
    return None


def consumer_list(consumers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """XINFO CONSUMERS as [{name, pending, idle_ms}], sorted by name."""
    result = []
    for entry in consumers:
        entry = {text(k): text(v) for k, v in entry.items()}
        result.append(
            {
                "name": entry.get("name"),
                "pending": int(entry.get("pending") or 0),
                "idle_ms": int(entry.get("idle") or 0),
            }
        )
    return sorted(result, key=lambda c: str(c["name"]))


def measure(client: Any, stream: str, group: str, consumer: str | None = None) -> QueueState:
    """Read the group's state: XLEN, XINFO GROUPS (pending, lag, last-delivered-id), XINFO
    CONSUMERS. Without a lag from Redis (before 7.0, or when Redis cannot compute it) the
    entries after the last delivered id are counted with XRANGE. With consumer, pending is that
    consumer's own pending entries (XPENDING); otherwise the whole group's."""
    if not client.exists(stream):
        raise QueueError(f"stream '{stream}' does not exist")
    entry = find_group(client.xinfo_groups(stream), group)
    if entry is None:
        raise QueueError(f"stream '{stream}' has no consumer group '{group}'")
    consumers = consumer_list(client.xinfo_consumers(stream, group))
    last_id = str(entry.get("last-delivered-id") or "0-0")
    lag = entry.get("lag")
    source = "xinfo"
    if lag is None:
        undelivered = client.xrange(stream, min=f"({last_id}", max="+", count=LAG_COUNT_LIMIT)
        lag, source = len(undelivered), "xrange"
    if consumer is None:
        pending = int(entry.get("pending") or 0)
    else:
        summary = client.xpending_range(stream, group, "-", "+", LAG_COUNT_LIMIT, consumername=consumer)
        pending = len(summary)
    return QueueState(
        stream=stream,
        group=group,
        length=int(client.xlen(stream)),
        pending=pending,
        lag=int(lag),
        lag_source=source,
        last_delivered_id=last_id,
        consumer=consumer,
        consumers=consumers,
    )


def held_by(state: QueueState, names: Collection[str]) -> dict[str, int]:
    """{consumer: pending entries} of the named consumers that hold any; with state.consumer,
    only that consumer's (the pending counted)."""
    return {
        c["name"]: c["pending"]
        for c in state.consumers
        if c["name"] in names and c["pending"] > 0 and state.consumer in (None, c["name"])
    }


def retry_pending(state: QueueState, quiesced: Collection[str], first: dict[str, int]) -> QueueState:
    """Set state.pending_retry: the pending entries held by the quiesced consumers, which
    process nothing, so each one was delivered and failed and waits for a retry. Each consumer's
    count is bounded by what it held at the first measurement (first, from held_by()): a
    quiesced consumer takes no new entry, so any more are counted as pending like the others'."""
    held = {name: min(count, first.get(name, 0)) for name, count in held_by(state, quiesced).items()}
    state.pending_retry_by = {name: count for name, count in held.items() if count > 0}
    state.pending_retry = min(state.pending, sum(state.pending_retry_by.values()))
    return state


def drained(state: QueueState, max_pending: int, max_lag: int) -> bool:
    """Whether pending (less the entries left for a retry) and lag are within their limits (a
    negative limit is not checked)."""
    pending_ok = max_pending < 0 or state.pending - state.pending_retry <= max_pending
    lag_ok = max_lag < 0 or (state.lag is not None and state.lag <= max_lag)
    return pending_ok and lag_ok


def describe(state: QueueState) -> str:
    """The queue's numbers in one line, for messages."""
    whose = f"consumer {state.consumer}'s pending" if state.consumer else "pending"
    consumers = ", ".join(
        f"{c['name']} (pending {c['pending']}, idle {c['idle_ms'] / 1000:.1f}s)" for c in state.consumers
    )
    retry = f" (of them {state.pending_retry} failed, pending a retry)" if state.pending_retry else ""
    return (
        f"{whose}={state.pending}{retry} lag={state.lag} length={state.length} "
        f"consumers={len(state.consumers)}: {consumers or 'none'}"
    )


@dataclass
class WaitResult:
    """The outcome of a wait: the last state seen, whether it was drained, the seconds waited
    and how many times the queue was measured."""

    state: QueueState
    drained: bool
    elapsed: float
    samples: int


def wait_until_drained(
    read: Callable[[], QueueState],
    max_pending: int,
    max_lag: int,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    quiesced: Collection[str] = (),
) -> WaitResult:
    """Measure with read() every interval until drained() or timeout seconds passed. The
    queue is always measured at least once, and once more at the deadline. The entries the
    quiesced consumers hold (at most as many as at the first measurement) are left for a retry
    (retry_pending())."""
    started = clock()
    samples = 0
    first: dict[str, int] | None = None
    while True:
        state = read()
        if first is None:
            first = held_by(state, quiesced)
        retry_pending(state, quiesced, first)
        samples += 1
        elapsed = clock() - started
        if drained(state, max_pending, max_lag):
            return WaitResult(state, True, elapsed, samples)
        if elapsed >= timeout:
            return WaitResult(state, False, elapsed, samples)
        sleep(max(0.0, min(interval, timeout - elapsed)))
