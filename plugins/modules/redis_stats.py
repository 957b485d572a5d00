#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Sample the Redis counters the release's operational checks are computed from."""

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_stats
short_description: Sample Redis cache and stream counters
description:
  - Reads C(keyspace_hits) and C(keyspace_misses) of each cache node, and the C(entries-added)
    counters and lengths of the ingest stream and its dead-letter stream on the primary.
  - Two samples, taken at the start and the end of an observation window, give the cache hit ratio
    and the dead-letter growth over that window (filters M(intelgraph.ops.hit_ratio) and
    M(intelgraph.ops.dlq_growth)), rather than the counters since the nodes started.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
  - intelgraph.ops.redis
options:
  nodes:
    description:
      - Cache nodes to sample, as C(host) or C(host:port), with the credentials of the connection
        options. Defaults to the node of O(login_host) and O(login_port).
    type: list
    elements: str
  ingest_stream:
    description: The ingest stream, read on O(login_host).
    type: str
    default: "intelgraph:ingest"
  dlq_stream:
    description: The dead-letter stream, read on O(login_host).
    type: str
    default: "intelgraph:ingest:dlq"
"""

EXAMPLES = r"""
- name: Sample the counters at the start of the window
  intelgraph.ops.redis_stats:
    login_password: "{{ intelgraph_redis_password }}"
    nodes: [10.0.0.41, 10.0.0.42]
  register: before
"""

RETURN = r"""
nodes:
  description: One sample per node.
  returned: always
  type: list
  elements: dict
  sample: [{"node": "10.0.0.41:6379", "keyspace_hits": 1200, "keyspace_misses": 80, "time": 1764266400.1}]
streams:
  description: The streams' counters on the primary (C(ingest_entries_added), C(dlq_entries_added), C(ingest_length), C(dlq_length)).
  returned: always
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    connect,
    node_name,
    redis_argument_spec,
    redis_error_types,
)


def stream_counters(client, name: str) -> tuple[int, int]:
    """(entries added ever, current length) of a stream; a missing stream is (0, 0)."""
    if not client.exists(name):
        return 0, 0
    info = client.xinfo_stream(name)
    return int(info.get("entries-added", info.get("length", 0))), int(info.get("length", 0))


def main() -> None:
    argument_spec = redis_argument_spec()
    argument_spec.update(
        nodes={"type": "list", "elements": "str"},
        ingest_stream={"type": "str", "default": "intelgraph:ingest"},
        dlq_stream={"type": "str", "default": "intelgraph:ingest:dlq"},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    nodes = params["nodes"] or [node_name(params)]
    samples = []
    for node in nodes:
        host, _sep, port = node.partition(":")
        port_number = int(port or params["login_port"])
        try:
            stats = connect(module, host=host, port=port_number).info("stats")
        except redis_error_types() as exc:
            module.fail_json(msg=f"Redis node {host}:{port_number} could not be sampled: {exc}")
        samples.append(
            {
                "node": f"{host}:{port_number}",
                "keyspace_hits": int(stats["keyspace_hits"]),
                "keyspace_misses": int(stats["keyspace_misses"]),
                "time": time.time(),
            }
        )
    try:
        primary = connect(module)
        ingest_added, ingest_length = stream_counters(primary, params["ingest_stream"])
        dlq_added, dlq_length = stream_counters(primary, params["dlq_stream"])
    except redis_error_types() as exc:
        module.fail_json(msg=f"Redis node {node_name(params)}: the streams could not be read: {exc}")
    module.exit_json(
        changed=False,
        nodes=samples,
        streams={
            "ingest_entries_added": ingest_added,
            "ingest_length": ingest_length,
            "dlq_entries_added": dlq_added,
            "dlq_length": dlq_length,
        },
    )


if __name__ == "__main__":
    main()
