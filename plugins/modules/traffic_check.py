#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Tell whether the fleet is quiet enough for a maintenance window."""

from __future__ import annotations

DOCUMENTATION = r"""
module: traffic_check
short_description: Compare the fleet's request rate, read from Prometheus, with a ceiling
description:
  - Runs an instant query (by default the API's request rate over the last minute) against
    Prometheus, adds up the series it answers, and compares the rate with O(max_rate).
  - Above the ceiling it fails, unless O(force=true), which lets the run go on and says so.
  - A query that matches no series counts as no traffic (the API has counted no request yet). A
    query Prometheus cannot answer fails the module.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
  - intelgraph.ops.prometheus
options:
  query:
    description: PromQL giving the request rate in requests per second.
    type: str
    default: sum(rate(intelgraph_http_requests_total[1m]))
  max_rate:
    description: Highest request rate, per second, at which the window may start.
    type: float
    required: true
  force:
    description: Go on even above the ceiling (the operator decided so).
    type: bool
    default: false
  fail_on_busy:
    description: Fail above the ceiling (unless forced). With V(false) the result carries RV(go) instead.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the traffic is low before the window
  intelgraph.ops.traffic_check:
    prometheus_url: http://127.0.0.1:9090
    max_rate: 50
  delegate_to: "{{ groups['observability'][0] }}"
  run_once: true
"""

RETURN = r"""
rate:
  description: The measured request rate, per second.
  returned: always
  type: float
  sample: 21.4
ceiling:
  description: The ceiling it was compared with.
  returned: always
  type: float
series:
  description: How many series the query answered.
  returned: always
  type: int
low:
  description: Whether the rate is at most the ceiling.
  returned: always
  type: bool
forced:
  description: Whether the operator forced the run.
  returned: always
  type: bool
go:
  description: Whether the window may start (low, or forced).
  returned: always
  type: bool
message:
  description: The verdict in a sentence.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    PrometheusError,
    instant,
    prometheus_argument_spec,
    tls_options,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._traffic import describe, judge


def main() -> None:
    argument_spec = prometheus_argument_spec()
    argument_spec.update(
        query={"type": "str", "default": "sum(rate(intelgraph_http_requests_total[1m]))"},
        max_rate={"type": "float", "required": True},
        force={"type": "bool", "default": False},
        fail_on_busy={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    try:
        samples = instant(
            params["prometheus_url"], params["query"], params["timeout"], tls=tls_options(params)
        )
        verdict = judge(samples, params["max_rate"], params["force"])
    except PrometheusError as exc:
        module.fail_json(
            msg=f"Cannot read the request rate from Prometheus: {exc}. Check that Prometheus runs there "
            "and that the query is valid PromQL."
        )
    except ValueError as exc:
        module.fail_json(msg=f"Bad max_rate: {exc}.")
    message = describe(verdict, params["query"])
    result = dict(changed=False, message=message, **verdict.as_dict())
    if not verdict.go and params["fail_on_busy"]:
        module.fail_json(
            msg=message + " Wait for a quieter time, or set force=true to go on anyway.", **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
