#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Read the state of HAProxy's servers through its runtime API."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_info
short_description: Read the state of HAProxy's backend servers from the runtime API
description:
  - Asks HAProxy's runtime API (C(show stat)) for the servers of one backend, or of all, and returns
    each server's status (C(UP), C(DRAIN), C(MAINT), C(DOWN), ...), whether it takes new requests,
    its weight and its current sessions. Changes nothing.
  - Run it on the load balancer (C(delegate_to)), where the socket is.
  - With O(min_in_service), fails unless at least that many servers of O(backend) are in service,
    not counting the servers of O(exclude) (for example the hosts about to be drained).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
options:
  socket:
    description: Path of the runtime API socket (C(stats socket ... level admin) or C(level operator)).
    type: path
    default: /run/haproxy/admin.sock
  backend:
    description: Only this backend's servers. Required with O(min_in_service).
    type: str
  min_in_service:
    description:
      - Fail unless at least this many servers of O(backend), other than those of O(exclude), are in
        service (status C(UP), C(UP n/m) or C(no check)).
    type: int
  exclude:
    description: Servers not counted by O(min_in_service).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for the runtime API's answer.
    type: float
    default: 5.0
"""

EXAMPLES = r"""
- name: Read the API backend on every load balancer
  intelgraph.ops.haproxy_info:
    backend: be_api
  delegate_to: "{{ item }}"
  loop: "{{ groups['lb'] }}"
  register: lb_state

- name: Check that two API servers stay in service while this batch is drained
  intelgraph.ops.haproxy_info:
    backend: be_api
    min_in_service: 2
    exclude: "{{ ansible_play_batch }}"
  delegate_to: lb1
"""

RETURN = r"""
backends:
  description: Per backend, per server, its state.
  returned: always
  type: dict
  sample:
    be_api:
      api1: {"status": "UP", "in_service": true, "weight": 1, "sessions": 0,
             "check_status": "L7OK", "address": "10.0.0.21:8080"}
      api2: {"status": "MAINT", "in_service": false, "weight": 1, "sessions": 0,
             "check_status": "", "address": "10.0.0.22:8080"}
servers:
  description: The servers of O(backend) (empty without O(backend)), as in RV(backends).
  returned: always
  type: dict
in_service:
  description: Names of the servers of O(backend) in service, leaving out O(exclude).
  returned: always
  type: list
  elements: str
  sample: [api1, api3]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._haproxy import (
    HAProxyError,
    in_service_except,
    parse_stat,
    runtime_command,
    servers,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "default": "/run/haproxy/admin.sock"},
            "backend": {"type": "str"},
            "min_in_service": {"type": "int"},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "float", "default": 5.0},
        },
        required_by={"min_in_service": "backend"},
        supports_check_mode=True,
    )
    params = module.params
    try:
        rows = parse_stat(runtime_command(params["socket"], "show stat", params["timeout"]))
    except (HAProxyError, ValueError) as exc:
        module.fail_json(
            msg=f"Cannot read HAProxy's server states: {exc}. Is HAProxy running with that stats socket?"
        )
    backends = servers(rows, params["backend"])
    backend = params["backend"]
    result = {
        "changed": False,
        "backends": backends,
        "servers": backends.get(backend, {}) if backend else {},
        "in_service": in_service_except(backends.get(backend, {}), params["exclude"]) if backend else [],
    }
    if backend and backend not in backends:
        module.fail_json(
            msg=(
                f"HAProxy has no backend '{backend}' with servers "
                f"(backends: {', '.join(sorted(backends)) or 'none'}). Check the backend name."
            ),
            **result,
        )
    minimum = params["min_in_service"]
    if minimum is not None and len(result["in_service"]) < minimum:
        states = ", ".join(f"{name} {s['status']}" for name, s in sorted(result["servers"].items()))
        module.fail_json(
            msg=(
                f"Only {len(result['in_service'])} server(s) of {backend} in service besides "
                f"{', '.join(params['exclude']) or 'none'} ({', '.join(result['in_service']) or 'none'}), "
                f"at least {minimum} required: {states}. Bring the others back into service first, "
                "or lower the batch size."
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
