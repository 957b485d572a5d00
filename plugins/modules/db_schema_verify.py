#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Check that a PostgreSQL database has the tables and columns a release expects."""

from __future__ import annotations

DOCUMENTATION = r"""
module: db_schema_verify
short_description: Check that a database has the tables and columns a release expects
description:
  - Reads C(information_schema.columns) of one schema and checks that every table of O(tables) exists
    with every column listed for it. Extra tables and columns are allowed.
  - Fails naming every missing table and column, so a migration that did not create what the release
    needs stops the run before a service restarts onto it.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.attributes.readonly
  - intelgraph.ops.postgres
options:
  tables:
    description:
      - "The expected schema, C({table: [column, ...]}). A table listing no column is only checked to exist."
    type: dict
    required: true
  schema:
    description: The schema the tables live in.
    type: str
    default: public
"""

EXAMPLES = r"""
- name: Check the ingestion idempotency metadata tables
  intelgraph.ops.db_schema_verify:
    login_host: db1
    login_db: intelgraph
    login_user: intelgraph
    login_password: "{{ intelgraph_db_password }}"
    tables:
      ingest_idempotency_keys: [idempotency_key, event_id, tenant, batch_id, applied_at]
      ingest_batches: [batch_id, tenant, event_count, state, backfilled_at]
"""

RETURN = r"""
tables:
  description: The columns found for each expected table that exists.
  returned: always
  type: dict
  sample: {"ingest_batches": ["backfilled_at", "batch_id", "event_count", "state", "tenant"]}
problems:
  description: What the database lacks, one line per table.
  returned: always
  type: list
  elements: str
  sample: ["table ingest_batches lacks column backfilled_at"]
database:
  description: The database checked, C(name@host:port).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._postgres import (
    COLUMNS_SQL,
    connect,
    database_name,
    first_line,
    normalise_expected_schema,
    postgres_argument_spec,
    postgres_error_types,
    present_columns,
    schema_problems,
)


def main() -> None:
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        tables={"type": "dict", "required": True},
        schema={"type": "str", "default": "public"},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    database = database_name(module.params)
    try:
        expected = normalise_expected_schema(module.params["tables"])
    except ValueError as exc:
        module.fail_json(msg=f"Bad option tables: {exc}. Give it as {{table: [column, ...]}}.")

    conn = connect(module, "intelgraph.ops.db_schema_verify", database=database)
    try:
        rows = conn.execute(COLUMNS_SQL, (module.params["schema"], list(expected))).fetchall()
    except postgres_error_types() as exc:
        module.fail_json(msg=f"Cannot read the schema of {database}: {first_line(exc)}.")
    finally:
        conn.close()

    present = {table: sorted(columns) for table, columns in present_columns(rows).items()}
    problems = schema_problems(expected, present)
    result = {"changed": False, "database": database, "tables": present, "problems": problems}
    if problems:
        module.fail_json(
            msg=(
                f"Database {database} (schema {module.params['schema']}) lacks what the release expects: "
                f"{'; '.join(problems)}. Check the migrations' output and the schema_migrations ledger, "
                "apply the missing migration, then run again."
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
