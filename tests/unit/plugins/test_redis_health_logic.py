"""intelgraph.ops Redis health logic: what a node's INFO says about it."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    Check,
    Thresholds,
    evaluate,
    failure_summary,
    normalise_role,
    replica_offsets,
    threshold_errors,
    tls_options,
)


def replica_info(**overrides: Any) -> dict[str, Any]:
    info = {
        "role": "slave",
        "master_host": "10.0.0.1",
        "master_port": 6379,
        "master_link_status": "up",
        "slave_repl_offset": 1000,
        "master_repl_offset": 1000,
        "rdb_last_bgsave_status": "ok",
        "used_memory": 100,
        "maxmemory": 1000,
        "aof_enabled": 0,
    }
    info.update(overrides)
    return info


def primary_info(**overrides: Any) -> dict[str, Any]:
    info = {
        "role": "master",
        "connected_slaves": 1,
        "slave0": {"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 900, "lag": 0},
        "master_repl_offset": 1000,
        "rdb_last_bgsave_status": "ok",
        "used_memory": 100,
        "maxmemory": 0,
    }
    info.update(overrides)
    return info


def failed(checks: list) -> list[str]:
    return [c.name for c in checks if not c.ok]


@pytest.mark.parametrize(
    ("primary_offset", "limit", "lag", "bad"),
    [
        (1000, 0, 0, []),
        (1500, 1024, 500, []),
        (5000, 1024, 4000, ["replication lag"]),
        (900, 0, 0, []),  # a replica ahead of a stale read is not behind
    ],
)
def test_replica_lag_against_the_primary(primary_offset: int, limit: int, lag: int, bad: list[str]) -> None:
    checks, measured = evaluate(replica_info(), Thresholds(max_lag_bytes=limit), primary_offset)
    assert measured["lag_bytes"] == lag
    assert failed(checks) == bad


def test_replica_with_link_down_fails_naming_the_link() -> None:
    checks, measured = evaluate(replica_info(master_link_status="down"), Thresholds(), 1000)
    assert measured["master_link_status"] == "down"
    assert failed(checks) == ["replication link"]
    assert "master_link_status is down" in next(c.detail for c in checks if not c.ok)


def test_replica_without_primary_offset_is_not_healthy() -> None:
    checks, _problems = evaluate(replica_info(), Thresholds(), None)
    assert failed(checks) == ["replication lag"]


@pytest.mark.parametrize(
    ("replicas", "min_replicas", "bad"),
    [
        ({"slave0": {"ip": "a", "port": 1, "state": "online", "offset": 1000}}, 1, []),
        ({"slave0": {"ip": "a", "port": 1, "state": "wait_bgsave", "offset": 0}}, 1, ["connected replicas"]),
        ({}, 0, []),
    ],
)
def test_primary_counts_online_replicas(replicas: dict, min_replicas: int, bad: list[str]) -> None:
    info = primary_info(**replicas)
    if not replicas:
        info.pop("slave0")
    checks, measured = evaluate(info, Thresholds(min_replicas=min_replicas, max_lag_bytes=10**9))
    assert failed(checks) == bad
    assert len(measured["replicas"]) == len(replicas)


def test_primary_measures_each_replica_lag() -> None:
    checks, measured = evaluate(primary_info(), Thresholds(max_lag_bytes=50))
    assert measured["replicas"] == [{"address": "10.0.0.2:6379", "state": "online", "lag_bytes": 100}]
    assert failed(checks) == ["replica 10.0.0.2:6379 lag"]


@pytest.mark.parametrize(
    ("used", "limit", "ratio", "bad"),
    [(100, 1000, 0.1, []), (950, 1000, 0.95, ["memory"]), (5000, 0, None, [])],
)
def test_memory_against_maxmemory(used: int, limit: int, ratio: float | None, bad: list[str]) -> None:
    checks, measured = evaluate(replica_info(used_memory=used, maxmemory=limit), Thresholds(), 1000)
    assert measured.get("memory_ratio") == ratio
    assert failed(checks) == bad


def test_failed_bgsave_and_unexpected_role() -> None:
    checks, _problems = evaluate(
        primary_info(rdb_last_bgsave_status="err"), Thresholds(expected_role="replica", max_lag_bytes=10**6)
    )
    assert failed(checks) == ["role", "last bgsave"]


def test_replica_lines_as_strings_are_parsed() -> None:
    info = {"slave0": "ip=10.0.0.2,port=6379,state=online,offset=7,lag=0", "slaves": "x"}
    assert replica_offsets(info) == [
        {"ip": "10.0.0.2", "port": "6379", "state": "online", "offset": "7", "lag": "0"}
    ]


@pytest.mark.parametrize(
    ("raw", "role"), [("master", "primary"), ("slave", "replica"), ("sentinel", "sentinel")]
)
def test_roles_are_named_primary_and_replica(raw: str, role: str) -> None:
    assert normalise_role(raw) == role


def test_primary_checks_lag_of_online_replicas_only() -> None:
    info = primary_info(
        slave0={"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 1000},
        slave1={"ip": "10.0.0.3", "port": 6379, "state": "wait_bgsave", "offset": 0},
        connected_slaves=2,
    )
    checks, measured = evaluate(info, Thresholds(min_replicas=2, max_lag_bytes=10))
    assert [r["state"] for r in measured["replicas"]] == ["online", "wait_bgsave"]
    assert failed(checks) == ["connected replicas"]
    detail = next(c.detail for c in checks if c.name == "connected replicas")
    assert "1 replica(s) online, at least 2 required" in detail
    assert "10.0.0.3:6379 wait_bgsave" in detail


def test_replicas_are_ordered_by_number() -> None:
    info = {f"slave{i}": {"ip": f"10.0.0.{i}", "port": 1, "state": "online", "offset": 0} for i in (10, 2, 1)}
    assert [r["ip"] for r in replica_offsets(info)] == ["10.0.0.1", "10.0.0.2", "10.0.0.10"]


def test_replica_says_why_the_primary_offset_is_missing() -> None:
    checks, measured = evaluate(replica_info(), Thresholds(), None, "Connection refused")
    detail = next(c.detail for c in checks if c.name == "replication lag")
    assert "10.0.0.1:6379" in detail and "Connection refused" in detail
    assert "lag_bytes" not in measured


def test_a_node_neither_primary_nor_replica_fails_its_role() -> None:
    checks, measured = evaluate({"role": "sentinel", "rdb_last_bgsave_status": "ok"}, Thresholds())
    assert measured["role"] == "sentinel"
    assert failed(checks) == ["role"]


@pytest.mark.parametrize(
    ("rewrite", "write", "bad"),
    [("ok", "ok", []), ("err", "ok", ["last aof rewrite"]), ("ok", "err", ["last aof write"])],
)
def test_aof_statuses_count_when_aof_is_on(rewrite: str, write: str, bad: list[str]) -> None:
    info = replica_info(aof_enabled=1, aof_last_bgrewrite_status=rewrite, aof_last_write_status=write)
    checks, measured = evaluate(info, Thresholds(), 1000)
    assert measured["aof_enabled"] is True
    assert failed(checks) == bad


def test_aof_statuses_are_ignored_when_aof_is_off() -> None:
    info = replica_info(aof_enabled=0, aof_last_bgrewrite_status="err", aof_last_write_status="err")
    checks, _problems = evaluate(info, Thresholds(), 1000)
    assert failed(checks) == []


@pytest.mark.parametrize(
    ("thresholds", "errors"),
    [
        (Thresholds(), 0),
        (Thresholds(max_lag_bytes=-1), 1),
        (Thresholds(max_memory_ratio=0), 1),
        (Thresholds(max_memory_ratio=1.5, min_replicas=-2), 2),
    ],
)
def test_thresholds_are_checked(thresholds: Thresholds, errors: int) -> None:
    assert len(threshold_errors(thresholds)) == errors


def test_failure_summary_names_the_node_and_each_failed_check() -> None:
    checks = [Check("ping", True, "PONG"), Check("memory", False, "95%"), Check("last bgsave", False, "err")]
    summary = failure_summary("cache2:6379", checks)
    assert summary.startswith("Redis node cache2:6379 is not healthy")
    assert "check 'memory' failed: 95%" in summary
    assert "check 'last bgsave' failed: err" in summary
    assert "ping" not in summary


@pytest.mark.parametrize(
    ("validate", "expected"),
    [
        (True, {"ssl": True, "ssl_cert_reqs": "required", "ssl_check_hostname": True, "ssl_ca_certs": "/ca"}),
        (False, {"ssl": True, "ssl_cert_reqs": "none", "ssl_check_hostname": False, "ssl_ca_certs": "/ca"}),
    ],
)
def test_tls_options(validate: bool, expected: dict) -> None:
    params = {"validate_certs": validate, "ca_certs": "/ca", "client_cert": None, "client_key": None}
    assert tls_options(params) == expected


def test_tls_client_certificate() -> None:
    params = {"validate_certs": True, "ca_certs": None, "client_cert": "/c.pem", "client_key": "/k.pem"}
    options = tls_options(params)
    assert options["ssl_certfile"] == "/c.pem" and options["ssl_keyfile"] == "/k.pem"
    assert "ssl_ca_certs" not in options
