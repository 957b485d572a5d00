"""The pure logic of redis_cache_restore: which cache keys a restore puts back or deletes."""

from __future__ import annotations

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._cache_restore import (
    cache_plan,
    prefix_errors,
    scratch_command,
    ttl_for_restore,
)


@pytest.mark.parametrize(
    ("pttl", "expected"),
    [(-1, 0), (-2, None), (None, None), (0, 1), (1500, 1500)],
    ids=["no-expiry", "gone", "missing", "expiring-now", "expiring"],
)
def test_ttl_for_restore(pttl: int | None, expected: int | None) -> None:
    assert ttl_for_restore(pttl) == expected


@pytest.mark.parametrize(
    ("snapshot", "live", "restore", "delete", "unchanged"),
    [
        ({}, {}, [], [], 0),
        ({b"a": (b"1", 0)}, {b"a": (b"1", 0)}, [], [], 1),
        ({b"a": (b"1", 0)}, {b"a": (b"1", 900)}, [], [], 1),  # same value, other TTL
        ({b"a": (b"1", 0)}, {b"a": (b"2", 0)}, [b"a"], [], 0),
        ({b"a": (b"1", 0)}, {}, [b"a"], [], 0),
        ({}, {b"b": (b"1", 0)}, [], [b"b"], 0),
        ({b"b": (b"1", 0), b"a": (b"1", 0)}, {b"c": (b"1", 0), b"a": (b"x", 0)}, [b"a", b"b"], [b"c"], 0),
    ],
    ids=["empty", "same", "same-value-other-ttl", "changed", "deleted-since", "added-since", "mixed"],
)
def test_cache_plan(snapshot: dict, live: dict, restore: list, delete: list, unchanged: int) -> None:
    plan = cache_plan(snapshot, live)
    assert (plan.restore, plan.delete, plan.unchanged) == (restore, delete, unchanged)
    assert plan.changed == bool(restore or delete)


@pytest.mark.parametrize(
    ("prefix", "errors"),
    [
        ("intelgraph:entity:", []),
        ("", ["cache_prefix must not be empty: every key of the node would count as cache"]),
        ("cache:*", ["cache_prefix 'cache:*' holds a glob character"]),
        (
            "intelgraph:",
            [
                "cache_prefix 'intelgraph:' covers the protected key or prefix 'intelgraph:ingest'",
                "cache_prefix 'intelgraph:' covers the protected key or prefix 'intelgraph:features:'",
            ],
        ),
    ],
    ids=["cache", "empty", "glob", "covers-stream-and-toggles"],
)
def test_prefix_errors(prefix: str, errors: list[str]) -> None:
    assert prefix_errors(prefix, ["intelgraph:ingest", "intelgraph:features:"]) == errors


def test_scratch_server_listens_on_its_socket_only_and_keeps_nothing() -> None:
    command = scratch_command("/usr/bin/redis-server", "/tmp/w", "snapshot.rdb", "/tmp/w/redis.sock")
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--port"] == "0"
    assert options["--unixsocket"] == "/tmp/w/redis.sock" and options["--unixsocketperm"] == "700"
    assert (options["--dir"], options["--dbfilename"]) == ("/tmp/w", "snapshot.rdb")
    assert (options["--appendonly"], options["--save"]) == ("no", "")
