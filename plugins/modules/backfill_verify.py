#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Compare the backfilled idempotency state of historical ingest batches with their source manifests."""

from __future__ import annotations

DOCUMENTATION = r"""
module: backfill_verify
short_description: Compare backfilled ingest batches in PostgreSQL with their source manifests
description:
  - Reads every source manifest in O(manifest_dir) (one JSON object per historical ingest batch, with
    C(batch_id), C(event_count) and C(tenant)) and compares it, batch by batch, with PostgreSQL after the
    idempotency-state backfill. The batch's row in O(batches_table) must carry the manifest's event count,
    it must have as many idempotency keys in O(keys_table), and the same tenant.
  - Fails naming every batch that differs with the manifest's count and PostgreSQL's counts; returns the
    verified totals either way, for the upgrade's report.
  - Runs on the host holding the manifests (the C(tools) host) and connects from there.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
  - intelgraph.ops.postgres
options:
  manifest_dir:
    description: Directory of the source manifests, on the host the module runs on.
    type: path
    required: true
  manifest_pattern:
    description: Which files of O(manifest_dir) are manifests.
    type: str
    default: "*.json"
  batches_table:
    description: Table with one row per backfilled batch (C(batch_id), C(tenant), C(event_count)).
    type: str
    default: ingest_batches
  keys_table:
    description: Table with one idempotency key per applied event (C(batch_id) per key).
    type: str
    default: ingest_idempotency_keys
  allow_empty:
    description: Succeed when O(manifest_dir) holds no manifest (by default that fails, nothing verified).
    type: bool
    default: false
  fail_on_mismatch:
    description: Fail when a batch differs. With V(false) the result carries C(verified=false) instead.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Verify the backfill against the source manifests
  intelgraph.ops.backfill_verify:
    login_host: db1
    login_db: intelgraph
    login_user: intelgraph
    login_password: "{{ intelgraph_db_password }}"
    manifest_dir: /var/lib/intelgraph/manifests
  register: backfill
"""

RETURN = r"""
verified:
  description: Whether every manifest matched PostgreSQL.
  returned: when the manifests were read
  type: bool
totals:
  description: Batches compared, matched and mismatched; events counted by the manifests, batch rows and keys.
  returned: when the manifests were read
  type: dict
  sample:
    batches: 12
    batches_matched: 12
    batches_mismatched: 0
    manifest_events: 600
    batch_events: 600
    idempotency_keys: 600
batches:
  description: Every batch compared, with the manifest's and PostgreSQL's counts and what differs.
  returned: when the manifests were read
  type: list
  elements: dict
  sample:
    - batch_id: hist-0001
      tenant: acme
      manifest_events: 50
      batch_events: 50
      keys: 50
      problems: []
      ok: true
mismatches:
  description: One line per batch that differs, naming it with both counts.
  returned: when the manifests were read
  type: list
  elements: str
  sample: ["hist-0002 (globex): manifest 51 events, ingest_batches.event_count 50, idempotency keys 50"]
manifest_dir:
  description: The directory the manifests were read from.
  returned: always
  type: str
database:
  description: The database compared, C(name@host:port).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._backfill import (
    ManifestError,
    checks_as_dicts,
    compare,
    db_counts,
    load_manifests,
    mismatch_message,
    totals,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._postgres import (
    connect,
    database_name,
    first_line,
    postgres_argument_spec,
    postgres_error_types,
    qualified_name,
)

try:
    from psycopg import sql
except ImportError:  # pragma: no cover - reported by connect()
    sql = None


def read_counts(conn: object, params: dict, batch_ids: list[str]) -> tuple[list, list]:
    """(ingest_batches rows, idempotency key counts) of the manifests' batches."""
    batches = sql.SQL("SELECT batch_id, tenant, event_count FROM {} WHERE batch_id = ANY(%s)").format(
        qualified_name(params["batches_table"])
    )
    keys = sql.SQL("SELECT batch_id, count(*) FROM {} WHERE batch_id = ANY(%s) GROUP BY batch_id").format(
        qualified_name(params["keys_table"])
    )
    return (
        conn.execute(batches, (batch_ids,)).fetchall(),
        conn.execute(keys, (batch_ids,)).fetchall(),
    )


def main() -> None:
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        manifest_dir={"type": "path", "required": True},
        manifest_pattern={"type": "str", "default": "*.json"},
        batches_table={"type": "str", "default": "ingest_batches"},
        keys_table={"type": "str", "default": "ingest_idempotency_keys", "no_log": False},
        allow_empty={"type": "bool", "default": False},
        fail_on_mismatch={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    database = database_name(params)
    base = {"changed": False, "database": database, "manifest_dir": params["manifest_dir"]}

    try:
        manifests = load_manifests(params["manifest_dir"], params["manifest_pattern"])
    except ManifestError as exc:
        module.fail_json(msg=f"Cannot verify the backfill: {exc}. Fix or remove that manifest.", **base)
    if not manifests and not params["allow_empty"]:
        module.fail_json(
            msg=(
                f"No manifest matching {params['manifest_pattern']} in {params['manifest_dir']}, so nothing "
                "can be verified. Point manifest_dir at the source manifests of the historical batches."
            ),
            **base,
        )

    conn = connect(module, "intelgraph.ops.backfill_verify", **base)
    try:
        batch_rows, key_rows = read_counts(conn, params, [m.batch_id for m in manifests])
    except postgres_error_types() as exc:
        module.fail_json(
            msg=(
                f"Cannot read {params['batches_table']} and {params['keys_table']} in {database}: "
                f"{first_line(exc)}. Have the migrations and the backfill run?"
            ),
            **base,
        )
    finally:
        conn.close()

    checks = compare(manifests, db_counts(batch_rows, key_rows))
    message = mismatch_message(checks)
    result = {
        **base,
        "verified": not message,
        "totals": totals(checks),
        "batches": checks_as_dicts(checks),
        "mismatches": [check.describe() for check in checks if not check.ok],
    }
    if message and params["fail_on_mismatch"]:
        module.fail_json(msg=message, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
