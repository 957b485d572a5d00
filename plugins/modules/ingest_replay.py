#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Replay an already applied ingest batch per tenant and prove it is applied once."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ingest_replay
short_description: Replay one ingest batch of each representative tenant and check idempotency
description:
  - For each tenant, picks its most recent ingest batch that finished more than O(settle_seconds)
    ago (or the batch named in O(batches)), reads the batch's events from PostgreSQL, and adds
    them again, with their original event ids, to the ingest stream.
  - Waits until the consumer group has read and acknowledged every replayed entry, then counts
    the batch's rows in C(ingest_events) again. The replay passes when no row was added, that is,
    when every replayed event was recognised by its idempotency key and applied once.
  - Reads the Redis and PostgreSQL connection strings (C(REDIS_URL), C(DATABASE_URL)) from an env
    file on the host, so no password passes through Ansible.
  - The values of O(env_file) that are secrets (variables named like a password, secret or token, and
    the passwords of URLs) are masked in everything the module returns, as M(intelgraph.ops.db_migrate)
    masks them, and URLs in its messages are shown without their userinfo.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
options:
  tenants:
    description: The representative tenants.
    type: list
    elements: str
    required: true
  batches:
    description: Tenant to batch id, for tenants whose batch is chosen rather than picked.
    type: dict
    default: {}
  env_file:
    description: Env file holding C(REDIS_URL) and C(DATABASE_URL).
    type: path
    default: /etc/intelgraph/workspace.env
  stream:
    description: The ingest stream.
    type: str
    default: "intelgraph:ingest"
  group:
    description: The ingest workers' consumer group.
    type: str
    default: ingest-workers
  settle_seconds:
    description: A batch is picked only when its last event was applied at least this long ago.
    type: int
    default: 30
  timeout:
    description: Seconds to wait for the workers to consume the replayed entries (more than 0).
    type: int
    default: 120
requirements:
  - redis and psycopg (3) Python libraries on the host
attributes:
  check_mode:
    support: full
    description: In check mode the batches are picked and counted but nothing is replayed.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: none
    description: Every run replays the batches again (which, when idempotency works, changes no row).
"""

EXAMPLES = r"""
- name: Replay a batch of two representative tenants
  intelgraph.ops.ingest_replay:
    tenants: [acme, globex]
  register: replay
"""

RETURN = r"""
replays:
  description: Per tenant, the batch replayed and its row counts before and after.
  returned: always
  type: list
  elements: dict
  sample:
    - tenant: acme
      batch_id: live-acme-12
      events: 17
      rows_before: 17
      rows_after: 17
      applied_once: true
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.intelgraph.ops.plugins.module_utils._migrate import env_secrets
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_text
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors

try:
    import psycopg
    import redis

    HAS_LIBS = True
    LIBS_ERROR = None
except ImportError:
    HAS_LIBS = False
    LIBS_ERROR = traceback.format_exc()

PICK_BATCH = """
SELECT batch_id FROM ingest_events WHERE tenant = %s
GROUP BY batch_id HAVING max(applied_at) < now() - make_interval(secs => %s)
ORDER BY max(applied_at) DESC LIMIT 1
"""
BATCH_EVENTS = """
SELECT DISTINCT ON (event_id) event_id, tenant, batch_id, payload::text FROM ingest_events
WHERE batch_id = %s ORDER BY event_id, id
"""
COUNT_ROWS = "SELECT count(*) FROM ingest_events WHERE batch_id = %s"


def read_env_file(path: str) -> dict[str, str]:
    """NAME=value lines of an env file (comments and blank lines skipped)."""
    values = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, _sep, value = line.partition("=")
                values[name.strip()] = value.strip().strip("'\"")
    return values


def consumed(client, stream: str, group: str, first: str, last: str) -> bool:
    """Whether the group has delivered everything up to `last` and holds none of the
    entries from `first` to `last` unacknowledged."""
    groups = {g["name"]: g for g in client.xinfo_groups(stream)}
    info = groups.get(group)
    if info is None:
        return False
    delivered = info["last-delivered-id"]
    if tuple(map(int, delivered.split("-"))) < tuple(map(int, last.split("-"))):
        return False
    return not client.xpending_range(stream, group, min=first, max=last, count=1)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "tenants": {"type": "list", "elements": "str", "required": True},
            "batches": {"type": "dict", "default": {}},
            "env_file": {"type": "path", "default": "/etc/intelgraph/workspace.env"},
            "stream": {"type": "str", "default": "intelgraph:ingest"},
            "group": {"type": "str", "default": "ingest-workers"},
            "settle_seconds": {"type": "int", "default": 30},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    if not HAS_LIBS:
        module.fail_json(msg=missing_required_lib("redis and psycopg"), exception=LIBS_ERROR)
    params = module.params
    problems = timeout_errors({"timeout": params["timeout"]})
    if problems:
        module.fail_json(msg=f"Bad option: {'; '.join(problems)}.")
    try:
        env = read_env_file(params["env_file"])
        module.no_log_values.update(env_secrets(env))
        database_url, redis_url = env["DATABASE_URL"], env["REDIS_URL"]
    except (OSError, KeyError) as exc:
        module.fail_json(msg=f"{params['env_file']} must hold DATABASE_URL and REDIS_URL ({exc})")

    replays = []
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as db:
            client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
            for tenant in params["tenants"]:
                batch = params["batches"].get(tenant)
                if batch is None:
                    row = db.execute(PICK_BATCH, (tenant, params["settle_seconds"])).fetchone()
                    if row is None:
                        module.fail_json(
                            msg=f"tenant {tenant} has no ingest batch older than "
                            f"{params['settle_seconds']} s to replay",
                            replays=replays,
                        )
                    batch = row[0]
                events = db.execute(BATCH_EVENTS, (batch,)).fetchall()
                if not events:
                    module.fail_json(
                        msg=f"batch {batch} of tenant {tenant} has no event in ingest_events", replays=replays
                    )
                before = db.execute(COUNT_ROWS, (batch,)).fetchone()[0]
                entry = {"tenant": tenant, "batch_id": batch, "events": len(events), "rows_before": before}
                if module.check_mode:
                    replays.append(entry)
                    continue
                ids = [
                    client.xadd(
                        params["stream"],
                        {
                            "event_id": event_id,
                            "tenant": event_tenant,
                            "batch_id": batch_id,
                            "payload": payload,
                            "produced_at": str(time.time()),
                            "replay": "1",
                        },
                    )
                    for event_id, event_tenant, batch_id, payload in events
                ]
                deadline = time.monotonic() + params["timeout"]
                while not consumed(client, params["stream"], params["group"], ids[0], ids[-1]):
                    if time.monotonic() > deadline:
                        module.fail_json(
                            msg=f"the ingest workers did not consume the replay of batch {batch} "
                            f"within {params['timeout']} s; are they running?",
                            replays=replays,
                        )
                    time.sleep(0.5)
                after = db.execute(COUNT_ROWS, (batch,)).fetchone()[0]
                entry.update(rows_after=after, applied_once=after == before)
                replays.append(entry)
    except (psycopg.Error, redis.RedisError) as exc:
        module.fail_json(msg=f"ingest replay failed: {redact_text(str(exc))}", replays=replays)

    twice = [r for r in replays if r.get("applied_once") is False]
    result = {"changed": not module.check_mode, "replays": replays}
    if twice:
        module.fail_json(
            msg="replayed events were applied again: "
            + "; ".join(
                f"batch {r['batch_id']} of {r['tenant']} went from {r['rows_before']} to "
                f"{r['rows_after']} rows"
                for r in twice
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
