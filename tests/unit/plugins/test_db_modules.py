"""intelgraph.ops db_migrate, db_schema_verify and backfill_verify run by ansible on localhost,
up to the point where they would need a PostgreSQL server: their options, their inputs, and
what they say when the server cannot be reached. (The sandbox's end-to-end tests run them
against a real one.)"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import run_module

SECRET = "unit-test-secret"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def login(**extra: object) -> dict[str, object]:
    return {
        "login_host": "127.0.0.1",
        "login_port": closed_port(),
        "login_db": "intelgraph",
        "login_user": "intelgraph",
        "login_password": SECRET,
        "connect_timeout": 2,
        **extra,
    }


@pytest.mark.parametrize("check", [False, True])
def test_db_migrate_says_which_server_it_cannot_reach(tmp_path: Path, check: bool) -> None:
    env = tmp_path / "workspace.env"
    env.write_text(f"DATABASE_URL=postgresql://intelgraph:{SECRET}@127.0.0.1/intelgraph\n")
    args = login(chdir=str(tmp_path), env_file=str(env))
    result = run_module("db_migrate", args, check=check)
    assert result["failed"]
    assert result["msg"].startswith(
        f"Cannot connect to PostgreSQL database intelgraph@127.0.0.1:{args['login_port']}"
    )
    assert "pg_hba.conf" in result["msg"]
    assert (result["applied"], result["commands"]) == ([], [])
    assert SECRET not in json.dumps(result)


def test_db_migrate_refuses_an_env_file_a_shell_would_read_differently(tmp_path: Path) -> None:
    env = tmp_path / "workspace.env"
    env.write_text("DATABASE_URL=postgresql://x\nSMOKE_BASE_URL=http://a b\n")
    result = run_module("db_migrate", login(chdir=str(tmp_path), env_file=str(env)))
    assert result["failed"]
    assert result["msg"] == (
        f"Cannot use env file {env}: {env} line 2 (SMOKE_BASE_URL): unquoted whitespace in the value; quote it."
    )


def test_db_migrate_without_its_env_file(tmp_path: Path) -> None:
    result = run_module("db_migrate", login(chdir=str(tmp_path), env_file=str(tmp_path / "missing.env")))
    assert result["failed"]
    assert result["msg"].startswith(f"Cannot read env file {tmp_path / 'missing.env'}: No such file")


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ({"lock_key": 2**63}, "advisory lock key 9223372036854775808 does not fit in a PostgreSQL bigint"),
        ({"lock_timeout": -1}, "lock_timeout=-1: must be more than 0 seconds"),
        ({"migrate_command": ""}, "the command is empty"),
        ({"bootstrap_command": "make 'unclosed"}, "cannot split command"),
    ],
)
def test_db_migrate_bad_options(tmp_path: Path, option: dict[str, object], says: str) -> None:
    result = run_module("db_migrate", login(chdir=str(tmp_path), **option))
    assert result["failed"]
    assert result["msg"].startswith("Bad option: ")
    assert says in result["msg"]


def test_db_schema_verify_bad_expectation() -> None:
    result = run_module("db_schema_verify", login(tables={"ingest_batches": "batch_id,tenant"}))
    assert result["failed"]
    assert "columns of table ingest_batches must be a list of names" in result["msg"]


def test_db_schema_verify_unreachable_server() -> None:
    result = run_module("db_schema_verify", login(tables={"ingest_batches": ["batch_id"]}), check=True)
    assert result["failed"]
    assert result["msg"].startswith("Cannot connect to PostgreSQL database intelgraph@127.0.0.1:")


def test_backfill_verify_without_manifests(tmp_path: Path) -> None:
    result = run_module("backfill_verify", login(manifest_dir=str(tmp_path)))
    assert result["failed"]
    assert result["msg"].startswith(f"No manifest matching *.json in {tmp_path}, so nothing can be verified.")


def test_backfill_verify_names_a_bad_manifest(tmp_path: Path) -> None:
    (tmp_path / "hist-0001.json").write_text(json.dumps({"batch_id": "hist-0001", "event_count": "fifty"}))
    result = run_module("backfill_verify", login(manifest_dir=str(tmp_path)), check=True)
    assert result["failed"]
    assert result["msg"] == (
        f"Cannot verify the backfill: manifest {tmp_path / 'hist-0001.json'} (batch hist-0001): event_count "
        "must be a non-negative integer, got 'fifty'. Fix or remove that manifest."
    )


def test_backfill_verify_reads_the_manifests_before_the_server(tmp_path: Path) -> None:
    (tmp_path / "hist-0001.json").write_text(json.dumps({"batch_id": "hist-0001", "event_count": 50}))
    result = run_module("backfill_verify", login(manifest_dir=str(tmp_path)))
    assert result["failed"]
    assert result["msg"].startswith("Cannot connect to PostgreSQL database intelgraph@127.0.0.1:")
    assert (result["manifest_dir"], result["database"]) == (
        str(tmp_path),
        f"intelgraph@127.0.0.1:{result['invocation']['module_args']['login_port']}",
    )
