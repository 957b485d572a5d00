#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Write a restore point into the state store, in one module run: its copies, then its manifest."""

from __future__ import annotations

DOCUMENTATION = r"""
module: restore_point_write
short_description: Write a restore point's file copies and manifest into the state store in one run
description:
  - Writes one restore point on the state store's host, in one module run, in this order. Its
    directory C(O(root)/O(id)), and those of the copies in it, readable by root only (mode C(0700),
    as O(root) is made too). Each copy of O(files) (mode C(0600)), checked against the SHA-256 its
    host's file had when it was read. The manifest C(manifest.json) (mode C(0600)). The link
    C(O(root)/latest) to O(id).
  - The manifest comes last and each file is written beside its place and renamed into it, so a
    restore point without its manifest is never taken for a whole one, and no file is ever half written.
  - A copy whose content does not match its SHA-256 fails the module before the manifest is written,
    naming the copy and both digests.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; the result says whether anything would be.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: A restore point written already, the same, is left alone.
options:
  root:
    description: The directory of the restore points (its C(latest) link is pointed at O(id)).
    type: path
    required: true
  id:
    description: The restore point's id, the name of its directory under O(root).
    type: str
    required: true
  files:
    description: The copies the restore point keeps.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Where in the restore point's directory (relative, without C(..)).
        type: str
        required: true
      content:
        description: The content, base64-encoded (as M(ansible.builtin.slurp) gives it).
        type: str
        required: true
      sha256:
        description: The SHA-256 the content must have (the original file's).
        type: str
        required: true
  manifest:
    description: The manifest, as the text of C(manifest.json).
    type: str
    required: true
seealso:
  - module: intelgraph.ops.service_info
"""

EXAMPLES = r"""
- name: Write the restore point in the state store
  intelgraph.ops.restore_point_write:
    root: /var/lib/intelgraph-ops/restore-points
    id: 20261205T101500Z
    files:
      - path: env/api1/api.env
        content: "{{ api1_settings.b64 }}"
        sha256: "{{ api1_settings_checksum }}"
    manifest: "{{ manifest | to_nice_json(indent=2) }}\n"
  delegate_to: tools1
  run_once: true
"""

RETURN = r"""
path:
  description: The restore point's directory.
  returned: always
  type: str
  sample: /var/lib/intelgraph-ops/restore-points/20261205T101500Z
written:
  description:
    - What was made or written (in check mode, would be), relative to RV(path) (a directory with a trailing C(/),
      O(root) as C(../)), the manifest after the copies, C(latest) when the link was moved.
  returned: always
  type: list
  elements: str
  sample: [./, env/, env/api1/, env/api1/api.env, manifest.json, latest]
"""

import base64
import binascii
import hashlib
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._files import (
    attributes_differ,
    read_bytes,
    replace_file,
)

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def relative_ok(path: str) -> bool:
    """Whether path stays inside the restore point: relative, no empty part, no `.` or `..`."""
    parts = path.split("/")
    return not path.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def directories(root: str, point: str, names: list[str]) -> list[str]:
    """root, the restore point's directory and every directory of its copies, parents first."""
    found = [root, point]
    for name in names:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            path = os.path.join(point, *parts[:depth])
            if path not in found:
                found.append(path)
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "id": {"type": "str", "required": True},
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "str", "required": True},
                    "content": {"type": "str", "required": True},
                    "sha256": {"type": "str", "required": True},
                },
            },
            "manifest": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    root, point_id = params["root"], params["id"]
    point = os.path.join(root, point_id)
    result = {"changed": False, "path": point, "written": []}
    if not ID_RE.match(point_id):
        module.fail_json(msg=f"id must be a plain directory name, not '{point_id}'.", **result)

    copies = []
    for entry in params["files"]:
        if not relative_ok(entry["path"]):
            module.fail_json(msg=f"{entry['path']} is not a path inside the restore point.", **result)
        try:
            content = base64.b64decode(entry["content"], validate=True)
        except (binascii.Error, ValueError):
            module.fail_json(msg=f"The content of {entry['path']} is not base64.", **result)
        found = hashlib.sha256(content).hexdigest()
        if found != entry["sha256"].lower():
            module.fail_json(
                msg=(
                    f"The copy {entry['path']} has SHA-256 {found}, not {entry['sha256']} as its file had when it "
                    "was read: no manifest was written, so the restore point is not used. Run again."
                ),
                **result,
            )
        copies.append((entry["path"], content))
    copies.append(("manifest.json", params["manifest"].encode("utf-8")))

    latest = os.path.join(root, "latest")
    owner = (os.getuid(), os.getgid())  # the files it writes are the module's user's (root's)
    try:
        for path in directories(root, point, [name for name, _content in copies]):
            if not os.path.isdir(path) or attributes_differ(path, 0o700, owner):
                result["written"].append(os.path.relpath(path, point) + "/")
                if not module.check_mode:
                    os.makedirs(path, 0o700, exist_ok=True)
                    os.chown(path, *owner)
                    os.chmod(path, 0o700)
        for name, content in copies:
            path = os.path.join(point, name)
            if read_bytes(path) == content and not attributes_differ(path, 0o600, owner):
                continue
            result["written"].append(name)
            if not module.check_mode:
                replace_file(path, content, 0o600)
        if not (os.path.islink(latest) and os.readlink(latest) == point_id):
            result["written"].append("latest")
            if not module.check_mode:
                partial = f"{latest}.{os.getpid()}"
                os.symlink(point_id, partial)
                os.replace(partial, latest)
    except OSError as exc:
        module.fail_json(msg=f"Cannot write the restore point {point}: {exc}.", **result)
    result["changed"] = bool(result["written"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
