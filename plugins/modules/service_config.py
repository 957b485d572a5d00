#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Write an IntelGraph service's settings and connection secrets, with its user and directory, in one run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_config
short_description: Write an IntelGraph service's settings and secrets files, with their user and directory, in one run
description:
  - Puts in place, in one run on the host, what an IntelGraph service of the systemd runtime reads at start
    (its system user, its configuration directory, its connection secrets file and its settings file).
    Each is changed only when it differs from what is asked.
  - The user O(user) is created when missing, as a system user with a group of its name, no home directory
    and the shell C(/usr/sbin/nologin); an existing user only gets that shell if it has another.
  - The directory O(directory) is made C(root):O(user), mode C(0750).
  - The secrets file, C(secrets.env) in O(directory), holds O(secrets), C(root):O(user), mode C(0640).
    Its content is never returned, shown in a diff or logged.
  - The settings file O(settings_path) holds O(settings), with O(settings_owner), O(settings_group) and
    O(settings_mode) (a rollback puts back those a restore point kept).
  - A file is replaced whole (written beside it, then renamed over it), so a service never reads half of one.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
attributes:
  check_mode:
    support: full
    description: In check mode nothing is changed; the result says what would be.
  diff_mode:
    support: partial
    description: The settings file's content is shown; the secrets file's never is.
  idempotent:
    support: full
    description: What is as asked already is left alone.
options:
  user:
    description: The service's system user (its group has the same name).
    type: str
    required: true
  directory:
    description: The configuration directory, holding C(secrets.env).
    type: path
    required: true
  secrets:
    description: The content of C(secrets.env), the connection secrets.
    type: str
    required: true
  settings_path:
    description: The settings file (C(<directory>/api.env) or C(<directory>/ingest.env)).
    type: path
    required: true
  settings:
    description: The settings file's content.
    type: str
    required: true
  settings_owner:
    description: The settings file's owner.
    type: str
    default: root
  settings_group:
    description: The settings file's group; O(user) when not given.
    type: str
  settings_mode:
    description: The settings file's mode, octal (C(0640)).
    type: str
    default: "0640"
seealso:
  - module: ansible.builtin.user
  - module: ansible.builtin.file
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Write the API's settings and connection secrets
  intelgraph.ops.service_config:
    user: intelgraph
    directory: /etc/intelgraph
    secrets: "{{ lookup('ansible.builtin.template', 'secrets.env.j2') }}"
    settings_path: /etc/intelgraph/api.env
    settings: "{{ lookup('ansible.builtin.template', 'service.env.j2') }}"
"""

RETURN = r"""
user_created:
  description: Whether the user was created (in check mode, would be).
  returned: always
  type: bool
changed_items:
  description: What was changed (in check mode, would be), among C(user), C(directory), C(secrets) and C(settings).
  returned: always
  type: list
  elements: str
  sample: [settings]
secrets_changed:
  description: Whether the secrets file was written or its mode or ownership changed.
  returned: always
  type: bool
settings_changed:
  description: Whether the settings file was written or its mode or ownership changed.
  returned: always
  type: bool
