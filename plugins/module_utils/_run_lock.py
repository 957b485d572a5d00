# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""The run lock: one file, run.lock, in the state store on the state host, naming the run that
may change the fleet. Taking, taking over, breaking and releasing it happen under an exclusive
flock beside it, so two runs that try at the same moment cannot both get it (no check-then-write
race); the file itself is always written whole (a synced temporary file renamed into place)."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from ansible_collections.intelgraph.ops.plugins.module_utils._ledger import locked, write

LOCK_FILE = "run.lock"
HOLDER_KEYS = ("id", "operation", "release", "who", "controller", "pid", "pid_start", "started")


def lock_path(store: str) -> str:
    return os.path.join(store, LOCK_FILE)


def read(store: str) -> dict[str, Any] | None:
    """The holder recorded in the store, or None when the lock is free."""
    path = lock_path(store)
    try:
        with open(path, encoding="utf-8") as handle:
            holder = json.load(handle)
    except FileNotFoundError:
        return None
    if not isinstance(holder, dict) or not holder.get("id"):
        raise ValueError(
            f"{path} is not a run lock (no run id in it); look at it, and remove it by hand if stale"
        )
    return holder


def describe(holder: dict[str, Any]) -> str:
    """The holder in one phrase, e.g. "run 3f2a… (upgrade to 24.1.0) of root@ctl1, pid 812, since …"."""
    release = f" to {holder['release']}" if holder.get("release") else ""
    return (
        f"run {holder['id']} ({holder.get('operation', 'unknown operation')}{release}) of "
        f"{holder.get('who', 'unknown')}, controller pid {holder.get('pid', 'unknown')}, since {holder.get('started', 'unknown')}"
    )


def acquire(
    store: str,
    holder: dict[str, Any],
    take_over: str | None = None,
    break_id: str | None = None,
    check: bool = False,
) -> dict[str, Any]:
    """Take the lock for holder (a dict with HOLDER_KEYS). Under the store's flock:

    - free: holder takes it (changed);
    - held by the same run id: it is this run's already (a playbook of the run, or a job of the
      same AWX workflow), nothing changes, whatever break_id says;
    - held by the run break_id names, or by the run take_over names: holder takes its place, and
      the result keeps the run it replaced as `replaced`;
    - held by another run: not acquired; `holder` names that run.

    A break_id that names no lock, or another run than the one holding it, is refused (ValueError)
    before anything changes. In check mode nothing is written; the result says what would be."""
    # Check mode creates nothing, not even the store or the flock beside the lock.
    with contextlib.nullcontext() if check else locked(lock_path(store)):
        current = read(store)
        if current is not None and current["id"] == holder["id"]:
            # Also when break_id is given: the later jobs of an AWX workflow relaunched to break a
            # lost one's lock carry it too, and find the lock their run's already.
            return {"acquired": True, "changed": False, "holder": current, "replaced": None}
        if break_id and (current is None or current["id"] != break_id):
            held = f"it is held by {describe(current)}" if current else "the lock is free"
            raise ValueError(
                f"intelgraph_run_lock_break={break_id} names no lock held on the fleet: {held}. Nothing was changed. "
                "Give the id of the run that holds the lock, or leave intelgraph_run_lock_break out."
            )
        if current is None:
            replaced = None
        elif current["id"] in (break_id, take_over):
            replaced = current
        else:
            return {"acquired": False, "changed": False, "holder": current, "replaced": None}
        if not check:
            _ensure_private(store)
            write(lock_path(store), holder)
        return {"acquired": True, "changed": True, "holder": holder, "replaced": replaced}


def release(store: str, run_id: str, check: bool = False) -> dict[str, Any]:
    """Remove the lock if run_id holds it. A lock held by another run, or none, is left as it is:
    the result's `holder` says which (None when free)."""
    if not os.path.isdir(store):
        return {"released": False, "changed": False, "holder": None}
    with contextlib.nullcontext() if check else locked(lock_path(store)):
        current = read(store)
        if current is None or current["id"] != run_id:
            return {"released": False, "changed": False, "holder": current}
        if not check:
            os.unlink(lock_path(store))
        return {"released": True, "changed": True, "holder": None}


def _ensure_private(store: str) -> None:
    """The store is root's alone: directory 0700 (files are written 0600)."""
    os.chmod(store, 0o700)
