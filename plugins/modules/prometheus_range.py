#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Read PromQL queries over a time range from Prometheus, for the release report's charts."""

from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_range
short_description: Read queries over a time range from Prometheus, gaps kept as gaps
description:
  - Runs each query of O(queries) as a range query from O(start) to O(end), one point every
    O(step) seconds, and returns its points on that grid, the value null where Prometheus has none.
    A query with several series is read by its highest value at each time.
  - A query Prometheus cannot answer (it is unreachable, or refuses the query) is returned with an
    C(error) and no value, rather than failing the task, so that the report that draws the series
    shows the gap and says why. The module fails only on a range it cannot read (O(end) not after
    O(start), or a step under a millisecond).
  - Changes nothing.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
  - intelgraph.ops.prometheus
options:
  queries:
    description: The queries, a PromQL expression per name the series is returned under.
    type: dict
    required: true
  start:
    description: Start of the range, Unix time.
    type: float
    required: true
  end:
    description: End of the range, Unix time.
    type: float
    required: true
  step:
    description: Seconds between two points, to the millisecond; by default about 120 points over the range, at least one a second.
    type: float
"""

EXAMPLES = r"""
- name: Read the read latency's p95 over the observation
  intelgraph.ops.prometheus_range:
    prometheus_url: http://127.0.0.1:9090
    queries:
      read_p95: histogram_quantile(0.95, sum by (le) (rate(intelgraph_http_request_duration_seconds_bucket{kind="read"}[1m])))
    start: "{{ observation.started_at }}"
    end: "{{ observation.ended_at }}"
  delegate_to: "{{ groups['observability'][0] }}"
  register: series
"""

RETURN = r"""
series:
  description: Per query name, C(points) ([time, value or null], on the grid), C(step) and C(error) (null when answered).
  returned: always
  type: dict
  sample:
    read_p95:
      points: [[1796521000.0, 0.012], [1796521005.0, null]]
      step: 5.0
      error: null
start:
  description: Start of the range read.
  returned: always
  type: float
end:
  description: End of the range read.
  returned: always
  type: float
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    PrometheusError,
    millis,
    prometheus_argument_spec,
    query_range,
    range_points,
    range_step,
    tls_options,
)


def main() -> None:
    argument_spec = prometheus_argument_spec()
    argument_spec.update(
        queries={"type": "dict", "required": True},
        start={"type": "float", "required": True},
        end={"type": "float", "required": True},
        step={"type": "float"},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    start, end = params["start"], params["end"]
    if end <= start:
        module.fail_json(msg=f"end ({end}) must come after start ({start}): give the range to read.")
    step = params["step"] or range_step(start, end)
    if millis(step) < 1:
        module.fail_json(msg=f"step must be at least a millisecond (0.001 s), got {step}.")
    series: dict[str, Any] = {}
    for name, query in params["queries"].items():
        try:
            result = query_range(
                params["prometheus_url"], str(query), start, end, step, params["timeout"], tls_options(params)
            )
            series[name] = {"points": range_points(result, start, end, step), "step": step, "error": None}
        except PrometheusError as exc:
            series[name] = {"points": [], "step": step, "error": f"Prometheus did not answer: {exc}"}
    module.exit_json(changed=False, series=series, start=start, end=end)


if __name__ == "__main__":
    main()
