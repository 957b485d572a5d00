#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Hold the fleet to its SLOs over an observation window."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slo_gate
short_description: Evaluate SLO gates from Prometheus over an observation window
description:
  - Evaluates every gate's PromQL query every O(interval) seconds for O(window) seconds and judges
    each gate by what it measured. A gate fails when more than O(failure_limit) of its measurements
    break its threshold.
  - No data is never a pass. A gate with fewer than O(min_samples) measurements (no series, or NaN as
    from a histogram without observations) is C(inconclusive), and an inconclusive gate fails the task
    unless O(fail_on_inconclusive=false).
  - Returns every measured value of every gate, for the release report.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.prometheus
options:
  gates:
    description: The gates.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the gate, as reported.
        type: str
        required: true
      query:
        description: PromQL instant query; a query with several series is judged by its worst one.
        type: str
        required: true
      threshold:
        description: The target.
        type: float
        required: true
      direction:
        description: V(below) means the value must be at most O(gates[].threshold); V(above), at least.
        type: str
        choices: [below, above]
        default: below
  window:
    description: Length of the observation window in seconds. The release note asks for 30 minutes.
    type: int
    default: 1800
  interval:
    description: Seconds between two evaluations.
    type: int
    default: 30
  min_samples:
    description: Measurements a gate needs to pass; defaults to half the evaluations the window holds (at least 1).
    type: int
  failure_limit:
    description: Failing measurements a gate tolerates.
    type: int
    default: 0
  fail_on_inconclusive:
    description: Fail the task when a gate is inconclusive.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Queries only read; in check mode each gate is evaluated once, without waiting out the window.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: It never changes anything.
"""

EXAMPLES = r"""
- name: Hold read and write latency for 30 minutes
  intelgraph.ops.slo_gate:
    prometheus_url: http://prometheus.example.net:9090
    window: 1800
    interval: 30
    gates:
      - name: read_p95
        query: histogram_quantile(0.95, sum by (le) (rate(intelgraph_http_request_duration_seconds_bucket{kind="read"}[5m])))
        threshold: 0.3
      - name: error_rate
        query: sum(rate(intelgraph_http_requests_total{code=~"5.."}[5m])) / sum(rate(intelgraph_http_requests_total[5m]))
        threshold: 0.01
  register: slo
"""

RETURN = r"""
passed:
  description: Whether every gate passed.
  returned: always
  type: bool
gates:
  description: Per gate, its verdict (C(pass), C(fail), C(inconclusive)) and every value measured.
  returned: always
  type: list
  elements: dict
  sample:
    - name: read_p95
      status: pass
      threshold: 0.3
      direction: below
      worst: 0.012
      last: 0.009
      samples: 60
      evaluations: 60
      failures: 0
      values: [0.009, 0.012]
window:
  description: Start and end (Unix seconds) of the observation.
  returned: always
  type: dict
"""

import math
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    PrometheusError,
    instant,
    prometheus_argument_spec,
    tls_options,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._slo import FAIL, INCONCLUSIVE, Gate, describe


def main() -> None:
    argument_spec = prometheus_argument_spec()
    argument_spec.update(
        gates={
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "query": {"type": "str", "required": True},
                "threshold": {"type": "float", "required": True},
                "direction": {"type": "str", "choices": ["below", "above"], "default": "below"},
            },
        },
        window={"type": "int", "default": 1800},
        interval={"type": "int", "default": 30},
        min_samples={"type": "int"},
        failure_limit={"type": "int", "default": 0},
        fail_on_inconclusive={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params["interval"] < 1 or params["window"] < 0:
        module.fail_json(
            msg=f"interval must be at least 1 and window not negative (got {params['interval']}, "
            f"{params['window']})"
        )
    gates = [Gate(g["name"], g["query"], g["threshold"], g["direction"]) for g in params["gates"]]
    rounds = 1 if module.check_mode else max(1, math.floor(params["window"] / params["interval"]) + 1)
    min_samples = params["min_samples"] or max(1, rounds // 2)

    started = time.time()
    for number in range(rounds):
        round_started = time.monotonic()
        for gate in gates:
            try:
                values = [
                    s["value"]
                    for s in instant(
                        params["prometheus_url"], gate.query, params["timeout"], tls=tls_options(params)
                    )
                ]
            except PrometheusError as exc:
                if "bad_data" in str(exc):
                    module.fail_json(
                        msg=f"gate {gate.name}: Prometheus rejected the query {gate.query!r}: {exc}"
                    )
                values = []
            gate.record(values)
        if number < rounds - 1:
            time.sleep(max(0.0, params["interval"] - (time.monotonic() - round_started)))

    results = [g.verdict(min_samples, params["failure_limit"]) for g in gates]
    failed = [r for r in results if r["status"] == FAIL]
    inconclusive = [r for r in results if r["status"] == INCONCLUSIVE]
    outcome = {
        "changed": False,
        "passed": not failed and not inconclusive,
        "gates": results,
        "window": {"start": started, "end": time.time(), "rounds": rounds, "min_samples": min_samples},
    }
    if failed or (inconclusive and params["fail_on_inconclusive"]):
        module.fail_json(msg="; ".join(describe(r) for r in failed + inconclusive), **outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
