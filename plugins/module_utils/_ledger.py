# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""The run ledger: which phase each host (and the fleet) has finished in an upgrade to a release,
kept in one JSON file on the controller so that a run started again after an interruption can
skip what is done. Every write is a whole new file moved into place under a lock."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import time
from collections.abc import Iterator
from typing import Any

from ansible_collections.intelgraph.ops.plugins.module_utils._files import replace_file

STATUSES = ("started", "done")
FLEET = "fleet"


def empty(release: str) -> dict[str, Any]:
    return {"release": release, "created": None, "updated": None, "completed": None, "hosts": {}, FLEET: {}}


def load(path: str, release: str) -> dict[str, Any]:
    """The ledger at path, or an empty one for the release when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return empty(release)
    if not isinstance(data, dict) or data.get("release") != release:
        raise ValueError(f"{path} is not a run ledger of release {release}")
    ledger = empty(release)
    ledger.update(data)
    return ledger


def write(path: str, ledger: dict[str, Any]) -> None:
    """Write the ledger atomically (mode 0600): a temporary file in the same directory, synced, then renamed."""
    replace_file(path, (json.dumps(ledger, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o600)


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive lock beside the ledger (several hosts finish a phase at the same time)."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    with os.fdopen(os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600), "r+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def record(
    ledger: dict[str, Any],
    phase: str,
    status: str,
    hosts: list[str] | None,
    data: dict[str, Any] | None,
    now: float,
    host_data: dict[str, dict[str, Any]] | None = None,
) -> bool:
    """Record a phase as started or done for each host (or for the fleet when hosts is None),
    with `data`, and for a host of `host_data` its own facts over them. Returns whether the
    ledger changed. Done again keeps the first record; started after done begins a new attempt
    (the host is moved again)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status}")
    own = host_data or {}
    if hosts is None:
        targets = [(ledger[FLEET], data)]
    else:
        targets = [(ledger["hosts"].setdefault(h, {}), {**(data or {}), **own.get(h, {})}) for h in hosts]
    changed = False
    for entries, facts in targets:
        entry = entries.get(phase, {})
        if entry.get("status") == status == "done":
            continue  # done again: it keeps the time and facts of when it was done
        if status == "started":
            # A new attempt (also on a host done before, that is moved again).
            new = {"status": "started", "started": now, **({"data": dict(facts)} if facts else {})}
            if entry.get("status") == "started":
                new = {**entry, **({"data": {**entry.get("data", {}), **facts}} if facts else {})}
        else:
            new = {**entry, "status": "done", "finished": now}
            new.setdefault("started", now)
            if facts:
                new["data"] = {**entry.get("data", {}), **facts}
        if new != entry:
            entries[phase] = new
            changed = True
    if changed:
        ledger["created"] = ledger["created"] or now
        ledger["updated"] = now
    return changed


def done(ledger: dict[str, Any], phase: str, host: str | None = None) -> bool:
    entries = ledger[FLEET] if host is None else ledger["hosts"].get(host, {})
    return entries.get(phase, {}).get("status") == "done"


def archive_path(path: str, completed: float) -> str:
    """Where a completed ledger is kept: <release>.json becomes <release>.completed-<UTC time>.json."""
    stem = path[:-5] if path.endswith(".json") else path
    return f"{stem}.completed-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(completed))}.json"


def history(path: str, release: str) -> list[dict[str, Any]]:
    """Every ledger of the release beside path: the current one, if any, and the completed ones
    (archive_path), newest first."""
    stem = path[:-5] if path.endswith(".json") else path
    found = [path] if os.path.exists(path) else []
    found += glob.glob(glob.escape(stem) + ".completed-*.json")
    ledgers = [load(each, release) for each in found]
    return sorted(ledgers, key=lambda ledger: ledger.get("updated") or 0, reverse=True)


def summary(ledger: dict[str, Any]) -> list[str]:
    """One line per host (and the fleet): the phases it has done and the ones it started only."""
    lines = []
    rows = [("fleet", ledger[FLEET]), *sorted(ledger["hosts"].items())]
    for name, entries in rows:
        finished = sorted(p for p, e in entries.items() if e.get("status") == "done")
        started = sorted(p for p, e in entries.items() if e.get("status") == "started")
        if finished or started:
            parts = []
            if finished:
                parts.append("done: " + ", ".join(finished))
            if started:
                parts.append("started, not finished: " + ", ".join(started))
            lines.append(f"{name}: " + "; ".join(parts))
    return lines
