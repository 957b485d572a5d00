# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of redis_cache_restore: read a Redis snapshot (RDB) through a scratch
server that only this process can reach, and the pure logic of putting the cache keys of that
snapshot back on a live node without touching any other key."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

# What a key is, as read with DUMP and PTTL: its serialized value and its time to live in
# milliseconds (0: no expiry).
Entry = tuple[bytes, int]


@dataclass
class CachePlan:
    """What restoring a snapshot's cache keys over the live ones means."""

    restore: list[bytes] = field(default_factory=list)  # absent live, or with another value
    delete: list[bytes] = field(default_factory=list)  # live keys the snapshot does not hold
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.restore or self.delete)


def ttl_for_restore(pttl: int | None) -> int | None:
    """The TTL argument of RESTORE for a key whose PTTL is `pttl`: 0 for a key without expiry,
    the milliseconds left for one that expires, None for a key that is gone (-2 or None)."""
    if pttl is None or pttl == -2:
        return None
    if pttl == -1:
        return 0
    return max(int(pttl), 1)


def cache_plan(snapshot: dict[bytes, Entry], live: dict[bytes, Entry]) -> CachePlan:
    """Keys to restore (missing live, or holding another value) and keys to delete (live, not
    in the snapshot). Values are compared as DUMP payloads; a key with the same value and
    another TTL counts as unchanged (its value is what readers see)."""
    plan = CachePlan()
    for key in sorted(snapshot):
        if key in live and live[key][0] == snapshot[key][0]:
            plan.unchanged += 1
        else:
            plan.restore.append(key)
    plan.delete = sorted(key for key in live if key not in snapshot)
    return plan


# Keys no cache prefix may cover, whatever protected_keys the caller gives: the ingest stream,
# its dead-letter stream and the change stream hold events, not cache entries.
ALWAYS_PROTECTED = ("intelgraph:ingest", "intelgraph:ingest:dlq", "intelgraph:changes")


def prefix_errors(prefix: str, protected: list[str]) -> list[str]:
    """Why `prefix` cannot name the cache keys: empty (every key would be cache), a glob
    character, covering a protected key or prefix (the prefix begins it: the ingest streams,
    the toggles), or lying inside one (it begins the prefix). ALWAYS_PROTECTED come first."""
    errors = []
    if not prefix:
        errors.append("cache_prefix must not be empty: every key of the node would count as cache")
    elif any(ch in prefix for ch in "*?[]"):
        errors.append(f"cache_prefix {prefix!r} holds a glob character")
    else:
        for name in dict.fromkeys([*ALWAYS_PROTECTED, *protected]):
            if name.startswith(prefix):
                errors.append(f"cache_prefix {prefix!r} covers the protected key or prefix {name!r}")
            elif prefix.startswith(name):
                errors.append(f"cache_prefix {prefix!r} lies inside the protected key or prefix {name!r}")
    return errors


def scratch_command(redis_server: str, workdir: str, dbfilename: str, socket_path: str) -> list[str]:
    """A redis-server that loads `dbfilename` from `workdir`, listens on a unix socket only
    (no TCP port), and neither saves nor keeps an append-only file."""
    return [
        redis_server,
        "--port",
        "0",
        "--unixsocket",
        socket_path,
        "--unixsocketperm",
        "700",
        "--dir",
        workdir,
        "--dbfilename",
        dbfilename,
        "--appendonly",
        "no",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        os.path.join(workdir, "scratch.log"),
    ]


class ScratchServer:
    """The snapshot, loaded by a private redis-server in a temporary directory; removed on exit."""

    def __init__(self, redis_server: str, snapshot: str, timeout: float) -> None:
        self.redis_server = redis_server
        self.snapshot = snapshot
        self.timeout = timeout
        self.workdir = ""
        self.socket_path = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ScratchServer:
        self.workdir = tempfile.mkdtemp(prefix="intelgraph-cache-restore-")
        os.chmod(self.workdir, 0o700)
        shutil.copyfile(self.snapshot, os.path.join(self.workdir, "snapshot.rdb"))
        self.socket_path = os.path.join(self.workdir, "redis.sock")
        command = scratch_command(self.redis_server, self.workdir, "snapshot.rdb", self.socket_path)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def wait_loaded(self, client: Any) -> None:
        """Wait until the scratch server answers with the snapshot loaded."""
        deadline = time.monotonic() + self.timeout
        last = "it did not start"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the scratch redis-server exited ({self.process.returncode}): {self.log()}"
                )
            if os.path.exists(self.socket_path):
                try:
                    if int(client.info("persistence").get("loading", 1)) == 0:
                        return
                    last = "it was still loading the snapshot"
                except Exception as exc:
                    last = str(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"the scratch redis-server was not ready within {self.timeout:g}s: {last}. {self.log()}"
        )

    def log(self) -> str:
        try:
            with open(
                os.path.join(self.workdir, "scratch.log"), encoding="utf-8", errors="replace"
            ) as handle:
                return " ".join(handle.read().splitlines()[-5:])
        except OSError:
            return ""

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def read_entries(client: Any, prefix_pattern: str, batch: int = 500) -> dict[bytes, Entry]:
    """DUMP and PTTL of every key matching `prefix_pattern` (keys gone meanwhile left out)."""
    keys = sorted(set(client.scan_iter(match=prefix_pattern, count=batch)))
    entries: dict[bytes, Entry] = {}
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.dump(key)
            pipe.pttl(key)
        replies = pipe.execute()
        for index, key in enumerate(chunk):
            payload, pttl = replies[2 * index], replies[2 * index + 1]
            ttl = ttl_for_restore(pttl)
            if payload is not None and ttl is not None:
                entries[key] = (payload, ttl)
    return entries


def apply_plan(client: Any, plan: CachePlan, snapshot: dict[bytes, Entry], batch: int = 500) -> None:
    """Put the plan's keys back (RESTORE ... REPLACE, with the TTL they had left) and delete
    the others, in pipelined batches."""
    for start in range(0, len(plan.restore), batch):
        pipe = client.pipeline(transaction=False)
        for key in plan.restore[start : start + batch]:
            payload, ttl = snapshot[key]
            pipe.restore(key, ttl, payload, replace=True)
        pipe.execute()
    for start in range(0, len(plan.delete), batch):
        client.delete(*plan.delete[start : start + batch])
