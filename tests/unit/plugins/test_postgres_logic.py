"""intelgraph.ops PostgreSQL helpers: connection options, advisory lock bookkeeping and the
schema expectations."""

from __future__ import annotations

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._postgres import (
    connect_kwargs,
    database_name,
    describe_holder,
    first_line,
    lock_ids,
    lock_timeout_setting,
    normalise_expected_schema,
    postgres_argument_spec,
    present_columns,
    schema_problems,
)

PARAMS = {
    "login_host": "db1",
    "login_port": 5432,
    "login_db": "intelgraph",
    "login_user": "intelgraph",
    "login_password": "secret",
    "ssl_mode": "prefer",
    "ca_cert": None,
    "connect_timeout": 10,
}


def test_the_password_option_is_never_logged() -> None:
    spec = postgres_argument_spec()
    assert spec["login_password"]["no_log"] is True
    assert set(spec) == set(PARAMS)


def test_connect_kwargs() -> None:
    assert connect_kwargs(PARAMS, "intelgraph.ops.db_migrate") == {
        "host": "db1",
        "port": 5432,
        "dbname": "intelgraph",
        "user": "intelgraph",
        "password": "secret",
        "sslmode": "prefer",
        "connect_timeout": 10,
        "application_name": "intelgraph.ops.db_migrate",
        "autocommit": True,
    }


def test_connect_kwargs_without_password_and_with_a_ca() -> None:
    kwargs = connect_kwargs({**PARAMS, "login_password": None, "ca_cert": "/etc/ssl/ca.pem"}, "x")
    assert "password" not in kwargs
    assert kwargs["sslrootcert"] == "/etc/ssl/ca.pem"


def test_database_name() -> None:
    assert database_name(PARAMS) == "intelgraph@db1:5432"


@pytest.mark.parametrize(
    ("key", "ids"),
    [
        (7240241100, (1, 2945273804)),  # the role's default key
        (7240241001, (1, 2945273705)),  # the IntelGraph migrate command's own
        (42, (0, 42)),
        (-1, (0xFFFFFFFF, 0xFFFFFFFF)),
        (2**63 - 1, (0x7FFFFFFF, 0xFFFFFFFF)),
    ],
)
def test_lock_ids_as_pg_locks_shows_them(key: int, ids: tuple[int, int]) -> None:
    assert lock_ids(key) == ids


@pytest.mark.parametrize("key", [2**63, -(2**63) - 1])
def test_lock_ids_outside_bigint(key: int) -> None:
    with pytest.raises(ValueError, match="does not fit in a PostgreSQL bigint"):
        lock_ids(key)


def test_describe_holder() -> None:
    row = (4242, "intelgraph.ops.db_migrate", "10.89.44.71", "2026-11-27T18:00:00Z")
    assert describe_holder(row) == (
        "backend pid 4242 (application 'intelgraph.ops.db_migrate' from 10.89.44.71, "
        "connected since 2026-11-27T18:00:00Z)"
    )
    assert describe_holder((7, "", "local", "2026-11-27T18:00:00Z")).startswith(
        "backend pid 7 (an unnamed application from local"
    )
    assert describe_holder(None) == "a session that has since released it"


@pytest.mark.parametrize(("seconds", "setting"), [(300, "300000ms"), (0, "0ms"), (1.5, "1500ms")])
def test_lock_timeout_setting(seconds: float, setting: str) -> None:
    assert lock_timeout_setting(seconds) == setting


def test_lock_timeout_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        lock_timeout_setting(-1)


def test_first_line() -> None:
    assert first_line(RuntimeError("\n  connection refused\nDETAIL: x")) == "connection refused"
    assert first_line(RuntimeError("")) == "RuntimeError"


# --- schema expectations --------------------------------------------------------------------------

EXPECTED = {
    "ingest_idempotency_keys": ["idempotency_key", "event_id", "tenant", "batch_id", "applied_at"],
    "ingest_batches": ["batch_id", "tenant", "event_count", "state", "backfilled_at"],
}


def test_the_24_1_schema_as_migrated() -> None:
    rows = [(table, column) for table, columns in EXPECTED.items() for column in reversed(columns)]
    rows.append(("ingest_batches", "extra_column"))
    assert schema_problems(EXPECTED, present_columns(rows)) == []


@pytest.mark.parametrize(
    ("present", "problems"),
    [
        ({}, ["table ingest_idempotency_keys is missing", "table ingest_batches is missing"]),
        (
            {
                "ingest_idempotency_keys": EXPECTED["ingest_idempotency_keys"],
                "ingest_batches": ["batch_id", "tenant"],
            },
            ["table ingest_batches lacks columns event_count, state, backfilled_at"],
        ),
        (
            {
                "ingest_idempotency_keys": ["idempotency_key", "event_id", "tenant", "batch_id"],
                "ingest_batches": EXPECTED["ingest_batches"],
            },
            ["table ingest_idempotency_keys lacks column applied_at"],
        ),
        (
            {"ingest_batches": EXPECTED["ingest_batches"]},
            ["table ingest_idempotency_keys is missing"],
        ),
    ],
)
def test_what_the_database_lacks(present: dict[str, list[str]], problems: list[str]) -> None:
    assert schema_problems(EXPECTED, present) == problems


def test_a_table_listing_no_column_only_has_to_exist() -> None:
    expected = normalise_expected_schema({"ingest_batches": None, "entities": []})
    assert expected == {"ingest_batches": [], "entities": []}
    assert schema_problems(expected, {"ingest_batches": ["batch_id"]}) == ["table entities is missing"]


@pytest.mark.parametrize(
    ("expected", "says"),
    [
        (["ingest_batches"], "must map table names to column lists"),
        ({"": ["a"]}, "is not a non-empty string"),
        ({"t": "a,b"}, "columns of table t must be a list of names"),
        ({"t": 5}, "columns of table t must be a list of names"),
        ({"t": ["a", " "]}, "table t lists an empty column name"),
    ],
)
def test_expected_schema_that_cannot_be_checked(expected: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        normalise_expected_schema(expected)  # type: ignore[arg-type]


def test_present_columns() -> None:
    assert present_columns([("a", "x"), ("b", "y"), ("a", "z")]) == {"a": ["x", "z"], "b": ["y"]}
