"""redis_snapshot, redis_health, redis_toggles and queue_drain run as Ansible runs them (a JSON file of
arguments), against scratch Redis servers on loopback. A snapshot must be right whether the
node keeps an append-only file or not: each is loaded into a fresh server and compared."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from module_run import run_module
from scratch_redis import scratch_redis

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "modules-secret"


def login(client: redis.Redis) -> dict[str, Any]:
    kwargs = client.connection_pool.connection_kwargs
    return {"login_host": "127.0.0.1", "login_port": kwargs["port"], "login_password": PASSWORD}


CACHE = {f"intelgraph:entity:e{n}": json.dumps({"id": f"e{n}", "n": n}) for n in range(200)}


@pytest.mark.parametrize(
    "persistence",
    [
        ("--appendonly", "no"),
        # AOF on from the start and no RDB rules: the node's own files never include an RDB.
        ("--appendonly", "yes", "--appendfsync", "always"),
        # AOF turned on at run time just before: its rewrite is running when the snapshot asks.
        "aof-turned-on-now",
    ],
    ids=["aof-off", "aof-on", "aof-turned-on-now"],
)
def test_snapshot_loads_into_a_fresh_server_with_the_same_keys(persistence: Any, tmp_path: Path) -> None:
    args = () if persistence == "aof-turned-on-now" else persistence
    with scratch_redis(tmp_path / "node", *args, password=PASSWORD) as node:
        node.mset(CACHE)
        node.hset("intelgraph:features:not-a-string", mapping={"a": "1"})
        node.set("intelgraph:features:rps_limiter", "off")
        if persistence == "aof-turned-on-now":
            for n in range(2000):  # enough data that the rewrite takes a moment
                node.set(f"bulk:{n}", "x" * 512)
            node.config_set("appendonly", "yes")
            assert int(node.info("persistence")["aof_rewrite_in_progress"]) or int(
                node.info("persistence")["aof_rewrite_scheduled"]
            )
        expected = {k: node.dump(k) for k in node.keys("*")}
        aof = node.config_get("appendonly")["appendonly"] == "yes"

        result = run_module(
            "redis_snapshot", dict(login(node), snapshot_id="rp-1", dest_dir=str(tmp_path / "kept")), tmp_path
        )
        node.set("after:the:snapshot", "1")
        assert result["_rc"] == 0, result
        assert result["changed"] is True
        assert result["aof_enabled"] is aof
        assert result["keys"] == len(expected)

        again = run_module(
            "redis_snapshot", dict(login(node), snapshot_id="rp-1", dest_dir=str(tmp_path / "kept")), tmp_path
        )
        assert again["changed"] is False and again["sha256"] == result["sha256"]

    kept = tmp_path / "kept" / "rp-1.rdb"
    assert json.loads((tmp_path / "kept" / "rp-1.json").read_text())["sha256"] == result["sha256"]
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "snap.rdb").write_bytes(kept.read_bytes())
    with scratch_redis(tmp_path / "scratch", dbfilename="snap.rdb") as scratch:
        loaded = {k: scratch.dump(k) for k in scratch.keys("*")}
    assert set(loaded) == set(expected)
    assert loaded == expected  # values, types and TTLs alike (DUMP serializes all of them)


def test_snapshot_in_check_mode_saves_nothing(tmp_path: Path) -> None:
    with scratch_redis(tmp_path / "node", password=PASSWORD) as node:
        saves = int(node.info("persistence")["rdb_saves"])
        result = run_module(
            "redis_snapshot",
            dict(login(node), snapshot_id="rp-2", dest_dir=str(tmp_path / "kept")),
            tmp_path,
            check=True,
        )
        assert result["_rc"] == 0 and result["changed"] is True
        assert int(node.info("persistence")["rdb_saves"]) == saves
    assert not (tmp_path / "kept").exists()


def test_two_snapshots_in_the_same_second_both_wait_for_their_own_save(tmp_path: Path) -> None:
    with scratch_redis(tmp_path / "node", password=PASSWORD) as node:
        node.set("k", "1")
        first = run_module(
            "redis_snapshot", dict(login(node), snapshot_id="a", dest_dir=str(tmp_path / "kept")), tmp_path
        )
        node.set("k", "2")
        second = run_module(
            "redis_snapshot", dict(login(node), snapshot_id="b", dest_dir=str(tmp_path / "kept")), tmp_path
        )
        assert first["_rc"] == 0 and second["_rc"] == 0, (first, second)
        assert second["lastsave"] > first["lastsave"]
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "b.rdb").write_bytes((tmp_path / "kept" / "b.rdb").read_bytes())
    with scratch_redis(tmp_path / "load", dbfilename="b.rdb") as scratch:
        assert scratch.get("k") == "2"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[redis.Redis, redis.Redis, Path]]:
    """A primary and its replica on loopback."""
    with scratch_redis(tmp_path / "primary", password=PASSWORD) as primary:
        port = primary.connection_pool.connection_kwargs["port"]
        with scratch_redis(
            tmp_path / "replica", "--replicaof", "127.0.0.1", str(port), password=PASSWORD
        ) as replica:
            deadline = time.monotonic() + 30
            while replica.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica never linked to its primary"
                time.sleep(0.1)
            yield primary, replica, tmp_path


def test_health_of_a_primary_and_its_replica(pair: tuple[redis.Redis, redis.Redis, Path]) -> None:
    primary, replica, tmp_path = pair
    primary.set("k", "v")
    on_primary = run_module(
        "redis_health", dict(login(primary), expected_role="primary", min_replicas=1), tmp_path
    )
    on_replica = run_module("redis_health", dict(login(replica), expected_role="replica"), tmp_path)
    assert on_primary["_rc"] == 0 and on_primary["healthy"], on_primary
    assert on_primary["measured"]["connected_replicas"] == 1
    assert on_replica["_rc"] == 0 and on_replica["healthy"], on_replica
    assert on_replica["measured"]["master_link_status"] == "up"
    assert on_replica["measured"]["lag_bytes"] <= 1048576

    wrong = run_module("redis_health", dict(login(replica), expected_role="primary"), tmp_path)
    assert wrong["_rc"] == 1 and "check 'role' failed: role is replica, expected primary" in wrong["msg"]
    bad_password = run_module("redis_health", dict(login(primary), login_password="nope"), tmp_path)
    assert bad_password["_rc"] == 1 and "authentication refused" in bad_password["msg"]


def test_health_with_the_replica_stopped(pair: tuple[redis.Redis, redis.Redis, Path]) -> None:
    primary, replica, tmp_path = pair
    replica_login = login(replica)
    replica.shutdown(nosave=True)
    time.sleep(0.5)
    on_replica = run_module("redis_health", dict(replica_login, fail_on_unhealthy=False), tmp_path)
    assert on_replica["_rc"] == 0 and on_replica["healthy"] is False
    assert on_replica["checks"][0]["name"] == "ping" and not on_replica["checks"][0]["ok"]
    on_primary = run_module(
        "redis_health", dict(login(primary), expected_role="primary", min_replicas=1), tmp_path
    )
    assert on_primary["_rc"] == 1
    assert "check 'connected replicas' failed: 0 replica(s) online, at least 1 required" in on_primary["msg"]


def test_health_of_a_replica_whose_primary_is_gone(pair: tuple[redis.Redis, redis.Redis, Path]) -> None:
    primary, replica, tmp_path = pair
    primary.shutdown(nosave=True)
    deadline = time.monotonic() + 30
    while replica.info("replication").get("master_link_status") == "up":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result = run_module("redis_health", dict(login(replica), expected_role="replica"), tmp_path)
    assert result["_rc"] == 1
    assert "check 'replication link' failed: master_link_status is down" in result["msg"]
    assert "check 'replication lag' failed: the offset of the primary" in result["msg"]


def test_toggles_read_and_restored(tmp_path: Path) -> None:
    prefix = "intelgraph:features:"
    with scratch_redis(tmp_path / "node", password=PASSWORD) as node:
        node.mset({prefix + "residency_guard": "on", prefix + "rps_limiter": "on", "unrelated": "x"})
        node.rpush(prefix + "a-list", "1")
        read = run_module("redis_toggles", login(node), tmp_path)
        assert read["_rc"] == 0 and read["changed"] is False
        assert read["toggles"] == {"residency_guard": "on", "rps_limiter": "on"}
        assert read["other_keys"] == {"a-list": "list"}

        wanted = {"rps_limiter": "off", "legacy_cache": "on"}
        dry = run_module(
            "redis_toggles", dict(login(node), state="restored", toggles=wanted), tmp_path, check=True
        )
        assert dry["changed"] is True and dry["set"] == wanted and dry["deleted"] == ["residency_guard"]
        assert dry["diff"]["after"] == wanted
        assert node.get(prefix + "rps_limiter") == "on"  # check mode wrote nothing

        done = run_module("redis_toggles", dict(login(node), state="restored", toggles=wanted), tmp_path)
        assert done["_rc"] == 0 and done["changed"] is True
        assert {k: node.get(k) for k in sorted(node.keys(prefix + "*")) if node.type(k) == "string"} == {
            prefix + "legacy_cache": "on",
            prefix + "rps_limiter": "off",
        }
        assert node.get("unrelated") == "x" and node.type(prefix + "a-list") == "list"

        again = run_module("redis_toggles", dict(login(node), state="restored", toggles=wanted), tmp_path)
        assert again["changed"] is False


@pytest.mark.parametrize("aof", ["no", "yes"], ids=["aof-off", "aof-on"])
def test_cache_restore_puts_back_the_snapshot_cache_and_nothing_else(tmp_path: Path, aof: str) -> None:
    """redis_cache_restore on a primary with a replica: the cache keys become the snapshot's
    (changed ones restored, deleted ones back, new ones removed) on both nodes, while the ingest
    stream and its consumer group, the change stream and the toggles keep what was written since."""
    with scratch_redis(tmp_path / "primary", "--appendonly", aof, password=PASSWORD) as primary:
        port = primary.connection_pool.connection_kwargs["port"]
        with scratch_redis(
            tmp_path / "replica",
            "--replicaof",
            "127.0.0.1",
            str(port),
            "--appendonly",
            aof,
            password=PASSWORD,
        ) as replica:
            deadline = time.monotonic() + 30
            while replica.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica never linked to its primary"
                time.sleep(0.1)
            primary.mset(dict(list(CACHE.items())[:50]))
            primary.set("intelgraph:entity:ttl", "expires later", ex=600)
            primary.set("intelgraph:features:rps_limiter", "off")
            primary.xgroup_create("intelgraph:ingest", "ingest-workers", id="0", mkstream=True)
            primary.xadd("intelgraph:ingest", {"event": "before"})
            snap = run_module(
                "redis_snapshot",
                dict(login(primary), snapshot_id="rp", dest_dir=str(tmp_path / "kept")),
                tmp_path,
            )
            assert snap["_rc"] == 0, snap
            cache_then = {k: primary.dump(k) for k in primary.keys("intelgraph:entity:*")}

            # Since the snapshot: one entry changed, one deleted, one added; stream, group and toggles moved on.
            primary.set("intelgraph:entity:e1", "newer")
            primary.delete("intelgraph:entity:e2")
            primary.set("intelgraph:entity:new", "cached since")
            primary.xadd("intelgraph:ingest", {"event": "after"})
            primary.xreadgroup("ingest-workers", "w1", {"intelgraph:ingest": ">"})
            primary.set("intelgraph:features:residency_guard", "on")
            stream_now = primary.xrange("intelgraph:ingest")
            group_now = primary.xinfo_groups("intelgraph:ingest")

            args = dict(login(primary), snapshot=str(tmp_path / "kept" / "rp.rdb"))
            checked = run_module("redis_cache_restore", args, tmp_path, check=True)
            assert checked["_rc"] == 0, checked
            assert (checked["changed"], checked["restored"], checked["deleted"]) == (True, 2, 1)
            assert primary.get("intelgraph:entity:e1") == "newer"  # check mode wrote nothing

            restored = run_module("redis_cache_restore", args, tmp_path)
            assert restored["_rc"] == 0, restored
            assert restored["snapshot_keys"] == 51 and restored["unchanged"] == 49
            assert sorted(restored["sample"]["restored"]) == ["intelgraph:entity:e1", "intelgraph:entity:e2"]
            assert restored["sample"]["deleted"] == ["intelgraph:entity:new"]
            assert restored["replicas"] == {"connected": 1, "acknowledged": 1}

            for node in (primary, replica):
                assert {k: node.dump(k) for k in node.keys("intelgraph:entity:*")} == cache_then
                assert 500 < node.ttl("intelgraph:entity:ttl") <= 600
                assert node.xrange("intelgraph:ingest") == stream_now
                assert node.get("intelgraph:features:residency_guard") == "on"
            assert primary.xinfo_groups("intelgraph:ingest") == group_now

            again = run_module("redis_cache_restore", args, tmp_path)
            assert again["_rc"] == 0 and again["changed"] is False and again["unchanged"] == 51


def test_cache_restore_refuses_a_prefix_covering_the_stream_or_toggles(tmp_path: Path) -> None:
    (tmp_path / "x.rdb").write_bytes(b"")
    result = run_module(
        "redis_cache_restore",
        {"login_password": PASSWORD, "snapshot": str(tmp_path / "x.rdb"), "cache_prefix": "intelgraph:"},
        tmp_path,
    )
    assert result["_rc"] == 1
    assert "covers the protected key or prefix 'intelgraph:ingest'" in result["msg"]


def test_queue_drain_leaves_the_entries_of_quiesced_consumers_for_a_retry(tmp_path: Path) -> None:
    stream, group = "intelgraph:ingest", "ingest-workers"
    with scratch_redis(tmp_path / "node", password=PASSWORD) as node:
        node.xgroup_create(stream, group, id="0", mkstream=True)
        for n in range(4):
            node.xadd(stream, {"event_id": f"e{n}"})
        # ingest1 and ingest2 each hold one entry they did not acknowledge; the rest is acknowledged.
        for consumer in ("ingest1", "ingest2"):
            [[_stream, [_held, (done, _fields)]]] = node.xreadgroup(group, consumer, {stream: ">"}, count=2)
            node.xack(stream, group, done)
        drain = {**login(node), "stream": stream, "group": group, "max_lag": -1, "timeout": 0}

        plain = run_module("queue_drain", drain, tmp_path)
        assert plain["_rc"] == 1 and plain["drained"] is False
        assert (plain["pending"], plain["pending_retry"]) == (2, 0)

        one = run_module("queue_drain", dict(drain, quiesced_consumers=["ingest2"]), tmp_path)
        assert one["_rc"] == 1 and one["drained"] is False
        assert (one["pending"], one["pending_retry"], one["pending_retry_by"]) == (2, 1, {"ingest2": 1})
        assert "pending=2 (of them 1 failed, pending a retry)" in one["msg"]

        both = run_module("queue_drain", dict(drain, quiesced_consumers=["ingest1", "ingest2"]), tmp_path)
        assert both["_rc"] == 0 and both["drained"] is True and both["changed"] is False
        assert both["pending_retry_by"] == {"ingest1": 1, "ingest2": 1}
        assert node.xpending(stream, group)["pending"] == 2  # left pending, untouched
