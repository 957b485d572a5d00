#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Read and write the run ledger of an upgrade: the phases each host and the fleet have finished."""

from __future__ import annotations

DOCUMENTATION = r"""
module: run_ledger
short_description: Keep the phases an upgrade has finished, per host, so an interrupted run can resume
description:
  - The ledger is one JSON file per release in the state store on the state host (run this module
    with C(delegate_to) that host). For each host, and for the fleet as a whole, it holds every phase
    the upgrade started or finished, with the times.
  - O(state=read) returns the ledger (an empty one when there is no file) and whether a run of the
    release was interrupted (a ledger exists and is not completed).
  - O(state=record) records O(phase) as O(status) for O(hosts), or for the fleet when O(hosts) is
    not given, after the O(records) given with it, in the same write. A phase recorded C(done) stays
    done, so a record written again changes nothing. The file is rewritten whole, under a lock, to a
    temporary file that is synced and renamed over the ledger, so a run killed at any moment leaves
    the previous ledger or the new one, never a part of one.
  - O(state=completed) marks the ledger completed and moves it aside to
    C(<release>.completed-<UTC time>.json), so the next upgrade to the release starts a new ledger.
    With O(phase) and O(hosts), only once every one of those hosts has that phase done; otherwise
    the ledger stays, and RV(incomplete) names the hosts still to do.
  - O(state=history) returns every ledger of the release, the current one and the completed ones,
    newest first (RV(ledgers)); C(playbooks/plan.yml) reads how long hosts took to move from them.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; the result says what would change.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: Recording a phase with the status it has changes nothing.
options:
  path:
    description: The ledger file, e.g. C(/var/lib/intelgraph-ops/ledger/24.1.0.json). Its directory is created (mode 0700).
    type: path
    required: true
  release:
    description: The release the upgrade moves to; a ledger of another release is refused.
    type: str
    required: true
  state:
    description: What to do.
    type: str
    choices: [read, record, completed, history]
    default: read
  phase:
    description: The phase to record (O(state=record)), e.g. C(rollout).
    type: str
  status:
    description: C(started) when the phase begins on the hosts, C(done) when it has finished there.
    type: str
    choices: [started, done]
    default: done
  hosts:
    description:
      - The hosts the phase is recorded for (O(state=record)). Not given, it is recorded for the fleet.
      - With O(state=completed), the hosts that must have O(phase) done before the ledger is completed.
    type: list
    elements: str
  data:
    description: Facts to keep with the phase (e.g. the restore point's id).
    type: dict
  host_data:
    description:
      - Facts to keep with the phase of each host, by host name, over O(data) (O(state=record) with O(hosts)), so
        that the hosts of a play are recorded in one write, each with its own facts.
    type: dict
  records:
    description:
      - More records to write in the same write, before O(phase) (O(state=record), where O(phase) may then be left
        out), each with its own time. E.g. the API rollout writes a batch's rollout done with the next batch's
        rollout started, one write a batch instead of two.
    type: list
    elements: dict
    suboptions:
      phase:
        description: The phase to record.
        type: str
        required: true
      status:
        description: C(started) or C(done).
        type: str
        choices: [started, done]
        default: done
      hosts:
        description: The hosts the phase is recorded for; not given, the fleet.
        type: list
        elements: str
      data:
        description: Facts to keep with the phase.
        type: dict
      host_data:
        description: Each host's own facts, by host name, over O(records[].data).
        type: dict
      time:
        description: When it happened, in seconds since the epoch (the time it is written when not given).
        type: float
"""

EXAMPLES = r"""
- name: Record that the host is moved
  intelgraph.ops.run_ledger:
    path: "{{ intelgraph_state_dir }}/ledger/24.1.0.json"
    release: 24.1.0
    state: record
    phase: rollout
    status: done
    hosts: ["{{ inventory_hostname }}"]
  delegate_to: "{{ intelgraph_state_host }}"

- name: Record that api2 is moving, and that api1 finished a few seconds ago, in one write
  intelgraph.ops.run_ledger:
    path: "{{ intelgraph_state_dir }}/ledger/24.1.0.json"
    release: 24.1.0
    state: record
    phase: rollout
    status: started
    hosts: [api2]
    records:
      - phase: rollout
        status: done
        hosts: [api1]
        host_data: {api1: {moved: true}}
        time: 1795000042.5
  delegate_to: "{{ intelgraph_state_host }}"

- name: Read the ledger
  intelgraph.ops.run_ledger:
    path: "{{ intelgraph_state_dir }}/ledger/24.1.0.json"
    release: 24.1.0
  delegate_to: "{{ intelgraph_state_host }}"
  register: ledger
"""

