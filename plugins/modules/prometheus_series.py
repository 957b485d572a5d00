#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Check that Prometheus holds fresh series of a metric for every expected host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_series
short_description: Check that Prometheus has fresh samples of a metric from every expected host
description:
  - Asks Prometheus which series the metric has, then, per value of a label (by default C(host),
    the label the collection's scrape configuration gives every target), for the time of the
    newest sample of those series, and checks that every expected label value has one no older
    than O(max_age) seconds.
  - A metric's series are the metric itself and, for histograms and summaries, its C(_bucket),
    C(_count) and C(_sum) series.
  - Ages are measured against Prometheus's own clock (the query's evaluation time), so the
    controller's clock does not matter. Prometheus looks back 5 minutes by default (its
    C(--query.lookback-delta)); a series that stopped being exported is gone once its target
    was scraped without it.
  - Waits up to O(wait_timeout) seconds for the series to appear, so a host that has just
    restarted gets scraped; then fails naming every host without a series or with only old samples.
  - Changes nothing.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
  - intelgraph.ops.prometheus
options:
  metric:
    description: The metric's name, e.g. C(subscription_latency_seconds).
    type: str
    required: true
  label:
    description: The label whose values must each have the series.
    type: str
    default: host
  expected:
    description: The values of O(label) that must each have a fresh series, e.g. C(groups['api']).
    type: list
    elements: str
    required: true
  matchers:
    description: "Further label equality matchers narrowing the series, e.g. C({job: intelgraph-api})."
    type: dict
    default: {}
  max_age:
    description: Largest age, in seconds, of the newest sample of each expected label value.
    type: float
    default: 60
  wait_timeout:
    description: Seconds to wait for every expected series to be present and fresh. V(0) checks once.
    type: float
    default: 60
  interval:
    description: Seconds between two queries while waiting.
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Every API host exports the subscription latency metric to Prometheus
  intelgraph.ops.prometheus_series:
    prometheus_url: http://obs1:9090
    metric: subscription_latency_seconds
    expected: "{{ groups['api'] }}"
    max_age: 60

- name: The ingest workers' end-to-end histogram, from the ingest job only
  intelgraph.ops.prometheus_series:
    metric: intelgraph_ingest_end_to_end_seconds
    expected: "{{ groups['ingest'] }}"
    matchers:
      job: intelgraph-ingest
    wait_timeout: 0
"""

RETURN = r"""
query:
  description: The PromQL query naming the metric's series; each name's newest samples are then asked for.
  returned: always
  type: str
  sample: count by (__name__) ({__name__=~"subscription_latency_seconds(?:_bucket|_count|_sum)?"})
ages:
  description: Per label value Prometheus has series for, the age in seconds of its newest sample.
  returned: always
  type: dict
  sample: {"api1": 2.1, "api2": 4.7, "api3": 0.4}
missing:
  description: Expected label values without a series.
  returned: always
  type: list
  elements: str
  sample: []
stale:
  description: Expected label values whose newest sample is older than O(max_age), with its age.
  returned: always
  type: dict
  sample: {}
elapsed:
  description: Seconds waited.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    PrometheusError,
    check_label,
    describe_series,
    prometheus_argument_spec,
    read_sample_ages,
    series_names_query,
    tls_options,
    wait_for_series,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_url


def main() -> None:
    argument_spec = prometheus_argument_spec()
    argument_spec.update(
        metric={"type": "str", "required": True},
        label={"type": "str", "default": "host"},
        expected={"type": "list", "elements": "str", "required": True},
        matchers={"type": "dict", "default": {}},
        max_age={"type": "float", "default": 60.0},
        wait_timeout={"type": "float", "default": 60.0},
        interval={"type": "float", "default": 5.0},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    metric, label, expected = params["metric"], params["label"], params["expected"]
    if not expected:
        module.fail_json(msg="expected is empty: name at least one value of the label, e.g. groups['api'].")
    try:
        query = series_names_query(metric, params["matchers"])
        check_label(label)
    except ValueError as exc:
        module.fail_json(msg=f"Cannot build the query: {exc}.")

    try:
        ages, missing, stale, elapsed = wait_for_series(
            lambda: read_sample_ages(
                params["prometheus_url"],
                metric,
                label,
                params["matchers"],
                params["timeout"],
                tls=tls_options(params),
            ),
            expected,
            params["max_age"],
            params["wait_timeout"],
            params["interval"],
        )
    except PrometheusError as exc:
        module.fail_json(
            msg=f"Prometheus could not answer {query}: {exc}. Is it running at {redact_url(params['prometheus_url'])}?",
            query=query,
        )

    result = {
        "changed": False,
        "query": query,
        "ages": ages,
        "missing": missing,
        "stale": stale,
        "elapsed": round(elapsed, 3),
    }
    if missing or stale:
        module.fail_json(
            msg=(
                f"Prometheus at {redact_url(params['prometheus_url'])} lacks fresh samples after {elapsed:.0f}s: "
                f"{describe_series(metric, label, missing, stale, params['max_age'])}. Check that those "
                f"hosts run a release exporting {metric} and that Prometheus scrapes them (its targets page)."
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
