# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the collection's Redis modules: connection options and the pure logic
that judges a node's health from its INFO output."""

from __future__ import annotations

import traceback
from dataclasses import asdict, dataclass
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import redis

    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()


def redis_argument_spec() -> dict[str, dict[str, Any]]:
    """Connection options, documented in the intelgraph.ops.redis doc fragment."""
    return {
        "login_host": {"type": "str", "default": "127.0.0.1"},
        "login_port": {"type": "int", "default": 6379},
        "login_user": {"type": "str"},
        "login_password": {"type": "str", "no_log": True},
        "tls": {"type": "bool", "default": False},
        "validate_certs": {"type": "bool", "default": True},
        "ca_certs": {"type": "path"},
        "connect_timeout": {"type": "float", "default": 5.0},
    }


def node_name(params: dict[str, Any]) -> str:
    return f"{params['login_host']}:{params['login_port']}"


def connect(module: AnsibleModule, host: str | None = None, port: int | None = None) -> Any:
    """A client for the node of the module's options (or for host/port, with the same
    credentials). Fails the module when the redis library is missing."""
    if not HAS_REDIS:
        module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
    params = module.params
    kwargs: dict[str, Any] = {
        "host": host or params["login_host"],
        "port": port or params["login_port"],
        "password": params["login_password"],
        "socket_timeout": params["connect_timeout"],
        "socket_connect_timeout": params["connect_timeout"],
    }
    if params["login_user"]:
        kwargs["username"] = params["login_user"]
    if params["tls"]:
        kwargs["ssl"] = True
        kwargs["ssl_cert_reqs"] = "required" if params["validate_certs"] else None
        if params["ca_certs"]:
            kwargs["ssl_ca_certs"] = params["ca_certs"]
    return redis.Redis(**kwargs)


def redis_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions a Redis call can raise (empty when the library is missing)."""
    return (redis.RedisError, OSError) if HAS_REDIS else (OSError,)


@dataclass
class Check:
    """One health check of a node: its name, whether it passed, and what was measured."""

    name: str
    ok: bool
    detail: str


@dataclass
class Thresholds:
    max_lag_bytes: int = 1048576
    max_memory_ratio: float = 0.9
    min_replicas: int = 0
    expected_role: str = "any"


def normalise_role(info_role: str) -> str:
    """INFO says master/slave; the collection speaks of primary/replica."""
    return {"master": "primary", "slave": "replica"}.get(info_role, info_role)


def replica_offsets(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The replicas a primary lists in INFO replication (slave0, slave1, ...), as dicts with
    ip, port, state, offset and lag. redis-py already parses each into a dict."""
    replicas = []
    for key in sorted(k for k in info if k.startswith("slave") and k[5:].isdigit()):
        value = info[key]
        if isinstance(value, str):
            value = dict(part.split("=", 1) for part in value.split(","))
        replicas.append(value)
    return replicas


def evaluate(
    info: dict[str, Any], thresholds: Thresholds, primary_offset: int | None = None
) -> tuple[list[Check], dict[str, Any]]:
    """Judge a node from its INFO (all sections). For a replica, primary_offset is the
    primary's master_repl_offset, read from the primary; the replica's lag is that minus
    its own slave_repl_offset. Returns the checks and the measured values."""
    checks: list[Check] = []
    role = normalise_role(str(info.get("role", "unknown")))
    measured: dict[str, Any] = {"role": role}

    if thresholds.expected_role != "any":
        checks.append(
            Check(
                "role",
                role == thresholds.expected_role,
                f"role is {role}, expected {thresholds.expected_role}",
            )
        )

    if role == "replica":
        link = str(info.get("master_link_status", "unknown"))
        measured["master_link_status"] = link
        measured["primary"] = f"{info.get('master_host')}:{info.get('master_port')}"
        checks.append(Check("replication link", link == "up", f"master_link_status is {link}"))
        own = int(info.get("slave_repl_offset", info.get("master_repl_offset", 0)))
        if primary_offset is None:
            checks.append(Check("replication lag", False, "the primary's offset could not be read"))
        else:
            lag = max(0, primary_offset - own)
            measured["lag_bytes"] = lag
            checks.append(
                Check(
                    "replication lag",
                    lag <= thresholds.max_lag_bytes,
                    f"{lag} bytes behind the primary (limit {thresholds.max_lag_bytes})",
                )
            )
    elif role == "primary":
        replicas = replica_offsets(info)
        offset = int(info.get("master_repl_offset", 0))
        online = [r for r in replicas if r.get("state") == "online"]
        measured["connected_replicas"] = int(info.get("connected_slaves", len(replicas)))
        measured["replicas"] = [
            {
                "address": f"{r.get('ip')}:{r.get('port')}",
                "state": r.get("state"),
                "lag_bytes": max(0, offset - int(r.get("offset", 0))),
            }
            for r in replicas
        ]
        checks.append(
            Check(
                "connected replicas",
                len(online) >= thresholds.min_replicas,
                f"{len(online)} replica(s) online (at least {thresholds.min_replicas} required)",
            )
        )
        for replica in measured["replicas"]:
            checks.append(
                Check(
                    f"replica {replica['address']} lag",
                    replica["lag_bytes"] <= thresholds.max_lag_bytes,
                    f"{replica['lag_bytes']} bytes behind (limit {thresholds.max_lag_bytes})",
                )
            )

    bgsave = str(info.get("rdb_last_bgsave_status", "unknown"))
    measured["rdb_last_bgsave_status"] = bgsave
    checks.append(Check("last bgsave", bgsave == "ok", f"rdb_last_bgsave_status is {bgsave}"))
    aof_status = info.get("aof_last_bgrewrite_status")
    if int(info.get("aof_enabled", 0)) and aof_status is not None:
        checks.append(
            Check("last aof rewrite", aof_status == "ok", f"aof_last_bgrewrite_status is {aof_status}")
        )

    used = int(info.get("used_memory", 0))
    limit = int(info.get("maxmemory", 0))
    measured["used_memory"] = used
    measured["maxmemory"] = limit
    if limit > 0:
        ratio = used / limit
        measured["memory_ratio"] = round(ratio, 4)
        checks.append(
            Check(
                "memory",
                ratio <= thresholds.max_memory_ratio,
                f"{used} of {limit} bytes used ({ratio:.0%}, limit {thresholds.max_memory_ratio:.0%})",
            )
        )
    return checks, measured


def checks_as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]


def snapshot_paths(dest_dir: str, snapshot_id: str) -> tuple[str, str]:
    """Where a snapshot's RDB copy and its metadata live."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in snapshot_id)
    if not safe or safe.startswith("."):
        raise ValueError(f"snapshot id {snapshot_id!r} cannot name a file")
    return f"{dest_dir}/{safe}.rdb", f"{dest_dir}/{safe}.json"


def bgsave_finished(before_lastsave: int, info: dict[str, Any]) -> bool | None:
    """True once a BGSAVE started after before_lastsave has finished well, False if it
    finished badly, None while it has not finished."""
    if int(info.get("rdb_bgsave_in_progress", 0)):
        return None
    if int(info.get("rdb_last_save_time", 0)) <= before_lastsave:
        return None
    return info.get("rdb_last_bgsave_status") == "ok"