RETURN = r"""
ledger:
  description: The ledger after the call (release, created, updated, completed, hosts, fleet).
  returned: always
  type: dict
  sample:
    release: 24.1.0
    hosts: {api1: {rollout: {status: done, started: 1795000000.0, finished: 1795000042.5}}}
    fleet: {migrate: {status: done, started: 1795000000.0, finished: 1795000020.1}}
resumed:
  description: Whether the ledger holds an unfinished run of the release (O(state=read)).
  returned: always
  type: bool
summary:
  description: One line per host (and the fleet) with the phases it has done and those only started.
  returned: always
  type: list
  elements: str
incomplete:
  description: The hosts of O(hosts) without O(phase) done (O(state=completed)); the ledger is completed only when none is left.
  returned: always
  type: list
  elements: str
ledgers:
  description: Every ledger of the release, newest first (O(state=history)).
  returned: always
  type: list
  elements: dict
path:
  description: Where the ledger is (after O(state=completed), where it was moved to).
  returned: always
  type: str
"""

import contextlib
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._ledger import (
    archive_path,
    done,
    history,
    load,
    locked,
    record,
    summary,
    write,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "release": {"type": "str", "required": True},
            "state": {
                "type": "str",
                "choices": ["read", "record", "completed", "history"],
                "default": "read",
            },
            "phase": {"type": "str"},
            "status": {"type": "str", "choices": ["started", "done"], "default": "done"},
            "hosts": {"type": "list", "elements": "str"},
            "data": {"type": "dict"},
            "host_data": {"type": "dict"},
            "records": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "phase": {"type": "str", "required": True},
                    "status": {"type": "str", "choices": ["started", "done"], "default": "done"},
                    "hosts": {"type": "list", "elements": "str"},
                    "data": {"type": "dict"},
                    "host_data": {"type": "dict"},
                    "time": {"type": "float"},
                },
            },
        },
        required_if=[("state", "record", ["phase", "records"], True)],
        supports_check_mode=True,
    )
    params = module.params
    path, release, state = params["path"], params["release"], params["state"]
    try:
        if state == "history":
            ledgers = history(path, release)
            module.exit_json(
                changed=False, ledgers=ledgers, resumed=False, summary=[], path=path, incomplete=[]
            )
        if state == "read":
            ledger = load(path, release)
            resumed = os.path.exists(path) and not ledger["completed"]
            module.exit_json(
                changed=False,
                ledger=ledger,
                resumed=resumed,
                summary=summary(ledger),
                path=path,
                incomplete=[],
                ledgers=[],
            )
        result = {"resumed": False, "path": path, "incomplete": [], "ledgers": []}
        if state == "record":
            # Check mode creates nothing, not even the directory or the lock.
            with contextlib.nullcontext() if module.check_mode else locked(path):
                ledger = load(path, release)
                now = time.time()
                changed = False
                for entry in params["records"] or []:
                    changed |= record(
                        ledger,
                        entry["phase"],
                        entry["status"],
                        entry["hosts"],
                        entry["data"],
                        entry["time"] or now,
                        entry["host_data"],
                    )
                if params["phase"]:
                    changed |= record(
                        ledger,
                        params["phase"],
                        params["status"],
                        params["hosts"],
                        params["data"],
                        now,
                        params["host_data"],
                    )
                if changed and not module.check_mode:
                    write(path, ledger)
            module.exit_json(changed=changed, ledger=ledger, summary=summary(ledger), **result)
        with contextlib.nullcontext() if module.check_mode else locked(path):
            ledger = load(path, release)
            result["ledger"] = ledger
            now = time.time()
            if params["phase"] and os.path.exists(path):
                result["incomplete"] = [
                    h for h in params["hosts"] or [] if not done(ledger, params["phase"], h)
                ]
            if not os.path.exists(path) or result["incomplete"]:
                module.exit_json(changed=False, summary=summary(ledger), **result)
            ledger["completed"] = now
            result["path"] = archive_path(path, now)
            if not module.check_mode:
                write(path, ledger)
                os.replace(path, result["path"])
            module.exit_json(changed=True, summary=summary(ledger), **result)
    except (OSError, ValueError) as exc:
        module.fail_json(
            msg=f"Cannot {state} the run ledger {path}: {exc}. Check the state store (intelgraph_state_dir on "
            "intelgraph_state_host) and the file."
        )


if __name__ == "__main__":
    main()
