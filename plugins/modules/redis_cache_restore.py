#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Put the cache keys of a Redis snapshot back on the live primary, and only those."""

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_cache_restore
short_description: Restore the cache keys of a Redis snapshot (RDB) on a live primary, leaving every other key alone
description:
  - Loads the snapshot O(snapshot) into a scratch C(redis-server) started for the run (unix socket in a
    private temporary directory, no TCP port, no persistence), reads every key under O(cache_prefix) there
    and on the live node (C(DUMP) and C(PTTL)), then on the live node puts back each snapshot key that is
    missing or holds another value (C(RESTORE ... REPLACE), with the time to live it had left), and deletes
    the keys under O(cache_prefix) that the snapshot does not hold.
  - Keys outside O(cache_prefix) (the ingest stream and its consumer groups, the change stream, the feature
    toggles, anything else) are never read or written, so what was written there since the snapshot stays.
    The live node is not stopped, its persistence files are not replaced, and its append-only file, on or
    off, records the writes like any others; replicas receive them through replication.
  - Cache entries that had expired by the time of the restore are not put back (the scratch server drops
    them while loading).
  - After writing, waits until every replica connected to the node has acknowledged the writes
    (C(WAIT)), and fails if one did not within O(replica_timeout).
  - Runs on a host that has the snapshot file, C(redis-server) and the Python redis library (the Redis host).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.redis
options:
  snapshot:
    description: The RDB file of the snapshot, on the host the module runs on.
    type: path
    required: true
  cache_prefix:
    description: Key prefix of the cache entries; only keys under it are restored or deleted.
    type: str
    default: "intelgraph:entity:"
  protected_keys:
    description:
      - Keys and key prefixes that O(cache_prefix) must neither cover nor lie inside (the module fails before
        reading anything if it does).
      - The ingest stream C(intelgraph:ingest), its dead-letter stream C(intelgraph:ingest:dlq) and the change
        stream C(intelgraph:changes) are protected as well, whatever this lists.
    type: list
    elements: str
    default: ["intelgraph:features:"]
  redis_server:
    description: The C(redis-server) program that loads the snapshot; same major version as the live node.
    type: str
    default: redis-server
  timeout:
    description: Seconds to wait for the scratch server to load the snapshot.
    type: float
    default: 60
  replica_timeout:
    description: Seconds to wait for the replicas to acknowledge the writes.
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    description: In check mode the snapshot is loaded and compared; nothing is written to the live node.
  diff_mode:
    support: none
    description: No diff is produced (the values are serialized payloads); counts and key names are returned.
  idempotent:
    support: partial
    description:
      - A second run changes nothing if no cache key was written in between; on a node serving traffic, reads
        and writes change cache keys all the time, so a caller restores a snapshot once (the rollback role
        records that it did).
"""

EXAMPLES = r"""
- name: Put the cache of the restore point back
  intelgraph.ops.redis_cache_restore:
    login_password: "{{ intelgraph_redis_password }}"
    snapshot: /var/backups/intelgraph/redis/20261127T210000Z.rdb
    cache_prefix: "intelgraph:entity:"
"""

RETURN = r"""
snapshot_keys:
  description: Cache keys in the snapshot that had not expired.
  returned: always
  type: int
live_keys:
  description: Cache keys on the live node before the restore.
  returned: always
  type: int
restored:
  description: Keys put back (missing, or with another value), or that would be in check mode.
  returned: always
  type: int
deleted:
  description: Keys deleted (not in the snapshot), or that would be in check mode.
  returned: always
  type: int
unchanged:
  description: Keys that already held the snapshot's value.
  returned: always
  type: int
sample:
  description: Up to 20 names of keys restored and deleted.
  returned: always
  type: dict
  sample: {"restored": ["intelgraph:entity:e1"], "deleted": ["intelgraph:entity:e9"]}
replicas:
  description: Replicas connected to the node, and how many acknowledged the writes.
  returned: always
  type: dict
  sample: {"connected": 1, "acknowledged": 1}
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._cache_restore import (
    ScratchServer,
    apply_plan,
    cache_plan,
    prefix_errors,
    read_entries,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    HAS_REDIS,
    connect,
    glob_escape,
    node_name,
    redis_argument_spec,
    redis_error_types,
)

if HAS_REDIS:
    import redis


def text(key: bytes) -> str:
    return key.decode("utf-8", "backslashreplace")


def main() -> None:
    argument_spec = redis_argument_spec()
    argument_spec.update(
        snapshot={"type": "path", "required": True},
        cache_prefix={"type": "str", "default": "intelgraph:entity:"},
        protected_keys={
            "type": "list",
            "elements": "str",
            "default": ["intelgraph:features:"],
            "no_log": False,
        },
        redis_server={"type": "str", "default": "redis-server"},
        timeout={"type": "float", "default": 60},
        replica_timeout={"type": "float", "default": 30},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    prefix = params["cache_prefix"]
    errors = prefix_errors(prefix, params["protected_keys"])
    if errors:
        module.fail_json(msg="Bad cache_prefix: " + "; ".join(errors) + ".")
    if not os.path.isfile(params["snapshot"]):
        module.fail_json(
            msg=f"The snapshot {params['snapshot']} is not a file on this host: copy it here first."
        )
    redis_server = module.get_bin_path(params["redis_server"], required=True)
    node = node_name(params)
    live = connect(module)
    pattern = glob_escape(prefix) + "*"
    try:
        with ScratchServer(redis_server, params["snapshot"], params["timeout"]) as scratch:
            snap_client = redis.Redis(unix_socket_path=scratch.socket_path, socket_timeout=params["timeout"])
            scratch.wait_loaded(snap_client)
            snapshot = read_entries(snap_client, pattern)
            snap_client.close()
        current = read_entries(live, pattern)
        plan = cache_plan(snapshot, current)
        connected = int(live.info("replication").get("connected_slaves", 0))
        acknowledged = connected
        if plan.changed and not module.check_mode:
            apply_plan(live, plan, snapshot)
            if connected:
                acknowledged = int(live.wait(connected, int(params["replica_timeout"] * 1000)))
    except RuntimeError as exc:
        module.fail_json(msg=f"Cannot read the snapshot {params['snapshot']}: {exc}")
    except redis_error_types() as exc:
        module.fail_json(msg=f"Redis node {node}: cache restore failed: {exc}")

    result: dict[str, Any] = {
        "changed": plan.changed,
        "snapshot_keys": len(snapshot),
        "live_keys": len(current),
        "restored": len(plan.restore),
        "deleted": len(plan.delete),
        "unchanged": plan.unchanged,
        "sample": {
            "restored": [text(k) for k in plan.restore[:20]],
            "deleted": [text(k) for k in plan.delete[:20]],
        },
        "replicas": {"connected": connected, "acknowledged": acknowledged},
    }
    if acknowledged < connected:
        module.fail_json(
            msg=(
                f"Redis node {node}: the cache was restored ({len(plan.restore)} keys put back, {len(plan.delete)} "
                f"deleted) but only {acknowledged} of {connected} replicas acknowledged the writes within "
                f"{params['replica_timeout']:g}s: check the replication link (INFO replication) before using the replica."
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
