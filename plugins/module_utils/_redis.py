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
        "client_cert": {"type": "path"},
        "client_key": {"type": "path"},
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
        kwargs.update(tls_options(params))
    return redis.Redis(**kwargs)


def tls_options(params: dict[str, Any]) -> dict[str, Any]:
    """redis-py's TLS keywords for the module's options. The host name is checked only when
    certificates are validated (redis-py 6 and later check it by default)."""
    options: dict[str, Any] = {
        "ssl": True,
        "ssl_cert_reqs": "required" if params["validate_certs"] else "none",
        "ssl_check_hostname": bool(params["validate_certs"]),
    }
    if params.get("ca_certs"):
        options["ssl_ca_certs"] = params["ca_certs"]
    if params.get("client_cert"):
        options["ssl_certfile"] = params["client_cert"]
    if params.get("client_key"):
        options["ssl_keyfile"] = params["client_key"]
    return options


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


def threshold_errors(thresholds: Thresholds) -> list[str]:
    """What is wrong with the thresholds a module was given (empty when they make sense)."""
    errors = []
    if thresholds.max_lag_bytes < 0:
        errors.append(f"max_lag_bytes must be 0 or more, got {thresholds.max_lag_bytes}")
    if not 0 < thresholds.max_memory_ratio <= 1:
        errors.append(f"max_memory_ratio must be above 0 and at most 1, got {thresholds.max_memory_ratio}")
    if thresholds.min_replicas < 0:
        errors.append(f"min_replicas must be 0 or more, got {thresholds.min_replicas}")
    return errors


def normalise_role(info_role: str) -> str:
    """INFO says master/slave; the collection speaks of primary/replica."""
    return {"master": "primary", "slave": "replica"}.get(info_role, info_role)


def replica_offsets(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The replicas a primary lists in INFO replication (slave0, slave1, ...), as dicts with
    ip, port, state, offset and lag. redis-py already parses each into a dict."""
    replicas = []
    for key in sorted(
        (k for k in info if k.startswith("slave") and k[5:].isdigit()), key=lambda k: int(k[5:])
    ):
        value = info[key]
        if isinstance(value, str):
            value = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
        replicas.append(value)
    return replicas


def evaluate(
    info: dict[str, Any],
    thresholds: Thresholds,
    primary_offset: int | None = None,
    primary_error: str | None = None,
) -> tuple[list[Check], dict[str, Any]]:
    """Judge a node from its INFO (all sections). For a replica, primary_offset is the
    primary's master_repl_offset, read from the primary (primary_error says why it could not
    be); the replica's lag is that minus its own slave_repl_offset. Returns the checks and the
    measured values."""
    checks: list[Check] = []
    role = normalise_role(str(info.get("role", "unknown")))
    measured: dict[str, Any] = {"role": role}
    if "redis_version" in info:
        measured["redis_version"] = str(info["redis_version"])

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
        checks.append(
            Check(
                "replication link",
                link == "up",
                f"master_link_status is {link} (primary {measured['primary']})",
            )
        )
        own = int(info.get("slave_repl_offset", info.get("master_repl_offset", 0)))
        measured["repl_offset"] = own
        if primary_offset is None:
            why = f": {primary_error}" if primary_error else ""
            checks.append(
                Check(
                    "replication lag",
                    False,
                    f"the offset of the primary {measured['primary']} could not be read{why}",
                )
            )
        else:
            lag = max(0, primary_offset - own)
            measured["primary_repl_offset"] = primary_offset
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
        measured["repl_offset"] = offset
        measured["connected_replicas"] = int(info.get("connected_slaves", len(replicas)))
        measured["replicas"] = [
            {
                "address": f"{r.get('ip')}:{r.get('port')}",
                "state": r.get("state"),
                "lag_bytes": max(0, offset - int(r.get("offset", 0))),
            }
            for r in replicas
        ]
        online = [r for r in measured["replicas"] if r["state"] == "online"]
        others = [f"{r['address']} {r['state']}" for r in measured["replicas"] if r["state"] != "online"]
        checks.append(
            Check(
                "connected replicas",
                len(online) >= thresholds.min_replicas,
                f"{len(online)} replica(s) online, at least {thresholds.min_replicas} required"
                + (f" (not online: {', '.join(others)})" if others else ""),
            )
        )
        # A replica that is not online is already counted above; its offset means nothing yet.
        for replica in online:
            checks.append(
                Check(
                    f"replica {replica['address']} lag",
                    replica["lag_bytes"] <= thresholds.max_lag_bytes,
                    f"{replica['lag_bytes']} bytes behind (limit {thresholds.max_lag_bytes})",
                )
            )
    else:
        checks.append(Check("role", False, f"role is {role}: neither a primary nor a replica"))

    bgsave = str(info.get("rdb_last_bgsave_status", "unknown"))
    measured["rdb_last_bgsave_status"] = bgsave
    checks.append(Check("last bgsave", bgsave == "ok", f"rdb_last_bgsave_status is {bgsave}"))
    measured["aof_enabled"] = bool(int(info.get("aof_enabled", 0)))
    aof_status = info.get("aof_last_bgrewrite_status")
    if measured["aof_enabled"] and aof_status is not None:
        checks.append(
            Check("last aof rewrite", aof_status == "ok", f"aof_last_bgrewrite_status is {aof_status}")
        )
    aof_write = info.get("aof_last_write_status")
    if measured["aof_enabled"] and aof_write is not None:
        checks.append(Check("last aof write", aof_write == "ok", f"aof_last_write_status is {aof_write}"))

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


def failure_summary(node: str, checks: list[Check]) -> str:
    """One sentence naming the node and every check that failed."""
    failed = [c for c in checks if not c.ok]
    reasons = "; ".join(f"check '{c.name}' failed: {c.detail}" for c in failed)
    return f"Redis node {node} is not healthy: {reasons}"


# --- snapshots ------------------------------------------------------------------------------


def snapshot_paths(dest_dir: str, snapshot_id: str) -> tuple[str, str]:
    """Where a snapshot's RDB copy and its metadata live."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in snapshot_id)
    if not safe or safe.startswith("."):
        raise ValueError(f"snapshot id {snapshot_id!r} cannot name a file")
    return f"{dest_dir}/{safe}.rdb", f"{dest_dir}/{safe}.json"


