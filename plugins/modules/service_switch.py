#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Switch an IntelGraph service of the systemd runtime to a release and (re)start it, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_switch
short_description: Switch an IntelGraph service to an installed release and start or restart it, in one run
description:
  - Does, in one run on the host, what switching an IntelGraph service of the systemd runtime takes, in
    this order. Writes its systemd unit O(unit) to C(/etc/systemd/system/<name>.service) (C(root), mode
    C(0644)) when it differs, then reloads systemd. Points the release link O(link) at O(release) when it
    points elsewhere (a new link renamed over the old one, so the link is never missing). Enables the unit
    when it is not. Restarts the service, or starts it when it is not running (see O(restart)).
  - It does not install the release (M(intelgraph.ops.release_install) does) and does not wait for the
    service to be ready (M(intelgraph.ops.service_ready) does, one try a task, so that each wait shows).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
attributes:
  check_mode:
    support: full
    description: In check mode nothing is changed; the result says what would be.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: partial
    description: A unit, link and running service as asked are left alone, unless O(restart=always).
options:
  name:
    description: The systemd unit's name, without C(.service) (C(intelgraph-api)).
    type: str
    required: true
  unit:
    description: The unit file's content.
    type: str
    required: true
  release:
    description: The installed release's directory the link must point at.
    type: path
    required: true
  link:
    description: The release link (C(<root>/current)).
    type: path
    required: true
  restart:
    description:
      - C(changed) restarts the service when the unit, the link or its config (O(config_changed)) changed,
        C(always) restarts it in any case, C(never) only starts it when it is not running.
    type: str
    choices: [changed, always, never]
    default: changed
  config_changed:
    description: Whether the service's settings or secrets were changed by this run (a restart is due).
    type: bool
    default: false
seealso:
  - module: ansible.builtin.systemd_service
  - module: ansible.builtin.file
  - module: intelgraph.ops.service_ready
"""

EXAMPLES = r"""
- name: Switch the API to 24.1.0 and restart it
  intelgraph.ops.service_switch:
    name: intelgraph-api
    unit: "{{ lookup('ansible.builtin.template', 'intelgraph.service.j2') }}"
    release: /opt/intelgraph/releases/24.1.0
    link: /opt/intelgraph/current
    restart: always
"""

RETURN = r"""
unit_changed:
  description: Whether the unit file was written (in check mode, would be).
  returned: always
  type: bool
link_changed:
  description: Whether the link was pointed at O(release) (in check mode, would be).
  returned: always
  type: bool
enabled:
  description: Whether the unit was enabled by this run (in check mode, would be).
  returned: always
  type: bool
service_change:
  description: What was done to the service (in check mode, would be).
  returned: always
  type: str
  choices: [restarted, started, none]
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._files import (
    attributes_differ,
    read_bytes,
    replace_file,
)

UNIT_DIR = "/etc/systemd/system"


def point_link(link: str, target: str) -> None:
    """Point link at target: a new link made beside it, then renamed over it."""
    partial = f"{link}.{os.getpid()}.new"
    if os.path.lexists(partial):
        os.unlink(partial)
    os.symlink(target, partial)
    os.replace(partial, link)


class Switch:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.systemctl = module.get_bin_path("systemctl", required=True)

    def systemctl_says(self, *args: str) -> tuple[int, str]:
        rc, out, _err = self.module.run_command([self.systemctl, *args])
        return rc, out.strip()

    def systemctl_does(self, result: dict[str, Any], *args: str) -> None:
        rc, out, err = self.module.run_command([self.systemctl, *args])
        if rc != 0:
            self.module.fail_json(
                msg=f"systemctl {' '.join(args)} failed: {(err or out).strip() or f'exit code {rc}'}.",
                **result,
            )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "unit": {"type": "str", "required": True},
            "release": {"type": "path", "required": True},
            "link": {"type": "path", "required": True},
            "restart": {"type": "str", "choices": ["changed", "always", "never"], "default": "changed"},
            "config_changed": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    check = module.check_mode
    name, release, link = params["name"], params["release"], params["link"]
    result: dict[str, Any] = {
        "changed": False,
        "unit_changed": False,
        "link_changed": False,
        "enabled": False,
        "service_change": "none",
    }
    switch = Switch(module)
    unit_path = os.path.join(UNIT_DIR, f"{name}.service")
    content = params["unit"].encode("utf-8")

    if read_bytes(unit_path) != content or attributes_differ(unit_path, 0o644, (0, 0)):
        result["unit_changed"] = True
        if not check:
            try:
                replace_file(unit_path, content, 0o644, (0, 0))
            except OSError as exc:
                module.fail_json(msg=f"Cannot write {unit_path}: {exc}.", **result)
            switch.systemctl_does(result, "daemon-reload")

    if not (os.path.islink(link) and os.readlink(link) == release):
        result["link_changed"] = True
        if not check:
            if not os.path.isdir(release):
                module.fail_json(
                    msg=f"{release} is not an installed release: {link} was left as it was.", **result
                )
            try:
                point_link(link, release)
            except OSError as exc:
                module.fail_json(msg=f"Cannot point {link} at {release}: {exc}.", **result)

    # As systemd_service reads it: `is-enabled` exits 0 for an enabled unit (or a static one).
    if switch.systemctl_says("is-enabled", name)[0] != 0:
        result["enabled"] = True
        if not check:
            switch.systemctl_does(result, "enable", name)

    changed = result["unit_changed"] or result["link_changed"] or params["config_changed"]
    if params["restart"] == "always" or (params["restart"] == "changed" and changed):
        result["service_change"] = "restarted"
    elif switch.systemctl_says("is-active", name)[0] != 0:
        result["service_change"] = "started"
    if result["service_change"] != "none" and not check:
        switch.systemctl_does(result, "restart" if result["service_change"] == "restarted" else "start", name)

    result["changed"] = any((result["unit_changed"], result["link_changed"], result["enabled"])) or (
        result["service_change"] != "none"
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
