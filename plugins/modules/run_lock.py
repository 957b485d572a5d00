#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Take, release or read the run lock in the state store on the state host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: One run at a time on a fleet, from any controller
description:
  - The lock is the file C(run.lock) in the state store, a directory on the state host (run this
    module with C(delegate_to) that host). It names the run that may change the fleet (its id, the
    operation, the release, who started it (C(user@controller)), the controller's ansible-playbook
    pid and when that process started, and when the run started).
  - O(state=acquired) takes it, under an exclusive lock beside it, so that of two runs that try at
    the same moment exactly one gets it. A lock the same run id holds already is this run's (a
    playbook imported by another, or the next job of the same AWX workflow). A lock held by another
    run is not taken, and RV(acquired) is false, RV(holder) naming that run; the action plugin then
    takes over a lock whose run was started on this same controller and whose ansible-playbook is
    gone (no process has its pid, or one that started at another time), and fails otherwise, naming
    the holder and how to proceed.
  - O(break_id) replaces the lock of the run it names (a run whose controller was lost). One that
    names no lock, or another run than the holder, fails with nothing changed.
  - O(state=released) removes the lock if O(id) holds it, and leaves any other alone.
  - O(state=read) returns the holder, or none.
  - The store is created mode 0700 and the lock written 0600, whole (a synced temporary file renamed
    into place).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; the result says whether the lock would be taken.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: Taking a lock the run holds already, or releasing one it does not hold, changes nothing.
options:
  path:
    description: The state store, e.g. C(/var/lib/intelgraph-ops). Created (mode 0700) when the lock is taken.
    type: path
    required: true
  state:
    description: What to do.
    type: str
    choices: [acquired, released, read]
    default: read
  id:
    description:
      - The run's id (O(state=acquired), O(state=released)). Not given with O(state=acquired), the action
        plugin makes a new one (a UUID).
    type: str
  operation:
    description: What the run does, e.g. C(upgrade) or C(rollback) (O(state=acquired)).
    type: str
  release:
    description: The release the run moves the fleet to (O(state=acquired)).
    type: str
  who:
    description: C(user@controller) of the run; set by the action plugin.
    type: str
  controller:
    description: The controller's host name; set by the action plugin.
    type: str
  pid:
    description: The pid of the run's ansible-playbook on the controller; set by the action plugin.
    type: int
  pid_start:
    description:
      - When that process started, as the controller's kernel counts it (its boot id and clock ticks
        since boot); set by the action plugin, empty where the controller does not say (not Linux).
      - A pid the controller has given to another program since does not hold the lock alive.
    type: str
  started:
    description: When the run took the lock (UTC, ISO 8601); set by the action plugin.
    type: str
  take_over:
    description: The id of a run whose lock this run may replace; set by the action plugin.
    type: str
  break_id:
    description: The id of the run whose lock this run replaces, given by the operator (C(intelgraph_run_lock_break)).
    type: str
"""

EXAMPLES = r"""
- name: Take the run lock
  intelgraph.ops.run_lock:
    path: /var/lib/intelgraph-ops
    state: acquired
    operation: upgrade
    release: 24.1.0
  delegate_to: "{{ groups['tools'] | first }}"
  run_once: true
  register: lock

- name: Release it
  intelgraph.ops.run_lock:
    path: /var/lib/intelgraph-ops
    state: released
    id: "{{ lock.holder.id }}"
  delegate_to: "{{ groups['tools'] | first }}"
  run_once: true
"""

RETURN = r"""
acquired:
  description: Whether the run holds the lock now (O(state=acquired)).
  returned: always
  type: bool
released:
  description: Whether the lock was released (O(state=released)).
  returned: always
  type: bool
holder:
  description: The run that holds the lock after the call, or null when it is free.
  returned: always
  type: dict
  sample: {id: 0b9e4c1e-4f0e-4d0a-9a43-2d8f0c7f6b11, operation: upgrade, release: 24.1.0, who: sre@ctl1,
           controller: ctl1, pid: 4242, pid_start: 0d5e6c1b-3f4a-4b7e-9c2d-8a1f6e5b4c3d/1843211,
           started: "2026-12-04T21:00:03Z"}
held_by:
  description: RV(holder) in words (run id, operation and release, user@controller, pid, since when), or empty.
  returned: always
  type: str
  sample: run 0b9e4c1e-4f0e-4d0a-9a43-2d8f0c7f6b11 (upgrade to 24.1.0) of sre@ctl1, controller pid 4242, since 2026-12-04T21:00:03Z
replaced:
  description: The run whose lock was taken over or broken (O(state=acquired)), else null.
  returned: always
  type: dict
lock_file:
  description: The lock file on the state host.
  returned: always
  type: str
  sample: /var/lib/intelgraph-ops/run.lock
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._run_lock import (
    HOLDER_KEYS,
    acquire,
    describe,
    lock_path,
    read,
    release,
)

VERBS = {"acquired": "take", "released": "release", "read": "read"}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["acquired", "released", "read"], "default": "read"},
            "id": {"type": "str"},
            "operation": {"type": "str"},
            "release": {"type": "str"},
            "who": {"type": "str"},
            "controller": {"type": "str"},
            "pid": {"type": "int"},
            "pid_start": {"type": "str"},
            "started": {"type": "str"},
            "take_over": {"type": "str"},
            "break_id": {"type": "str"},
        },
        required_if=[("state", "acquired", ["id", "operation"]), ("state", "released", ["id"])],
        supports_check_mode=True,
    )
    params = module.params
    store, state = params["path"], params["state"]
    result = {
        "acquired": False,
        "released": False,
        "holder": None,
        "held_by": "",
        "replaced": None,
        "lock_file": lock_path(store),
    }
    try:
        if state == "read":
            result.update(holder=read(store), changed=False)
        elif state == "released":
            result.update(release(store, params["id"], check=module.check_mode))
        else:
            holder = {key: params[key] for key in HOLDER_KEYS}
            result.update(
                acquire(
                    store,
                    holder,
                    take_over=params["take_over"],
                    break_id=params["break_id"],
                    check=module.check_mode,
                )
            )
        result["held_by"] = describe(result["holder"]) if result["holder"] else ""
        module.exit_json(**result)
    except ValueError as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        module.fail_json(
            msg=f"Cannot {VERBS[state]} the run lock {lock_path(store)}: {exc}. Check the state store "
            "(intelgraph_state_dir on intelgraph_state_host).",
            **result,
        )


if __name__ == "__main__":
    main()
