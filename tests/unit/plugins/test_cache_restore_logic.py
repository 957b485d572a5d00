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
                "cache_prefix 'intelgraph:' covers the protected key or prefix 'intelgraph:ingest:dlq'",
                "cache_prefix 'intelgraph:' covers the protected key or prefix 'intelgraph:changes'",
                "cache_prefix 'intelgraph:' covers the protected key or prefix 'intelgraph:features:'",
            ],
        ),
        # The dead-letter stream, protected whatever the caller lists.
        (
            "intelgraph:ingest:",
            [
                "cache_prefix 'intelgraph:ingest:' lies inside the protected key or prefix 'intelgraph:ingest'",
                "cache_prefix 'intelgraph:ingest:' covers the protected key or prefix 'intelgraph:ingest:dlq'",
            ],
        ),
        # Inside a protected prefix: the toggles under intelgraph:features: are not cache.
        (
            "intelgraph:features:beta:",
            [
                "cache_prefix 'intelgraph:features:beta:' lies inside the protected key or prefix "
                "'intelgraph:features:'"
            ],
        ),
        (
            "intelgraph:changes:",
            [
                "cache_prefix 'intelgraph:changes:' lies inside the protected key or prefix 'intelgraph:changes'"
            ],
        ),
    ],
    ids=[
        "cache",
        "empty",
        "glob",
        "covers-streams-and-toggles",
        "covers-the-dlq",
        "inside-the-toggles",
        "changes",
    ],
)
def test_prefix_errors(prefix: str, errors: list[str]) -> None:
    # The caller lists the ingest stream and the toggles, as the rollback role does.
    assert prefix_errors(prefix, ["intelgraph:ingest", "intelgraph:features:"]) == errors


def test_the_event_streams_are_protected_when_the_caller_lists_none() -> None:
    assert prefix_errors("intelgraph:ch", []) == [
        "cache_prefix 'intelgraph:ch' covers the protected key or prefix 'intelgraph:changes'"
    ]


def test_scratch_server_listens_on_its_socket_only_and_keeps_nothing() -> None:
    command = scratch_command("/usr/bin/redis-server", "/tmp/w", "snapshot.rdb", "/tmp/w/redis.sock")
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--port"] == "0"
    assert options["--unixsocket"] == "/tmp/w/redis.sock" and options["--unixsocketperm"] == "700"
    assert (options["--dir"], options["--dbfilename"]) == ("/tmp/w", "snapshot.rdb")
    assert (options["--appendonly"], options["--save"]) == ("no", "")


def test_the_filter_makes_the_modules_check_before_anything_changes() -> None:
    from ansible.errors import AnsibleFilterError
    from ansible_collections.intelgraph.ops.plugins.filter.inputs import cache_prefix_errors

    assert cache_prefix_errors("intelgraph:entity:", ["intelgraph:features:"]) == []
    assert cache_prefix_errors("intelgraph:ingest:", None) == prefix_errors("intelgraph:ingest:", [])
    assert cache_prefix_errors("intelgraph:features:x", ["intelgraph:features:"]) == [
        "cache_prefix 'intelgraph:features:x' lies inside the protected key or prefix 'intelgraph:features:'"
    ]
    with pytest.raises(AnsibleFilterError):
        cache_prefix_errors("intelgraph:entity:", "intelgraph:features:")
