# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the collection's PostgreSQL modules: connection options (documented in
the intelgraph.ops.postgres doc fragment), advisory lock bookkeeping and the pure logic that
judges a schema against what is expected of it."""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import psycopg
    from psycopg import sql

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

LOCK_HOLDER_SQL = """
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'),
       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1
"""

COLUMNS_SQL = """
SELECT table_name, column_name
  FROM information_schema.columns
 WHERE table_schema = %s AND table_name = ANY(%s)
"""


def postgres_argument_spec() -> dict[str, dict[str, Any]]:
    """Connection options, documented in the intelgraph.ops.postgres doc fragment."""
    return {
        "login_host": {"type": "str", "default": "localhost"},
        "login_port": {"type": "int", "default": 5432},
        "login_db": {"type": "str", "default": "postgres"},
        "login_user": {"type": "str", "default": "postgres"},
        "login_password": {"type": "str", "no_log": True},
        "ssl_mode": {"type": "str", "default": "prefer", "choices": SSL_MODES},
        "ca_cert": {"type": "path"},
        "connect_timeout": {"type": "int", "default": 10},
    }


def database_name(params: Mapping[str, Any]) -> str:
    """How messages name the database: ``db@host:port``."""
    return f"{params['login_db']}@{params['login_host']}:{params['login_port']}"


def connect_kwargs(params: Mapping[str, Any], application_name: str) -> dict[str, Any]:
    """psycopg.connect() keyword arguments for the module's connection options."""
    kwargs: dict[str, Any] = {
        "host": params["login_host"],
        "port": params["login_port"],
        "dbname": params["login_db"],
        "user": params["login_user"],
        "sslmode": params["ssl_mode"],
        "connect_timeout": params["connect_timeout"],
        "application_name": application_name,
        "autocommit": True,
    }
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("ca_cert"):
        kwargs["sslrootcert"] = params["ca_cert"]
    return kwargs


def connect(module: AnsibleModule, application_name: str, **result: Any) -> Any:
    """An autocommit connection for the module's options. Fails the module, saying what to
    check (and returning ``result``), when psycopg is missing or the server cannot be reached."""
    if not HAS_PSYCOPG:
        module.fail_json(
            msg=missing_required_lib("psycopg (python3-psycopg)"), exception=PSYCOPG_IMPORT_ERROR, **result
        )
    try:
        return psycopg.connect(**connect_kwargs(module.params, application_name))
    except psycopg.Error as exc:
        module.fail_json(
            msg=(
                f"Cannot connect to PostgreSQL database {database_name(module.params)} as "
                f"{module.params['login_user']}: {first_line(exc)}. Check that the server runs, that "
                "pg_hba.conf admits this host and that the credentials are right."
            ),
            **result,
        )
    return None  # pragma: no cover - fail_json exits


def postgres_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions a PostgreSQL call can raise (OSError alone when psycopg is missing)."""
    return (psycopg.Error, OSError) if HAS_PSYCOPG else (OSError,)


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error, or its type when it says nothing."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__ if isinstance(error, BaseException) else "unknown error"


# --- advisory locks ---------------------------------------------------------------------------


def lock_ids(key: int) -> tuple[int, int]:
    """(classid, objid) under which pg_locks shows the one-argument advisory lock ``key``: the
    high and the low 32 bits of the bigint."""
    if not -(2**63) <= key < 2**63:
        raise ValueError(f"advisory lock key {key} does not fit in a PostgreSQL bigint")
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


def describe_holder(row: Iterable[Any] | None) -> str:
    """One line about the session holding a lock, from a LOCK_HOLDER_SQL row."""
    if not row:
        return "a session that has since released it"
    pid, application, client, since = row
    who = f"application '{application}'" if application else "an unnamed application"
    return f"backend pid {pid} ({who} from {client}, connected since {since})"


def lock_timeout_setting(seconds: float) -> str:
    """The value of PostgreSQL's lock_timeout for a wait of ``seconds`` (0 waits forever)."""
    if seconds < 0:
        raise ValueError(f"a lock wait cannot be negative, got {seconds}")
    return f"{round(seconds * 1000)}ms"


def qualified_name(name: str) -> Any:
    """A psycopg identifier for ``table`` or ``schema.table``."""
    parts = [part for part in name.split(".") if part]
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"'{name}' is not a table name or schema.table")
    return sql.Identifier(*parts)


# --- schema expectations ----------------------------------------------------------------------


def normalise_expected_schema(expected: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{table: [column, ...]}`` from what a user wrote, or ValueError saying what is wrong.

    A table may list its columns or list nothing (only its existence is checked)."""
    if not isinstance(expected, Mapping):
        raise ValueError(f"the expected schema must map table names to column lists, got {expected!r}")
    tables: dict[str, list[str]] = {}
    for table, columns in expected.items():
        if not isinstance(table, str) or not table.strip():
            raise ValueError(f"table name {table!r} is not a non-empty string")
        if columns is None:
            columns = []
        if isinstance(columns, str) or not isinstance(columns, Iterable):
            raise ValueError(f"columns of table {table} must be a list of names, got {columns!r}")
        names = [str(column) for column in columns]
        if any(not name.strip() for name in names):
            raise ValueError(f"table {table} lists an empty column name")
        tables[table] = names
    return tables


def schema_problems(expected: Mapping[str, list[str]], present: Mapping[str, Iterable[str]]) -> list[str]:
    """What the database lacks of ``expected``, table by table, in the expectation's order.

    ``present`` maps each existing table to its columns."""
    problems = []
    for table, columns in expected.items():
        if table not in present:
            problems.append(f"table {table} is missing")
            continue
        have = set(present[table])
        missing = [column for column in columns if column not in have]
        if missing:
            label = "column" if len(missing) == 1 else "columns"
            problems.append(f"table {table} lacks {label} {', '.join(missing)}")
    return problems


def present_columns(rows: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``{table: [column, ...]}`` from (table, column) rows of information_schema.columns."""
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables
