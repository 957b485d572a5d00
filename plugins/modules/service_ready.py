#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Check, in one module run, that an IntelGraph service answers ready on a release."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service_ready
short_description: Check that an IntelGraph service answers ready, on the release expected
description:
  - Asks the service its readiness (an HTTP GET of O(url), C(/readyz) for the API, C(/status) for an ingest
    worker; ready is status 200) and which release it runs (a GET of O(version_url), a JSON object with the
    key C(version)), in one module run, and fails unless it is ready and, with O(version), runs that release.
  - >-
    Its failure says what happened in the words of M(ansible.builtin.uri) (C(Status code was 503 and not
    [200]: HTTP Error 503: Service Unavailable)), or which release answered instead.
  - >-
    Run it with C(until) on the C(status) of RV(ready) to wait for a service that is starting, one try a second, say;
    a service that answers ready on another release fails at once, since waiting does not change it. With
    O(wait), a try keeps asking for readiness that long, every 0.1 s, and answers as soon as the service is
    ready: a service that starts in half a second is found ready half a second after its start, not at the next
    try. With C(failed_when=false) it reads both answers without judging them.
  - Run it on the service's host (its loopback), or with C(delegate_to) on the host that reaches the service.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
options:
  url:
    description: The readiness URL; status 200 is ready.
    type: str
    required: true
  version_url:
    description: The URL answering a JSON object with the release, in the key C(version).
    type: str
    required: true
  version:
    description: The release the service must run; without it any release will do.
    type: str
  timeout:
    description: Seconds to wait for each answer (more than 0).
    type: float
    default: 5.0
  wait:
    description:
      - Seconds to keep asking O(url), every 0.1 s, while the service is not ready (no answer, or a status other
        than 200), before the module answers not ready. V(0) asks once.
      - >-
        With C(until), set the task's C(delay) to V(0) and its C(retries) to the seconds to wait at most divided by
        O(wait): each try then lasts O(wait) seconds while the service is not ready.
    type: float
    default: 0
seealso:
  - module: intelgraph.ops.service_info
  - module: ansible.builtin.uri
"""

EXAMPLES = r"""
- name: Wait until the API answers ready on 24.1.0, one try a second, 120 s at most
  intelgraph.ops.service_ready:
    url: http://127.0.0.1:8080/readyz
    version_url: http://127.0.0.1:8080/version
    version: 24.1.0
    timeout: 2
    wait: 1
  register: api_ready
  until: api_ready.ready.status == 200
  retries: 120
  delay: 0

- name: Read the release the API runs and whether it is ready, judging neither
  intelgraph.ops.service_ready:
    url: http://127.0.0.1:8080/readyz
    version_url: http://127.0.0.1:8080/version
    timeout: 2
  register: api_probe
  failed_when: false
"""

RETURN = r"""
ready:
  description: What the service answered on O(url), as RV(intelgraph.ops.service_info#module:service) says it.
  returned: always
  type: dict
  sample: {"url": "http://127.0.0.1:8080/readyz", "status": 503, "version": null,
           "msg": "Status code was 503 and not [200]: HTTP Error 503: Service Unavailable"}
service:
  description: What the service answered on O(version_url), in the same form; its C(version) is the release it runs.
  returned: always
  type: dict
  sample: {"url": "http://127.0.0.1:8080/version", "status": 200, "version": "24.1.0", "msg": "OK (37 bytes)"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._service_info import ready_on
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "version_url": {"type": "str", "required": True},
            "version": {"type": "str"},
            "timeout": {"type": "float", "default": 5.0},
            "wait": {"type": "float", "default": 0.0},
        },
        supports_check_mode=True,
    )
    params = module.params
    errors = timeout_errors({"timeout": params["timeout"]})
    if errors:
        module.fail_json(msg=f"Bad timeout: {errors[0]}.")
    if not 0 <= params["wait"] <= 3600:
        module.fail_json(msg=f"Bad wait: {params['wait']} is not between 0 and 3600 seconds.")
    ready, service, problem = ready_on(
        params["url"], params["version_url"], params["version"], params["timeout"], params["wait"]
    )
    result = {"changed": False, "ready": ready, "service": service}
    if problem:
        module.fail_json(msg=problem, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
