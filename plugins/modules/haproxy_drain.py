#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Take a server out of an HAProxy backend without cutting a request, one step per run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_drain
short_description: Take a server out of an HAProxy backend without cutting a request
description:
  - Through HAProxy's runtime API, moves one server of one backend towards maintenance (C(MAINT)), one step
    per run, and says whether it is there yet; run it with C(until) (one run a second, say) to wait for it,
    each retry printed with the tries left.
  - A server that takes new requests (C(UP), C(UP n/m), C(no check)) is first set to drain (C(DRAIN)); it
    takes no new request and the sessions it holds finish. A draining server whose sessions have reached 0,
    or a server HAProxy has down already (it sends nothing to it; a server failing its checks never reaches
    C(DRAIN)), is put in maintenance. A draining server that still holds sessions is left as it is, and
    RV(maintenance) is false.
  - With O(min_in_service), fails before it drains the server, changing nothing, unless at least that many
    other servers of O(backend), not counting those of O(exclude), are in service.
  - Run it on the load balancer (C(delegate_to)), where the socket is. The runtime API socket must be
    C(level admin).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
options:
  socket:
    description: Path of the runtime API socket (C(stats socket ... level admin)).
    type: path
    default: /run/haproxy/admin.sock
  backend:
    description: The backend.
    type: str
    required: true
  server:
    description: The server of O(backend) to take out.
    type: str
    required: true
  min_in_service:
    description:
      - Before draining the server, fail unless at least this many other servers of O(backend), not counting
        those of O(exclude), are in service (status C(UP), C(UP n/m) or C(no check)).
    type: int
  exclude:
    description: Servers not counted by O(min_in_service) (for example the others of the batch being moved).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for each answer of the runtime API.
    type: float
    default: 5.0
attributes:
  check_mode:
    support: full
    description: In check mode nothing is set; the result says what would be, and RV(maintenance) is true.
  diff_mode:
    support: none
    description: No diff; RV(status_before) and RV(status) say what changed.
  idempotent:
    support: full
    description: A server already in maintenance is left as it is.
"""

EXAMPLES = r"""
- name: Take api1 out of every load balancer, one check a second, 60 s at most
  intelgraph.ops.haproxy_drain:
    backend: be_api
    server: api1
    min_in_service: 2
    exclude: "{{ ansible_play_batch }}"
  delegate_to: "{{ item }}"
  loop: "{{ groups['lb'] }}"
  register: out
  until: out.maintenance
  retries: 60
  delay: 1
"""

RETURN = r"""
maintenance:
  description: Whether the server is in maintenance now (in check mode, whether it would be).
  returned: always
  type: bool
status_before:
  description: The server's status when the run began, as C(show stat) gives it.
  returned: always
  type: str
  sample: UP
status:
  description: The server's status when the run ended.
  returned: always
  type: str
  sample: DRAIN
sessions:
  description: The sessions the server held when the run ended.
  returned: always
  type: int
in_service:
  description: The other servers of O(backend) in service, leaving out O(exclude), as the run found them.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._haproxy import (
    DONE,
    DRAIN,
    WAIT,
    HAProxyError,
    drain_step,
    in_service_except,
    parse_stat,
    runtime_command,
    servers,
    set_state,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "default": "/run/haproxy/admin.sock"},
            "backend": {"type": "str", "required": True},
            "server": {"type": "str", "required": True},
            "min_in_service": {"type": "int"},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "float", "default": 5.0},
        },
        supports_check_mode=True,
    )
    params = module.params
    path, backend, name = params["socket"], params["backend"], params["server"]

    def read() -> dict:
        try:
            rows = parse_stat(runtime_command(path, "show stat", params["timeout"]))
        except (HAProxyError, ValueError) as exc:
            module.fail_json(
                msg=f"Cannot read HAProxy's server states: {exc}. Is HAProxy running with that stats socket?"
            )
        found = servers(rows, backend).get(backend, {})
        if name not in found:
            module.fail_json(
                msg=(
                    f"HAProxy's backend {backend} has no server {name} "
                    f"(servers: {', '.join(sorted(found)) or 'none'}). Check the backend and server names."
                )
            )
        return found

    found = read()
    before = found[name]
    others = [s for s in in_service_except(found, params["exclude"]) if s != name]
    result = {"changed": False, "status_before": before["status"], "in_service": others}
    step = drain_step(before["status"], before["sessions"])
    minimum = params["min_in_service"]
    if step == DRAIN and minimum is not None and len(others) < minimum:
        states = ", ".join(f"{server} {s['status']}" for server, s in sorted(found.items()))
        module.fail_json(
            msg=(
                f"Only {len(others)} server(s) of {backend} in service besides "
                f"{', '.join(sorted({name, *params['exclude']}))} ({', '.join(others) or 'none'}), "
                f"at least {minimum} required: {states}. {name} was left in service. Bring the others back "
                "into service first, or lower the batch size."
            ),
            status=before["status"],
            sessions=before["sessions"],
            maintenance=False,
            **result,
        )
    current = before
    try:
        if step != DONE and module.check_mode:
            result["changed"] = True
        elif step == DRAIN:
            set_state(path, backend, name, "drain", params["timeout"])
            result["changed"] = True
            current = read()[name]
            step = drain_step(current["status"], current["sessions"])
        if step not in (DONE, WAIT) and not module.check_mode:
            set_state(path, backend, name, "maint", params["timeout"])
            result["changed"] = True
            current = read()[name]
    except HAProxyError as exc:
        module.fail_json(msg=f"Cannot take {name} out of {backend}: {exc}", maintenance=False, **result)
    module.exit_json(
        status=current["status"],
        sessions=current["sessions"],
        maintenance=module.check_mode or current["status"].startswith("MAINT"),
        **result,
    )


if __name__ == "__main__":
    main()
