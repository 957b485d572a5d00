# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Action plugin of intelgraph.ops.run_lock: says on the controller who the run is (run id,
user@controller, the pid of ansible-playbook and when that process started), takes over a lock
whose run was started on this controller and is gone, and turns a lock held by another run into a
failure that names it."""

from __future__ import annotations

import datetime
import getpass
import os
import socket
import uuid
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.intelgraph.ops.plugins.module_utils._proc import stat_fields
from ansible_collections.intelgraph.ops.plugins.module_utils._run_lock import describe

MODULE = "intelgraph.ops.run_lock"


def operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return str(os.getuid())


def process_start(pid: Any) -> str | None:
    """When the process pid started, as this controller's kernel counts it: the boot's id and the
    start in clock ticks since boot (/proc/<pid>/stat, field 22). With the pid it names one
    process, where the pid alone is given again and again (at pid_max 32768 a busy controller goes
    round in minutes). None where /proc does not say (no such process, or not Linux)."""
    fields = stat_fields(pid)
    if not fields or len(fields) <= 19:
        return None
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return f"{handle.read().strip()}/{fields[19]}"
    except OSError:
        return None


def pid_alive(pid: Any, start: str | None = None) -> bool:
    """Whether pid is the run's ansible-playbook, alive on this controller: not when the system has
    given the pid to another program since. Told by when the process started, where the lock
    recorded it (start, from process_start); else (a lock taken by an earlier release of the
    collection, or on a controller without /proc) by whether the program is ansible."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass  # it exists, another user's
    if start:
        return process_start(pid) == start
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as handle:
            return b"ansible" in handle.read()
    except OSError:
        return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        state = args.get("state", "read")
        controller = socket.gethostname()
        if state == "acquired":
            args.update(
                id=args.get("id") or str(uuid.uuid4()),
                who=f"{operator()}@{controller}",
                controller=controller,
                # The task runs in a worker forked by ansible-playbook: its parent is the run.
                pid=os.getppid(),
                pid_start=process_start(os.getppid()),
                started=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
        if state != "acquired" or result.get("failed"):
            return result
        where = f"{result['lock_file']} on {self._task.delegate_to or (task_vars or {}).get('inventory_hostname')}"
        holder, replaced = result["holder"], result.get("replaced")
        if self._task.check_mode:
            result["msg"] = f"Check mode takes no run lock; {where} is " + (
                f"held by {describe(holder)}." if holder and holder["id"] != args["id"] else "free."
            )
            return result
        if result["acquired"]:
            if replaced:  # an operator's break (take_over comes only from the retry below)
                result["msg"] = (
                    f"This run broke (intelgraph_run_lock_break) the run lock {where} of {describe(replaced)}. "
                    f"It holds the lock now as run {holder['id']}."
                )
            elif result.get("changed"):
                result["msg"] = f"This run holds the run lock {where} as {describe(holder)}."
            else:
                result["msg"] = f"The run lock {where} is held by this run already ({describe(holder)})."
            return result
        if holder.get("controller") == controller and not pid_alive(
            holder.get("pid"), holder.get("pid_start")
        ):
            result.update(
                self._execute_module(
                    MODULE, module_args={**args, "take_over": holder["id"]}, task_vars=task_vars
                )
            )
            if result.get("acquired"):
                result["msg"] = (
                    f"This run took over the run lock {where} of {describe(holder)}: the ansible-playbook of that run is "
                    f"gone from this controller (killed or lost). It holds the lock now as run {args['id']}."
                )
                return result
            holder = result.get("holder") or holder
        result["failed"] = True
        if holder.get("controller") == controller and pid_alive(holder.get("pid"), holder.get("pid_start")):
            advice = "It is running on this controller: wait for it to end (it releases the lock, whether it succeeds or fails)."
        else:
            advice = (
                "If it is still running, wait for it to end (it releases the lock, whether it succeeds or fails). "
                "If it is not (its controller was lost or killed), break its lock by running again with "
                f"-e intelgraph_run_lock_break={holder['id']}"
            )
        result["msg"] = (
            f"Another run holds the run lock {where}: {describe(holder)}. Nothing was changed. {advice}"
        )
        return result