"""

import grp
import os
import pwd
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._files import (
    attributes_differ,
    read_bytes,
    replace_file,
)

NOLOGIN = "/usr/sbin/nologin"
MODE_RE = re.compile(r"^0?[0-7]{3,4}$")


def ids(owner: str, group: str) -> tuple[int, int] | None:
    """The uid and gid of owner and group, or None when either does not exist (yet)."""
    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        return None


class ServiceConfig:
    """The run: each step checks, and changes what differs unless in check mode."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.changed: list[str] = []
        self.user_created = False
        self.diff: list[dict[str, Any]] = []

    def user(self) -> None:
        name = self.params["user"]
        try:
            shell = pwd.getpwnam(name).pw_shell
        except KeyError:
            self.changed.append("user")
            self.user_created = True
            if not self.module.check_mode:
                useradd = self.module.get_bin_path("useradd", required=True)
                command = [useradd, "--system", "--user-group", "--no-create-home", "--shell", NOLOGIN, name]
                self.run(command, f"create the user {name}")
            return
        if shell != NOLOGIN:
            self.changed.append("user")
            if not self.module.check_mode:
                command = [self.module.get_bin_path("usermod", required=True), "--shell", NOLOGIN, name]
                self.run(command, f"set the shell of {name} to {NOLOGIN}")

    def directory(self) -> None:
        path, user = self.params["directory"], self.params["user"]
        uid_gid = ids("root", user)
        if os.path.isdir(path) and uid_gid is not None and not attributes_differ(path, 0o750, uid_gid):
            return
        self.changed.append("directory")
        if self.module.check_mode:
            return
        try:
            os.makedirs(path, mode=0o750, exist_ok=True)
            os.chown(path, *(uid_gid or self.fail_ids("root", user)))
            os.chmod(path, 0o750)
        except OSError as exc:
            self.module.fail_json(msg=f"Cannot make the directory {path}: {exc}.", changed_items=self.changed)

    def file(self, item: str, path: str, content: str, owner: str, group: str, mode: int) -> bool:
        """Put the file in place; whether it changed. Only the settings file's content goes into the diff."""
        wanted = content.encode("utf-8")
        try:
            found = read_bytes(path)
        except OSError as exc:
            self.module.fail_json(msg=f"Cannot read {path}: {exc}.", changed_items=self.changed)
        uid_gid = ids(owner, group)
        if found == wanted and uid_gid is not None and not attributes_differ(path, mode, uid_gid):
            return False
        self.changed.append(item)
        if item == "settings" and found != wanted:
            before = "" if found is None else found.decode("utf-8", errors="replace")
            self.diff.append(
                {"before_header": path, "after_header": path, "before": before, "after": content}
            )
        if not self.module.check_mode:
            try:
                replace_file(path, wanted, mode, uid_gid or self.fail_ids(owner, group))
            except OSError as exc:
                self.module.fail_json(msg=f"Cannot write {path}: {exc}.", changed_items=self.changed)
        return True

    def run(self, command: list[str], what: str) -> None:
        rc, _out, err = self.module.run_command(command)
        if rc != 0:
            self.module.fail_json(
                msg=f"Cannot {what}: {err.strip() or f'exit code {rc}'}.", changed_items=self.changed
            )

    def fail_ids(self, owner: str, group: str) -> tuple[int, int]:
        self.module.fail_json(
            msg=f"There is no user {owner} or no group {group}.", changed_items=self.changed
        )
        raise AssertionError  # fail_json exits


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "user": {"type": "str", "required": True},
            "directory": {"type": "path", "required": True},
            "secrets": {"type": "str", "required": True, "no_log": True},
            "settings_path": {"type": "path", "required": True},
            "settings": {"type": "str", "required": True},
            "settings_owner": {"type": "str", "default": "root"},
            "settings_group": {"type": "str"},
            "settings_mode": {"type": "str", "default": "0640"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not MODE_RE.match(params["settings_mode"]):
        module.fail_json(
            msg=f"settings_mode must be an octal mode such as 0640, not '{params['settings_mode']}'."
        )
    user = params["user"]
    settings_group = params["settings_group"] or user
    # The service user and its group may be made by this run; any other owner or group must exist
    # before anything is changed.
    for kind, name, find in (
        ("owner", params["settings_owner"], pwd.getpwnam),
        ("group", settings_group, grp.getgrnam),
    ):
        if name != user:
            try:
                find(name)
            except KeyError:
                module.fail_json(
                    msg=f"The settings file's {kind} {name} does not exist; nothing was changed."
                )
    run = ServiceConfig(module)
    run.user()
    run.directory()
    secrets_changed = run.file(
        "secrets", os.path.join(params["directory"], "secrets.env"), params["secrets"], "root", user, 0o640
    )
    settings_changed = run.file(
        "settings",
        params["settings_path"],
        params["settings"],
        params["settings_owner"],
        settings_group,
        int(params["settings_mode"], 8),
    )
    result: dict[str, Any] = {
        "changed": bool(run.changed),
        "changed_items": run.changed,
        "user_created": run.user_created,
        "secrets_changed": secrets_changed,
        "settings_changed": settings_changed,
    }
    if module._diff and run.diff:
        result["diff"] = run.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
