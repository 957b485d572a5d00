#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Read the IntelGraph feature toggles kept in Redis, or put them back as they were."""

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_toggles
short_description: Read or restore the feature toggles kept in Redis under one key prefix
description:
  - With O(state=read), returns every toggle under O(prefix) (key name without the prefix, and its
    value). Keys under the prefix that are not strings are listed apart in RV(other_keys).
  - With O(state=restored), makes the toggles exactly O(toggles). It sets those missing or different,
    and deletes those under the prefix that O(toggles) does not hold. That is how a restore point's
    toggles are put back on rollback.
  - Connect to the primary; a replica refuses writes.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.redis
options:
  prefix:
    description: Key prefix of the toggles.
    type: str
    default: "intelgraph:features:"
  state:
    description: V(read) only reads; V(restored) makes the toggles equal O(toggles).
    type: str
    choices: [read, restored]
    default: read
  toggles:
    description:
      - With O(state=restored), the toggles to have (name without prefix, value).
      - An empty dict deletes every toggle.
    type: dict
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; the result says what would change.
  diff_mode:
    support: full
    description: Shows the toggles before and after.
  idempotent:
    support: full
    description: A second restore of the same toggles changes nothing.
"""

EXAMPLES = r"""
- name: Read the feature toggles
  intelgraph.ops.redis_toggles:
    login_password: "{{ intelgraph_redis_password }}"
  register: toggles

- name: Put the toggles of the restore point back
  intelgraph.ops.redis_toggles:
    login_password: "{{ intelgraph_redis_password }}"
    state: restored
    toggles: "{{ (lookup('ansible.builtin.file', manifest) | from_json).feature_toggles.toggles }}"
"""

RETURN = r"""
prefix:
  description: The key prefix.
  returned: always
  type: str
toggles:
  description: The toggles after the module ran (in check mode, as they would be).
  returned: always
  type: dict
  sample: {"residency_guard": "on", "rps_limiter": "off"}
before:
  description: The toggles before the module ran.
  returned: always
  type: dict
set:
  description: Toggles set (or that would be), with their new value.
  returned: always
  type: dict
deleted:
  description: Toggles deleted (or that would be).
  returned: always
  type: list
  elements: str
other_keys:
  description: Keys under the prefix that are not strings, with their type; left alone.
  returned: always
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    connect,
    glob_escape,
    node_name,
    redis_argument_spec,
    redis_error_types,
    toggle_name_errors,
    toggle_plan,
)


def as_text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def read_toggles(client: Any, prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """The string toggles under the prefix, and the other keys there with their type."""
    keys = sorted({as_text(k) for k in client.scan_iter(match=glob_escape(prefix) + "*", count=200)})
    values = client.mget(keys) if keys else []
    toggles: dict[str, str] = {}
    others: dict[str, str] = {}
    for key, value in zip(keys, values, strict=True):
        name = key[len(prefix) :]
        if value is None:
            kind = as_text(client.type(key))
            if kind != "none":  # gone since the scan
                others[name] = kind
        else:
            toggles[name] = as_text(value)
    return toggles, others


def main() -> None:
    argument_spec = redis_argument_spec()
    argument_spec.update(
        prefix={"type": "str", "default": "intelgraph:features:"},
        state={"type": "str", "choices": ["read", "restored"], "default": "read"},
        toggles={"type": "dict"},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("state", "restored", ["toggles"])],
    )
    prefix = module.params["prefix"]
    wanted = {str(k): str(v) for k, v in (module.params["toggles"] or {}).items()}
    errors = toggle_name_errors(prefix, list(wanted))
    if errors:
        module.fail_json(msg="Bad toggles: " + "; ".join(errors) + ".")
    node = node_name(module.params)

    client = connect(module)
    try:
        before, others = read_toggles(client, prefix)
        result: dict[str, Any] = {
            "changed": False,
            "prefix": prefix,
            "before": before,
            "toggles": before,
            "set": {},
            "deleted": [],
            "other_keys": others,
        }
        if module.params["state"] == "read":
            module.exit_json(**result)

        plan = toggle_plan(before, wanted)
        after = dict(before)
        after.update(plan["set"])
        for name in plan["delete"]:
            after.pop(name)
        changed = bool(plan["set"] or plan["delete"])
        if changed and not module.check_mode:
            pipe = client.pipeline(transaction=True)
            for name, value in plan["set"].items():
                pipe.set(prefix + name, value)
            if plan["delete"]:
                pipe.delete(*(prefix + name for name in plan["delete"]))
            pipe.execute()
            after, others = read_toggles(client, prefix)
    except redis_error_types() as exc:
        hint = " (a replica refuses writes: connect to the primary)" if "READONLY" in str(exc) else ""
        module.fail_json(msg=f"Redis node {node}: feature toggles under {prefix!r}: {exc}{hint}")

    result.update(changed=changed, toggles=after, set=plan["set"], deleted=plan["delete"], other_keys=others)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
