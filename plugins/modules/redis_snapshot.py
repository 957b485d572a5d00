#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Take a point-in-time snapshot of a Redis node and keep a copy of it aside."""

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_snapshot
short_description: Snapshot a Redis node's dataset into a kept RDB file
description:
  - Waits for an RDB save already running to end (it began before this point in time), asks the node
    for a C(BGSAVE SCHEDULE) (which starts at once, or right after a running AOF rewrite), waits until
    C(LASTSAVE) advances, the save count grows (Redis 7) and the save reports C(ok), then copies the
    node's RDB file into O(dest_dir) under the snapshot's id, with its SHA-256 and a JSON metadata
    file beside it.
  - Works the same whether the node has AOF on or off. With AOF on, the node's own persistence is the
    append-only file, but BGSAVE still writes the RDB file of C(dir)/C(dbfilename), and that file is
    what is copied; an AOF rewrite never counts as the snapshot.
  - Runs on the Redis host itself, since it reads the node's data directory.
  - A snapshot whose id already exists in O(dest_dir) is left as it is (idempotent per id).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.redis
options:
  snapshot_id:
    description: Name of the snapshot (letters, digits, C(-), C(_), C(.)).
    type: str
    required: true
  dest_dir:
    description: Directory on the Redis host the snapshot is copied into (mode 0700, its files 0600, since they hold the data).
    type: path
    default: /var/backups/intelgraph/redis
  timeout:
    description: Seconds to wait for the BGSAVE to finish.
    type: int
    default: 120
  rdb_path:
    description:
      - The node's RDB file. By default it is asked from the node (C(CONFIG GET dir) and
        C(dbfilename)); set it where an ACL denies C(CONFIG).
    type: path
attributes:
  check_mode:
    support: full
    description: In check mode the node is only asked for its state; nothing is saved or copied.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: A second run with the same O(snapshot_id) changes nothing.
"""

EXAMPLES = r"""
- name: Snapshot the cache before the upgrade
  intelgraph.ops.redis_snapshot:
    login_password: "{{ intelgraph_redis_password }}"
    snapshot_id: "v24.1-{{ restore_point_id }}"
  register: snapshot
"""

RETURN = r"""
snapshot_id:
  description: The snapshot's id.
  returned: always
  type: str
path:
  description: The kept RDB copy.
  returned: always
  type: str
  sample: /var/backups/intelgraph/redis/v24.1-20261127T1800.rdb
metadata_path:
  description: The JSON metadata file beside it.
  returned: always
  type: str
sha256:
  description: SHA-256 of the kept RDB copy.
  returned: unless in check mode and the snapshot does not exist yet
  type: str
keys:
  description: Number of keys the node held when the snapshot was taken (DBSIZE of every database).
  returned: unless in check mode and the snapshot does not exist yet
  type: int
lastsave:
  description: The node's LASTSAVE time (Unix seconds) of the snapshot.
  returned: unless in check mode and the snapshot does not exist yet
  type: int
aof_enabled:
  description: Whether the node had AOF on.
  returned: unless in check mode and the snapshot does not exist yet
  type: bool
size:
  description: Size in bytes of the kept RDB copy.
  returned: unless in check mode and the snapshot does not exist yet
  type: int
source:
  description: The node's RDB file the copy was taken from.
  returned: unless in check mode and the snapshot does not exist yet
  type: str
