#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Judge whether a Redis cache node is healthy enough to upgrade around."""

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_health
short_description: Check that a Redis node is healthy before a maintenance window
description:
  - Connects to one Redis node and checks, without changing anything, that it answers PING,
    has the expected role, that replication is working (on a replica the link to the primary is
    up and its offset lag is within a limit; on a primary enough replicas are online and none lags),
    that the last BGSAVE succeeded, and that used memory is within a share of C(maxmemory).
  - On a replica the primary's offset is read from the primary named in C(INFO replication), with
    the same credentials.
  - Fails naming the node and every check that failed (a node that does not answer fails the
    C(ping) check); returns what it measured either way. With O(fail_on_unhealthy=false) it never
    fails on the node's health, so a play can gather every node's result before judging.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
  - intelgraph.ops.redis
options:
  expected_role:
    description: The role the node must have.
    type: str
    choices: [any, primary, replica]
    default: any
  max_lag_bytes:
    description:
      - Largest replication offset lag, in bytes, a replica may have. On a replica it is measured
        against the primary's own offset; on a primary, for every online replica it lists.
    type: int
    default: 1048576
  min_replicas:
    description: On a primary, how many replicas must be online.
    type: int
    default: 0
  max_memory_ratio:
    description: Largest share of C(maxmemory) in use, above 0 and at most 1 (ignored when C(maxmemory) is 0).
    type: float
    default: 0.9
  fail_on_unhealthy:
    description: Fail when a check fails. With V(false) the result carries C(healthy=false) instead.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the Redis replica
  intelgraph.ops.redis_health:
    login_password: "{{ intelgraph_redis_password }}"
    expected_role: replica
    max_lag_bytes: 65536

- name: Check the primary has its replica
  intelgraph.ops.redis_health:
    login_host: 10.0.0.41
    login_password: "{{ intelgraph_redis_password }}"
    expected_role: primary
    min_replicas: 1

- name: Check a node over TLS with an ACL user, gathering the result instead of failing
  intelgraph.ops.redis_health:
    login_host: redis-1.prod.example.net
    login_user: ops
    login_password: "{{ redis_ops_password }}"
    tls: true
    ca_certs: /etc/ssl/certs/internal-ca.pem
    fail_on_unhealthy: false
  register: redis_node
"""

RETURN = r"""
node:
  description: The node checked, C(host:port).
  returned: always
  type: str
  sample: 127.0.0.1:6379
healthy:
  description: Whether every check passed.
  returned: always
  type: bool
role:
  description: C(primary) or C(replica).
  returned: when the node answered
  type: str
measured:
  description:
    - What was measured (role, version, link status, offsets and lag in bytes, replicas,
      bgsave status, AOF, memory).
  returned: when the node answered
  type: dict
  sample: {"role": "replica", "master_link_status": "up", "lag_bytes": 0, "used_memory": 1048576}
checks:
  description: Every check with its outcome and what was seen.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "replication link", "ok": true, "detail": "master_link_status is up"}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    HAS_REDIS,
    Check,
    Thresholds,
    checks_as_dicts,
    connect,
    evaluate,
    failure_summary,
    node_name,
    redis_argument_spec,
    redis_error_types,
    threshold_errors,
)

if HAS_REDIS:
    from redis.exceptions import AuthenticationError, ResponseError
else:  # pragma: no cover - connect() reports the missing library
    AuthenticationError = ResponseError = OSError


def ping_failure(exc: BaseException) -> str:
    """What a failed PING says about the node, and what to look at."""
    if isinstance(exc, AuthenticationError) or "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
        return f"authentication refused ({exc}): check login_user and login_password"
    if isinstance(exc, ResponseError):
        return f"the node answered with an error ({exc})"
    return f"no answer ({exc}): is redis-server running and listening there?"


def main() -> None:
    argument_spec = redis_argument_spec()
    argument_spec.update(
        expected_role={"type": "str", "choices": ["any", "primary", "replica"], "default": "any"},
        max_lag_bytes={"type": "int", "default": 1048576},
        min_replicas={"type": "int", "default": 0},
        max_memory_ratio={"type": "float", "default": 0.9},
        fail_on_unhealthy={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    node = node_name(module.params)
    thresholds = Thresholds(
        max_lag_bytes=module.params["max_lag_bytes"],
        max_memory_ratio=module.params["max_memory_ratio"],
        min_replicas=module.params["min_replicas"],
        expected_role=module.params["expected_role"],
    )
    errors = threshold_errors(thresholds)
    if errors:
        module.fail_json(msg="Bad thresholds: " + "; ".join(errors) + ".")

    client = connect(module)
    try:
        client.ping()
        info = client.info("all")
    except redis_error_types() as exc:
        checks = [Check("ping", False, ping_failure(exc))]
        result = {"changed": False, "node": node, "healthy": False, "checks": checks_as_dicts(checks)}
        if module.params["fail_on_unhealthy"]:
            module.fail_json(msg=failure_summary(node, checks), **result)
        module.exit_json(**result)

    primary_offset = None
    primary_error = None
    if info.get("role") == "slave":
        try:
            primary = connect(module, host=str(info["master_host"]), port=int(info["master_port"]))
            primary_offset = int(primary.info("replication")["master_repl_offset"])
        except (*redis_error_types(), KeyError, ValueError) as exc:
            primary_error = str(exc) or type(exc).__name__

    checks, measured = evaluate(info, thresholds, primary_offset, primary_error)
    checks.insert(0, Check("ping", True, "PONG"))
    failed = [c for c in checks if not c.ok]
    result = {
        "changed": False,
        "node": node,
        "healthy": not failed,
        "role": measured["role"],
        "measured": measured,
        "checks": checks_as_dicts(checks),
    }
    if failed and module.params["fail_on_unhealthy"]:
        module.fail_json(msg=failure_summary(node, checks), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
