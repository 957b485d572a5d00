#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Wait until a Redis stream's consumer group has handled everything queued for it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: queue_drain
short_description: Wait until a Redis stream consumer group's queue has drained
description:
  - Waits until a consumer group of a Redis stream has no pending entries (delivered to a consumer
    and not acknowledged) and no lag (entries added after the last one delivered to the group), or
    until both are within the given limits. Use it before restarting a quiesced worker, so no
    message is held by the worker that restarts and no backlog waits for it.
  - Pending and lag come from C(XINFO GROUPS) (Redis 7 reports the lag); where Redis reports no
    lag, the entries after the group's C(last-delivered-id) are counted with C(XRANGE). With
    O(consumer), pending counts that consumer's own entries (C(XPENDING)).
  - With O(quiesced_consumers), the entries those consumers hold are left pending for a retry
    and not counted against O(max_pending) (see there); the result counts them in RV(pending_retry).
  - Fails after O(timeout) seconds with the queue's numbers (pending, lag, stream length and every
    consumer's pending count and idle time); the result carries them either way.
  - Changes nothing. It waits in check mode too.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.redis
options:
  stream:
    description: The stream's key, e.g. C(intelgraph:ingest).
    type: str
    required: true
  group:
    description: The consumer group, e.g. C(ingest-workers).
    type: str
    required: true
  consumer:
    description:
      - Count only this consumer's pending entries instead of the whole group's. The lag is the
        group's either way.
    type: str
  max_pending:
    description:
      - Largest number of pending entries that counts as drained; a negative value is not checked.
      - The entries left for a retry (O(quiesced_consumers)) are not counted.
    type: int
    default: 0
  quiesced_consumers:
    description:
      - Consumers of the group that take no entry and process none now (an ingest worker that
        reports itself quiesced with nothing in flight). Whatever they still hold pending was
        delivered, failed and waits for its retry; no wait makes it go, as none of them takes
        anything, and it stays in the group's pending entries until a consumer claims it again.
        Those entries are left pending, counted in RV(pending_retry) and not against O(max_pending).
      - Bounded by what each held at the first measurement; entries such a consumer takes after
        that count as pending like any other's. Entries held by any other consumer must drain.
      - Name only consumers checked quiesced just before; one that still runs may be processing
        what it holds.
    type: list
    elements: str
    default: []
  max_lag:
    description: Largest lag that counts as drained; a negative value is not checked.
    type: int
    default: 0
  timeout:
    description: Seconds to wait for the queue to drain. V(0) measures once.
    type: float
    default: 120
  interval:
    description: Seconds between two measurements.
    type: float
    default: 0.5
  fail_on_timeout:
    description:
      - Fail when the queue has not drained in time. With V(false) the result says C(drained=false) instead.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The module only reads; it waits in check mode as it does otherwise.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  idempotent:
    support: full
    description: It never changes anything.
"""

EXAMPLES = r"""
- name: Wait until the ingest workers have handled every queued event
  intelgraph.ops.queue_drain:
    login_host: "{{ intelgraph_redis_host }}"
    login_password: "{{ intelgraph_redis_password }}"
    stream: intelgraph:ingest
    group: ingest-workers
    timeout: 120

- name: Only this worker must hold nothing; tolerate a backlog of up to 500 entries
  intelgraph.ops.queue_drain:
    login_host: "{{ intelgraph_redis_host }}"
    login_password: "{{ intelgraph_redis_password }}"
    stream: intelgraph:ingest
    group: ingest-workers
    consumer: "{{ inventory_hostname }}"
    max_lag: 500

- name: Every worker is quiesced with nothing in flight; what they hold waits for a retry
  intelgraph.ops.queue_drain:
    login_host: "{{ intelgraph_redis_host }}"
    login_password: "{{ intelgraph_redis_password }}"
    stream: intelgraph:ingest
    group: ingest-workers
    max_lag: -1
    quiesced_consumers: [ingest1, ingest2]
