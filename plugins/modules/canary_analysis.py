#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Judge the canary of a rollout by its metrics against the hosts still on the previous release."""

from __future__ import annotations

DOCUMENTATION = r"""
module: canary_analysis
short_description: Compare the canary hosts' metrics, read from Prometheus, with the previous release's
description:
  - >-
    Run when the canary batch of a rollout is back in service. Waits O(bake) seconds, then runs each
    metric's query twice as an instant query against Prometheus, evaluated at the end of the bake: once
    for the canary hosts (O(canary)) and once for the hosts still on the previous release (O(baseline)),
    and compares the two values.
  - In a query, C($hosts) is replaced by the hosts' names as a regular expression alternation, each
    name escaped, written for a double-quoted PromQL string (C({host=~"$hosts"})), C($window) by
    O(window) in seconds (C(60s)), and C($label) by O(label) (C({$label=~"$hosts"})). A query should
    aggregate into one series; the values of several series are added up.
  - No data is never a pass. A query answering no series, or only NaN or Inf, and a query Prometheus
    does not answer or refuses, leave the comparison C(nodata), which does not pass.
  - With O(load), requests are sent through the load balancer during the bake, so that the canary and
    the previous release both serve traffic to measure when real traffic is low. What they answered is
    reported; it does not fail the module.
  - Fails when a comparison does not pass, unless O(fail_on_failure=false).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.prometheus
options:
  canary:
    description: The values of O(label) (inventory host names) of the canary hosts, at least one.
    type: list
    elements: str
    required: true
  baseline:
    description: The values of O(label) of the hosts still on the previous release, at least one.
    type: list
    elements: str
    required: true
  label:
    description: The label naming a host in the series, which C($label) stands for in the queries.
    type: str
    default: host
  bake:
    description: Seconds to wait, sending O(load) if given, before the metrics are read.
    type: int
    default: 60
  window:
    description: The range, in seconds, that C($window) stands for in the queries; defaults to O(bake), at least 1.
    type: int
  metrics:
    description: The metrics to compare, at least one.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the metric, as reported.
        type: str
        required: true
      query:
        description: PromQL instant query, with C($hosts), C($window) and C($label).
        type: str
        required: true
      compare:
        description:
          - V(ratio) fails when max(canary, O(metrics[].floor)) / max(baseline, O(metrics[].floor)) is more
            than O(metrics[].limit); when both are 0 the ratio is 1, and a canary above a baseline of 0 fails.
          - V(delta) fails when canary - baseline is more than O(metrics[].limit).
        type: str
        choices: [ratio, delta]
        required: true
      limit:
        description: The most the ratio or the difference may be.
        type: float
        required: true
      floor:
        description: With V(ratio), values under it count as it (a p95 of a few milliseconds is noise).
        type: float
        default: 0
      unit:
        description: Unit of the values, shown after them in the reasons (V(s) for seconds).
        type: str
        default: ""
      limit_name:
        description: Name of the variable the limit comes from, shown in the reason of a failure.
        type: str
        default: ""
  load:
    description:
      - Requests sent through the load balancer during the bake, O(load.rate) a second, each on a new
        connection, from up to 16 threads so that a slow answer does not hold up the next request.
      - Each round sends every request of O(load.requests) once, in an order drawn anew for the round, so that a
        load balancer taking its servers in turn gives each server every kind of request.
      - Not sent in check mode.
    type: dict
    suboptions:
      url:
        description: Base URL (C(http://) or C(https://), its certificate verified with the system's CAs) the requests' paths are added to.
        type: str
        required: true
      rate:
        description: Requests a second (more than 0).
        type: float
        required: true
      timeout:
        description: Seconds to wait for each answer.
        type: float
        default: 2
      requests:
        description: The requests, each sent once a round.
        type: list
        elements: dict
        required: true
        suboptions:
          method:
            description: HTTP method.
            type: str
            default: GET
          path:
            description: Path below O(load.url).
            type: str
            required: true
          headers:
            description: Request headers.
            type: dict
            default: {}
          body:
            description: A JSON value sent as the body, with C(Content-Type) C(application/json).
            type: raw
  fail_on_failure:
    description:
      - Fail the task when a comparison fails or has no data. With V(false) the result carries RV(passed)
        instead (for a run with C(async) whose result is read later).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: In check mode it sends no load, does not wait and judges nothing; it returns RV(skipped).
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: It never reports a change; O(load) is traffic the API serves as any other.
seealso:
  - module: intelgraph.ops.slo_gate
"""

EXAMPLES = r"""
- name: Compare the canary with the previous release after a minute
  intelgraph.ops.canary_analysis:
    prometheus_url: http://127.0.0.1:9090
    canary: [api1]
    baseline: [api2, api3]
    bake: 60
    metrics:
      - name: read_p95
        query: >-
          histogram_quantile(0.95, sum by (le) (rate(intelgraph_http_request_duration_seconds_bucket{kind="read",
          host=~"$hosts"}[$window])))
        compare: ratio
        limit: 1.5
        floor: 0.05
        unit: s
        limit_name: rollout_canary_max_ratio
      - name: error_rate
        query: >-
          sum(rate(intelgraph_http_requests_total{code=~"5..", host=~"$hosts"}[$window]))
          / sum(rate(intelgraph_http_requests_total{host=~"$hosts"}[$window]))
        compare: delta
        limit: 0.01
        limit_name: rollout_canary_max_error_delta
    load:
      url: http://lb.example.net
      rate: 5
      requests:
        - path: /api/v1/search?q=status
        - method: POST
          path: /api/v1/entities/lookup
          body: {ids: ["e-1"]}
  delegate_to: "{{ groups['observability'][0] }}"
  run_once: true
  register: canary_analysis
"""

