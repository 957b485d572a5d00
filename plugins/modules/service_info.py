#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Read what an IntelGraph service host says of its service, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_info
short_description: Read an IntelGraph service's release, its release link and its files in one run
description:
  - Reads, in one run on the host, what the pre-check's plan and the restore point need to know of one
    IntelGraph service (API or ingest worker), and changes nothing.
  - With O(url), asks the service which release it runs (an HTTP GET of its C(/version)) and returns the
    HTTP status and a message as M(ansible.builtin.uri) gives them, and the C(version) of its JSON answer.
    A service that does not answer is no failure of the module; the status is then C(-1) and the message says why.
  - With O(link), where that symbolic link (the service's C(current) release link) points, as
    M(ansible.builtin.stat) gives it in C(lnk_target).
  - With O(files), whether each file exists, its mode, owner and group, and, for a file whose entry asks
    for it, its SHA-256. Files are only stat'ed, never read, except for a checksum asked for by its own entry.
  - With O(settings_file), the text of that one file (the service's settings, C(api.env) or C(ingest.env)),
    and its exact bytes in base64 (for a copy of it byte for byte).
    The content of no other file is ever read. Never name a file holding secrets (C(secrets.env)) there;
    list it in O(files), without a checksum.
  - Fails only when a file of O(files) or the O(link) is there but cannot be examined (for example a
    directory on its path that cannot be searched), naming it, or on a bad option. A settings file that
    cannot be read is reported in RV(settings.msg), in the words of M(ansible.builtin.slurp).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
options:
  url:
    description:
      - The service's version URL, answering a JSON object with the key C(version).
    type: str
  timeout:
    description: Seconds to wait for the service's answer (more than 0).
    type: float
    default: 5.0
  link:
    description: A symbolic link whose target to read (not followed).
    type: path
  files:
    description: Files to stat (a link is not followed).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      checksum:
        description: Also return its SHA-256 (of a regular file that can be read).
        type: bool
        default: false
  settings_file:
    description:
      - A text file whose content to return, decoded as UTF-8 (a byte that is not is replaced).
      - Only the service's settings file; never a file that holds secrets.
    type: path
notes:
  - Run it on the service's host, or with C(delegate_to) on the host that reaches the service (the docker
    runtime's engine host), with O(url) at the address the service answers from there.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.stat
  - module: ansible.builtin.slurp
"""

EXAMPLES = r"""
- name: Read the API's release, its release link, its settings and its files' ownership
  intelgraph.ops.service_info:
    url: http://127.0.0.1:8080/version
    timeout: 5
    link: /opt/intelgraph/current
    files:
      - path: /etc/intelgraph/api.env
        checksum: true
      - path: /etc/intelgraph/secrets.env  # ownership only: never its content or checksum
    settings_file: /etc/intelgraph/api.env
  register: api_info

- name: Say which release the service runs
  ansible.builtin.debug:
    msg: >-
      {{ api_info.service.version if api_info.service.status == 200
         else 'no answer: ' ~ api_info.service.msg }}

- name: Ask a container's service from the host that runs the container
  intelgraph.ops.service_info:
    url: "http://{{ ansible_host }}:8080/version"
  delegate_to: "{{ intelgraph_docker_delegate }}"
"""

RETURN = r"""
service:
  description: What the service answered on O(url).
  returned: when O(url) is given
  type: dict
  contains:
    url:
      description: The URL asked (any password in it hidden).
      returned: always
      type: str
      sample: http://127.0.0.1:8080/version
    status:
      description: The HTTP status of the answer; C(-1) when no answer came.
      returned: always
      type: int
      sample: 200
    msg:
      description:
        - "What happened, as M(ansible.builtin.uri) says it, e.g. C(OK (37 bytes)), or, for a service that
          refuses the connection, C(Status code was -1 and not [200]: Request failed:) and the error."
      sample: "Status code was 503 and not [200]: HTTP Error 503: Service Unavailable"
      returned: always
      type: str
    version:
      description: The C(version) of the JSON object answered with status 200; null otherwise.
      returned: always
      type: str
      sample: 24.0.0
link:
  description: Where O(link) points.
  returned: when O(link) is given
  type: dict
  contains:
    path:
      description: The link.
      returned: always
      type: str
    exists:
      description: Whether anything is at that path.
      returned: always
      type: bool
    target:
      description: The link's target as written in it; null when the path is not a symbolic link or is not there.
      returned: always
      type: str
      sample: /opt/intelgraph/releases/24.0.0
files:
  description:
    - Per path of O(files), what stat says of it. C(mode), C(owner) and C(group) are null when the
      file does not exist; an owner or group id without a name is null.
    - C(checksum), the SHA-256 of a regular file that can be read (else null), only for an entry that asks for it.
  returned: always
  type: dict
  sample:
    /etc/intelgraph/api.env: {"path": "/etc/intelgraph/api.env", "exists": true, "mode": "0640",
                              "owner": "root", "group": "intelgraph", "checksum": "9f86d08..."}
    /etc/intelgraph/secrets.env: {"path": "/etc/intelgraph/secrets.env", "exists": true, "mode": "0640",
                                  "owner": "root", "group": "intelgraph"}
settings:
  description: The text of O(settings_file).
  returned: when O(settings_file) is given
  type: dict
  contains:
    path:
      description: The file.
      returned: always
      type: str
    content:
      description: Its text; null when it cannot be read.
      returned: always
      type: str
      sample: "RPS_LIMIT=50\nRPS_BURST=100\n"
    b64:
      description: Its exact bytes, base64-encoded as M(ansible.builtin.slurp) gives them; null when it cannot be read.
      returned: always
      type: str
      sample: "UlBTX0xJTUlUPTUwClJQU19CVVJTVD0xMDAK"
    msg:
      description: "Why it cannot be read, as M(ansible.builtin.slurp) says it (C(File not found: <path>)); null when read."
      sample: "File not found: /etc/intelgraph/api.env"
      returned: always
      type: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._service_info import (
    ExamineError,
    checksummed,
    examine,
    link_target,
    read_text,
    version_answer,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str"},
            "timeout": {"type": "float", "default": 5.0},
            "link": {"type": "path"},
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "checksum": {"type": "bool", "default": False},
                },
            },
            "settings_file": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    errors = timeout_errors({"timeout": params["timeout"]})
    if errors:
        module.fail_json(msg=f"Bad timeout: {errors[0]}.")

    result: dict[str, Any] = {"changed": False, "files": {}}
    try:
        if params["link"]:
            result["link"] = link_target(params["link"])
        for path, checksum in checksummed(params["files"]).items():
            result["files"][path] = examine(path, checksum)
    except ExamineError as exc:
        module.fail_json(
            msg=f"{exc}: run the module as a user who can search every directory on the path (become).",
            **result,
        )
    if params["settings_file"]:
        result["settings"] = read_text(params["settings_file"])
    if params["url"]:
        result["service"] = version_answer(params["url"], params["timeout"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