"""

RETURN = r"""
drained:
  description: Whether pending and lag reached their limits.
  returned: always
  type: bool
stream:
  description: The stream.
  returned: always
  type: str
group:
  description: The consumer group.
  returned: always
  type: str
pending:
  description:
    - Pending entries at the last measurement (the consumer's, with O(consumer)), those left for a
      retry (RV(pending_retry)) included.
  returned: when the queue was measured
  type: int
  sample: 0
pending_retry:
  description:
    - Of RV(pending), the entries held by O(quiesced_consumers) at the last measurement (each
      consumer's at most as many as at the first), failed deliveries left pending for a retry.
  returned: when the queue was measured
  type: int
  sample: 1
pending_retry_by:
  description: RV(pending_retry) by consumer, those holding none left out.
  returned: when the queue was measured
  type: dict
  sample: {"ingest2": 1}
lag:
  description: Entries not yet delivered to the group at the last measurement.
  returned: when the queue was measured
  type: int
  sample: 0
lag_source:
  description: Where the lag came from, C(xinfo) or C(xrange) (counted).
  returned: when the queue was measured
  type: str
length:
  description: The stream's length (C(XLEN)).
  returned: when the queue was measured
  type: int
  sample: 1024
last_delivered_id:
  description: The group's last delivered entry id.
  returned: when the queue was measured
  type: str
consumers:
  description: The group's consumers with their pending entries and idle time.
  returned: when the queue was measured
  type: list
  elements: dict
  sample: [{"name": "ingest1", "pending": 0, "idle_ms": 120}]
elapsed:
  description: Seconds waited.
  returned: when the queue was measured
  type: float
samples:
  description: How many times the queue was measured.
  returned: when the queue was measured
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._queue import (
    QueueError,
    describe,
    measure,
    wait_until_drained,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    connect,
    node_name,
    redis_argument_spec,
    redis_error_types,
)


def main() -> None:
    argument_spec = redis_argument_spec()
    argument_spec.update(
        stream={"type": "str", "required": True},
        group={"type": "str", "required": True},
        consumer={"type": "str"},
        max_pending={"type": "int", "default": 0},
        max_lag={"type": "int", "default": 0},
        timeout={"type": "float", "default": 120.0},
        interval={"type": "float", "default": 0.5},
        fail_on_timeout={"type": "bool", "default": True},
        quiesced_consumers={"type": "list", "elements": "str", "default": []},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params["timeout"] < 0 or params["interval"] <= 0:
        module.fail_json(msg="timeout must be 0 or more and interval more than 0 seconds.")
    node = node_name(params)
    stream, group = params["stream"], params["group"]
    base = {"changed": False, "drained": False, "stream": stream, "group": group}

    client = connect(module)
    try:
        outcome = wait_until_drained(
            lambda: measure(client, stream, group, params["consumer"]),
            params["max_pending"],
            params["max_lag"],
            params["timeout"],
            params["interval"],
            quiesced=frozenset(params["quiesced_consumers"]),
        )
    except QueueError as exc:
        module.fail_json(
            msg=f"Cannot measure the queue on Redis {node}: {exc}. Check the stream and group names.", **base
        )
    except redis_error_types() as exc:
        module.fail_json(
            msg=f"Redis {node} did not answer while measuring stream '{stream}': {exc}. Is the primary up?",
            **base,
        )

    state = outcome.state.as_dict()
    state.pop("consumer")
    result = {
        **base,
        **state,
        "drained": outcome.drained,
        "elapsed": round(outcome.elapsed, 3),
        "samples": outcome.samples,
    }
    if not outcome.drained and params["fail_on_timeout"]:
        limits = f"max_pending={params['max_pending']} max_lag={params['max_lag']}"
        module.fail_json(
            msg=(
                f"Stream '{stream}' group '{group}' did not drain within {params['timeout']:g}s ({limits}): "
                f"{describe(outcome.state)}. Check that the group's other consumers run and keep up "
                "(a quiesced or stopped worker takes nothing), then run again or raise the timeout."
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
