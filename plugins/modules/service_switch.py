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
  - >-
    With O(ready_url), it then asks the service whether it is ready, on the release O(version), in the same
    run: again every 0.1 s while it is not, for O(ready_wait) seconds at most, as
    M(intelgraph.ops.service_ready) does. A service found ready on another release fails the run at once; one
    not ready by then is not a failure (RV(ready) says what it answered), and a task of its own waits for it,
    M(intelgraph.ops.service_ready) with C(until), one try at a time, so that a longer wait shows. A service
    that is ready within O(ready_wait) costs no module run more.
  - It does not install the release (M(intelgraph.ops.release_install) does).
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
  ready_url:
    description:
      - The service's readiness URL (status 200 is ready), asked once the service is switched and started. Not
        asked in check mode, where nothing is started.
      - Without it, the service is not asked.
    type: str
  version_url:
    description: The URL answering a JSON object with the release the service runs, in the key C(version).
    type: str
  version:
    description: The release the service must run once ready; without it any release will do.
    type: str
  ready_wait:
    description: Seconds to keep asking O(ready_url), every 0.1 s, while the service is not ready (0 to 60).
    type: float
    default: 3
  timeout:
    description: Seconds to wait for each answer of the service (more than 0).
    type: float
    default: 2
seealso:
  - module: ansible.builtin.systemd_service
  - module: ansible.builtin.file
  - module: intelgraph.ops.service_ready
"""

EXAMPLES = r"""
- name: Switch the API to 24.1.0 and restart it, and ask for 3 s at most whether it is ready on 24.1.0
  intelgraph.ops.service_switch:
    name: intelgraph-api
    unit: "{{ lookup('ansible.builtin.template', 'intelgraph.service.j2') }}"
    release: /opt/intelgraph/releases/24.1.0
    link: /opt/intelgraph/current
    restart: always
    ready_url: http://127.0.0.1:8080/readyz
    version_url: http://127.0.0.1:8080/version
    version: 24.1.0
    ready_wait: 3
  register: api_switched
# A service not ready by then: wait on with intelgraph.ops.service_ready and until, one try a second
# (its examples), when api_switched.ready.status != 200.
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
ready:
  description: What the service answered on O(ready_url), as RV(intelgraph.ops.service_ready#module:ready) says it.
  returned: with O(ready_url), outside check mode
  type: dict
  sample: {"url": "http://127.0.0.1:8080/readyz", "status": 200, "version": null, "msg": "OK (2 bytes)"}
service:
  description: What the service answered on O(version_url) once ready, in the same form ({} while it is not ready).
  returned: with O(ready_url), outside check mode
  type: dict
  sample: {"url": "http://127.0.0.1:8080/version", "status": 200, "version": "24.1.0", "msg": "OK (37 bytes)"}
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._files import (
    attributes_differ,
    read_bytes,
    replace_file,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._service_info import ANSWERED, ready_on
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors

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
            "ready_url": {"type": "str"},
            "version_url": {"type": "str"},
            "version": {"type": "str"},
            "ready_wait": {"type": "float", "default": 3.0},
            "timeout": {"type": "float", "default": 2.0},
        },
        required_by={"ready_url": "version_url"},
        supports_check_mode=True,
    )
    params = module.params
    check = module.check_mode
    errors = timeout_errors({"timeout": params["timeout"]})
    if errors:
        module.fail_json(msg=f"Bad timeout: {errors[0]}.")
    if not 0 <= params["ready_wait"] <= 60:
        module.fail_json(msg=f"Bad ready_wait: {params['ready_wait']} is not between 0 and 60 seconds.")
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
    if params["ready_url"] and not check:
        ready, service, problem = ready_on(
            params["ready_url"],
            params["version_url"],
            params["version"],
            params["timeout"],
            params["ready_wait"],
        )
        result.update(ready=ready, service=service)
        # Ready on another release, or ready with no release to tell: waiting longer does not change it.
        if problem and ready["status"] == ANSWERED:
            module.fail_json(msg=problem, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
