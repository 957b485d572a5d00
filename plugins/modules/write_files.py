#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Write text files into one directory, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: write_files
short_description: Write text files into one directory in one module run
description:
  - Writes each file of O(files) into the directory O(path), in one module run. The directory (and any
    missing directory above it) is made with O(directory_mode), then each file is written, in the order
    given, with O(mode). A content that is not text, or a name with a C(/), fails the module before anything is written.
  - Each file is written whole (a file beside it renamed over it, synced first), and only when its
    content or mode differs; one whose content is the same only has its mode set. The directory's own
    mode is set to O(directory_mode) when it differs; directories above it that exist already are left
    as they are.
  - Where M(ansible.builtin.copy) and M(ansible.builtin.template) take a look, a transfer and a module
    run a file, and M(ansible.builtin.file) a run a directory, this is one round trip for them all (the
    release report's files in the state store, for instance).
  - File contents are not logged, as those of M(ansible.builtin.copy)'s O(ansible.builtin.copy#module:content)
    are not; they may be large, and the result names the files instead.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
attributes:
  check_mode:
    support: full
    description: In check mode nothing is made or written; the result says what would be.
  diff_mode:
    support: none
    description: No diff is produced; RV(written) names what changed.
  idempotent:
    support: full
    description: Files already there with the same content and mode are left alone.
options:
  path:
    description: The directory the files go into.
    type: path
    required: true
  files:
    description:
      - The files, by name (a name in O(path), without C(/)), each with its text (written as UTF-8).
    type: dict
    required: true
  mode:
    description: The files' permissions, octal, as a string.
    type: str
    default: "0600"
  directory_mode:
    description: The permissions of O(path), and of any directory made above it, octal, as a string.
    type: str
    default: "0700"
seealso:
  - module: ansible.builtin.copy
  - module: intelgraph.ops.restore_point_write
"""

EXAMPLES = r"""
- name: Keep the reports in the state store, readable by root only
  intelgraph.ops.write_files:
    path: /var/lib/intelgraph-ops/reports/24.1.0
    files:
      release-report.json: "{{ report_data | to_nice_json(indent=2) }}\n"
      release-report.md: "{{ lookup('ansible.builtin.template', 'release-report.md.j2') }}"
    mode: "0600"
    directory_mode: "0700"
  delegate_to: tools1
  run_once: true
"""

RETURN = r"""
path:
  description: The directory.
  returned: always
  type: str
  sample: /var/lib/intelgraph-ops/reports/24.1.0
written:
  description:
    - What was made, written or given its mode (in check mode, would be), in that order - each directory made
      or whose mode was set, with a trailing C(/), then each file by its name.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/intelgraph-ops/reports/, /var/lib/intelgraph-ops/reports/24.1.0/, release-report.json]
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._files import parse_mode, put_file, read_bytes


def octal_mode(module: AnsibleModule, name: str) -> int:
    """The option's octal mode, or the module failed naming the option and its value."""
    mode = parse_mode(module.params[name])
    if mode is None:
        module.fail_json(
            msg=f'{name} {module.params[name]!r} is not an octal file mode; give one such as "0600".'
        )
    return mode


def directories_to_make(path: str) -> list[str]:
    """The directories of path that do not exist, the outermost first (path itself last)."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return missing[::-1]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "files": {"type": "dict", "required": True, "no_log": True},
            "mode": {"type": "str", "default": "0600"},
            "directory_mode": {"type": "str", "default": "0700"},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    mode = octal_mode(module, "mode")
    directory_mode = octal_mode(module, "directory_mode")
    files = module.params["files"]
    bad = sorted(name for name in files if not name or "/" in name or name in (".", ".."))
    if bad:
        module.fail_json(
            msg=f"files: {', '.join(map(repr, bad))} is not a file name in {path} (no '/').", path=path
        )
    not_text = sorted(name for name, text in files.items() if not isinstance(text, str))
    if not_text:
        module.fail_json(
            msg=f"files: the content of {', '.join(map(repr, not_text))} is not text.", path=path
        )

    written: list[str] = []
    result = {"changed": False, "path": path, "written": written}
    try:
        made = directories_to_make(path)
        written.extend(f"{directory}/" for directory in made)
        if not made and stat.S_IMODE(os.stat(path).st_mode) != directory_mode:
            written.append(f"{os.path.abspath(path)}/")
        if not module.check_mode:
            for directory in made:
                os.mkdir(directory, directory_mode)
            # mkdir's mode passes through the umask: each directory made, and path, gets it set.
            for directory in [*made, path]:
                os.chmod(directory, directory_mode)
        for name, text in files.items():
            target = os.path.join(path, name)
            content = text.encode("utf-8")
            current = read_bytes(target)
            if current == content and stat.S_IMODE(os.stat(target).st_mode) == mode:
                continue
            written.append(name)
            if not module.check_mode:
                put_file(target, content, mode, current)
    except OSError as exc:
        result["changed"] = bool(written)
        module.fail_json(msg=f"Cannot write the files into {path}: {exc}. Check its permissions.", **result)
    result["changed"] = bool(written)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