"""

import json
import os
import shutil
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._files import sha256_of
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    bgsave_finished,
    connect,
    keyspace_keys,
    node_name,
    redis_argument_spec,
    redis_error_types,
    snapshot_paths,
)


class Snapshotter:
    """One BGSAVE of one node, waited for."""

    def __init__(self, module: AnsibleModule, client: Any, node: str) -> None:
        self.module = module
        self.client = client
        self.node = node
        self.deadline = time.monotonic() + module.params["timeout"]

    def persistence(self) -> dict[str, Any]:
        return self.client.info("persistence")

    def wait(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            self.module.fail_json(
                msg=f"Redis node {self.node}: {what} did not happen within "
                f"{self.module.params['timeout']} s; "
                "check the node's disk and its log (/var/log/redis), or raise timeout."
            )
        time.sleep(0.2)

    def save(self) -> None:
        # A save already running holds an older point in time: let it end first.
        while int(self.persistence().get("rdb_bgsave_in_progress", 0)):
            self.wait("the RDB save already running to end")
        info = self.persistence()
        before = int(info.get("rdb_last_save_time", 0))
        before_saves = int(info["rdb_saves"]) if "rdb_saves" in info else None
        before_status = str(info.get("rdb_last_bgsave_status", "ok"))
        # LASTSAVE has a one-second resolution: wait out the second the previous save ended in.
        while int(self.client.time()[0]) <= before:
            self.wait("the server clock leaving the second of the last save")
        try:
            self.client.execute_command("BGSAVE", "SCHEDULE")
        except redis_error_types() as exc:
            # A save the server began on its own since the check above started after this
            # point in time as well: it serves.
            if "already in progress" not in str(exc):
                raise
        while True:
            state = bgsave_finished(before, self.persistence(), before_saves, before_status)
            if state is not None:
                break
            self.wait("the BGSAVE")
        if not state:
            self.module.fail_json(
                msg=f"Redis node {self.node}: BGSAVE failed (rdb_last_bgsave_status is not ok); "
                "see the Redis log for the cause (disk full, permissions) and try again."
            )


def main() -> None:
    argument_spec = redis_argument_spec()
    argument_spec.update(
        snapshot_id={"type": "str", "required": True},
        dest_dir={"type": "path", "default": "/var/backups/intelgraph/redis"},
        timeout={"type": "int", "default": 120},
        rdb_path={"type": "path"},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    node = node_name(module.params)
    try:
        rdb_copy, meta_path = snapshot_paths(module.params["dest_dir"], module.params["snapshot_id"])
    except ValueError as exc:
        module.fail_json(msg=f"{exc}: use letters, digits, '-', '_' and '.'.")
    result: dict[str, Any] = {
        "changed": False,
        "snapshot_id": module.params["snapshot_id"],
        "path": rdb_copy,
        "metadata_path": meta_path,
    }

    if os.path.exists(rdb_copy) and os.path.exists(meta_path):
        with open(meta_path) as handle:
            result.update(json.load(handle))
        module.exit_json(**result)

    client = connect(module)
    try:
        if module.check_mode:
            client.ping()
            module.exit_json(**{**result, "changed": True})
        Snapshotter(module, client, node).save()
        if module.params["rdb_path"]:
            source = module.params["rdb_path"]
        else:
            config = client.config_get("dir")
            config.update(client.config_get("dbfilename"))
            source = os.path.join(config["dir"], config["dbfilename"])
        keys = keyspace_keys(client.info("keyspace"))
        lastsave = int(client.lastsave().timestamp())
        aof_enabled = bool(int(client.info("persistence").get("aof_enabled", 0)))
    except redis_error_types() as exc:
        module.fail_json(msg=f"Redis node {node}: snapshot failed: {exc}", **result)

    try:
        os.makedirs(module.params["dest_dir"], mode=0o700, exist_ok=True)
        os.chmod(module.params["dest_dir"], 0o700)
        partial = rdb_copy + ".partial"
        # The node replaces its RDB file by a rename: the copy reads one whole file.
        shutil.copyfile(source, partial)
        os.chmod(partial, 0o600)
        os.replace(partial, rdb_copy)
        metadata = {
            "node": node,
            "sha256": sha256_of(rdb_copy),
            "size": os.path.getsize(rdb_copy),
            "keys": keys,
            "lastsave": lastsave,
            "aof_enabled": aof_enabled,
            "source": source,
            "taken_at": int(time.time()),
        }
        fd = os.open(meta_path + ".partial", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                dict(metadata, snapshot_id=module.params["snapshot_id"]), handle, indent=2, sort_keys=True
            )
        os.replace(meta_path + ".partial", meta_path)
    except OSError as exc:
        module.fail_json(
            msg=f"Redis node {node}: saved, but copying {source} into {module.params['dest_dir']} "
            f"failed: {exc}. "
            "Check the space and permissions there, or set rdb_path if the node's file is elsewhere.",
            **result,
        )
    module.exit_json(**{**result, "changed": True, **metadata})


if __name__ == "__main__":
    main()