def bgsave_finished(
    before_lastsave: int, info: dict[str, Any], before_saves: int | None = None, before_status: str = "ok"
) -> bool | None:
    """Whether the BGSAVE asked for after `before_lastsave` (LASTSAVE) has finished: True when
    it finished well, False when it failed, None while it is scheduled or running.

    LASTSAVE counts whole seconds and moves only on a good save, so the caller asks for its
    BGSAVE only once the server's clock has left the second of `before_lastsave`. Redis 7
    counts the saves it starts (rdb_saves): where `before_saves` is given, the count must have
    grown past it, which an AOF rewrite or a still-scheduled BGSAVE never does, and a failed
    save is then told apart from one not started yet. Without the count, a failure shows only
    as rdb_last_bgsave_status turning from `before_status` to err."""
    if int(info.get("rdb_bgsave_in_progress", 0)):
        return None
    status = info.get("rdb_last_bgsave_status")
    advanced = int(info.get("rdb_last_save_time", 0)) > before_lastsave
    if before_saves is not None and "rdb_saves" in info:
        if int(info["rdb_saves"]) <= before_saves:
            return None
        return advanced and status == "ok"
    if advanced:
        return status == "ok"
    if status != "ok" and before_status == "ok":
        return False
    return None


def keyspace_keys(keyspace: dict[str, Any]) -> int:
    """Keys of every database in INFO keyspace (db0: {keys: n, ...})."""
    total = 0
    for name, db in keyspace.items():
        if not name.startswith("db"):
            continue
        if isinstance(db, str):
            db = dict(part.split("=", 1) for part in db.split(",") if "=" in part)
        total += int(db.get("keys", 0))
    return total


# --- feature toggles ------------------------------------------------------------------------


def toggle_plan(current: dict[str, str], wanted: dict[str, str]) -> dict[str, Any]:
    """What restoring the toggles `wanted` over `current` means: the toggles to set (new or
    different value) and those to delete (present now, absent from `wanted`)."""
    to_set = {name: str(value) for name, value in sorted(wanted.items()) if current.get(name) != str(value)}
    to_delete = sorted(name for name in current if name not in wanted)
    return {"set": to_set, "delete": to_delete}


def glob_escape(text: str) -> str:
    """`text` as a literal in a SCAN MATCH pattern."""
    return "".join("\\" + ch if ch in "\\*?[]" else ch for ch in text)


def toggle_name_errors(prefix: str, names: list[str]) -> list[str]:
    """Toggle names that cannot be keys under the prefix."""
    errors = []
    if not prefix:
        errors.append("prefix must not be empty: every key of the node would count as a toggle")
    for name in names:
        if not name or any(ch in name for ch in "*?[]\n\r "):
            errors.append(f"toggle name {name!r} is empty or holds a space or glob character")
    return errors