RETURN = r"""
passed:
  description: Whether every comparison passed.
  returned: always
  type: bool
skipped:
  description: True in check mode, where nothing is judged.
  returned: in check mode
  type: bool
metrics:
  description:
    - Per metric, what was measured and the verdict, C(pass), C(fail) or C(nodata), with its reason.
    - C(canary), C(baseline) and C(score) are null without data; C(score) is also null for an infinite ratio
      (a canary above a baseline of 0).
  returned: always
  type: list
  elements: dict
  sample:
    - name: read_p95
      compare: ratio
      unit: s
      limit: 1.5
      limit_name: rollout_canary_max_ratio
      floor: 0.0
      canary: 0.0041
      baseline: 0.0039
      score: 1.0513
      status: pass
      reason: "read_p95 on the canary (api1) 0.0041 s, on the previous release (api2, api3) 0.0039 s: 1.05 times, at most 1.5"
canary:
  description: The canary hosts.
  returned: always
  type: list
  elements: str
baseline:
  description: The hosts on the previous release.
  returned: always
  type: list
  elements: str
bake:
  description: Seconds of the bake.
  returned: always
  type: int
window:
  description: Seconds of the queries' C($window).
  returned: always
  type: int
started_at:
  description: Start of the bake, ISO 8601 in UTC.
  returned: always
  type: str
  sample: "2026-11-27T19:00:00Z"
ended_at:
  description: End of the bake, the time the queries are evaluated at, ISO 8601 in UTC.
  returned: always
  type: str
  sample: "2026-11-27T19:01:00Z"
load:
  description:
    - What the load sent and how it was answered; null without O(load) and in check mode.
    - C(unanswered) counts the requests without an answer (no connection, a timeout); C(by_status) the answered
      ones by status code.
  returned: always
  type: dict
  sample: {sent: 300, answered: 299, errors_5xx: 1, unanswered: 1, by_status: {"200": 298, "503": 1}}
msg:
  description: The reasons of the comparisons that did not pass, joined by C(; ), or a line saying all passed.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._canary import (
    PASS,
    Comparison,
    LoadTarget,
    render,
    send_load,
    summary,
    vector_value,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    PrometheusError,
    check_label,
    instant,
    prometheus_argument_spec,
    tls_options,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._window import iso


def main() -> None:
    argument_spec = prometheus_argument_spec()
    argument_spec.update(
        canary={"type": "list", "elements": "str", "required": True},
        baseline={"type": "list", "elements": "str", "required": True},
        label={"type": "str", "default": "host"},
        bake={"type": "int", "default": 60},
        window={"type": "int"},
        metrics={
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "query": {"type": "str", "required": True},
                "compare": {"type": "str", "choices": ["ratio", "delta"], "required": True},
                "limit": {"type": "float", "required": True},
                "floor": {"type": "float", "default": 0.0},
                "unit": {"type": "str", "default": ""},
                "limit_name": {"type": "str", "default": ""},
            },
        },
        load={
            "type": "dict",
            "options": {
                "url": {"type": "str", "required": True},
                "rate": {"type": "float", "required": True},
                "timeout": {"type": "float", "default": 2.0},
                "requests": {
                    "type": "list",
                    "elements": "dict",
                    "required": True,
                    "options": {
                        "method": {"type": "str", "default": "GET"},
                        "path": {"type": "str", "required": True},
                        "headers": {"type": "dict", "default": {}},
                        "body": {"type": "raw"},
                    },
                },
            },
        },
        fail_on_failure={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    canary, baseline, bake = params["canary"], params["baseline"], params["bake"]
    window = params["window"] if params["window"] is not None else max(1, bake)
    if not canary or not baseline or not params["metrics"]:
        module.fail_json(
            msg="canary and baseline must each name at least one host, and metrics list a metric"
        )
    both = sorted(set(canary) & set(baseline))
    if both:
        module.fail_json(msg=f"a host cannot be both canary and baseline: {', '.join(both)}")
    if bake < 0 or window < 1:
        module.fail_json(
            msg=f"bake must not be negative and window must be at least 1 (got {bake}, {window})"
        )
    try:
        check_label(params["label"])
        comparisons = [Comparison(**metric) for metric in params["metrics"]]
        target = LoadTarget.from_options(**params["load"]) if params["load"] else None
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    outcome = {"changed": False, "canary": canary, "baseline": baseline, "bake": bake, "window": window}
    started = time.time()
    if module.check_mode:
        now = iso(started)
        module.exit_json(
            passed=True,
            skipped=True,
            metrics=[],
            started_at=now,
            ended_at=now,
            load=None,
            msg="check mode: the canary is not judged",
            **outcome,
        )

    load = None
    if target:
        load = send_load(target, bake).as_dict()
    else:
        time.sleep(bake)
    ended = time.time()
    results = []
    for comparison in comparisons:
        try:
            on_canary, on_baseline = (
                vector_value(
                    instant(
                        params["prometheus_url"],
                        render(comparison.query, hosts, window, params["label"]),
                        params["timeout"],
                        at=ended,
                        tls=tls_options(params),
                    )
                )
                for hosts in (canary, baseline)
            )
            results.append(comparison.judge(on_canary, on_baseline, canary, baseline, window))
        except PrometheusError as exc:
            results.append(comparison.unanswered(str(exc)))
    passed = all(r["status"] == PASS for r in results)
    outcome.update(
        passed=passed,
        metrics=results,
        started_at=iso(started),
        ended_at=iso(ended),
        load=load,
        msg=summary(results, canary, baseline, bake),
    )
    if not passed and params["fail_on_failure"]:
        module.fail_json(**outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
