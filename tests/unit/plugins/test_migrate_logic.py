"""intelgraph.ops db_migrate logic: the workspace env file, its secrets, the commands and what
they did."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._migrate import (
    CommandResult,
    bootstrap_changed,
    command_argv,
    command_failure_message,
    env_secrets,
    newly_applied,
    output_tail,
    parse_env_file,
    run_command,
)

WORKSPACE_ENV = """\
# Ansible managed
REDIS_URL=redis://:sandbox-redis-secret@10.89.44.41:6379/0
DATABASE_URL=postgresql://intelgraph:p%40ss%2Fword@10.89.44.51:5432/intelgraph
SMOKE_BASE_URL=http://10.89.44.10
MANIFEST_DIR=/var/lib/intelgraph/manifests
"""


# --- env file -----------------------------------------------------------------------------------


def test_parse_the_workspace_env_file() -> None:
    assert parse_env_file(WORKSPACE_ENV) == {
        "REDIS_URL": "redis://:sandbox-redis-secret@10.89.44.41:6379/0",
        "DATABASE_URL": "postgresql://intelgraph:p%40ss%2Fword@10.89.44.51:5432/intelgraph",
        "SMOKE_BASE_URL": "http://10.89.44.10",
        "MANIFEST_DIR": "/var/lib/intelgraph/manifests",
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("A=b", {"A": "b"}),
        ("export A=b", {"A": "b"}),
        ("A=", {"A": ""}),
        ("A='two words'", {"A": "two words"}),
        ("A='$HOME \\n'", {"A": "$HOME \\n"}),
        ('A="say \\"hi\\" \\$x"', {"A": 'say "hi" $x'}),
        ("A=x=y", {"A": "x=y"}),
        ("  # comment", {}),
        ("", {}),
    ],
)
def test_env_file_lines(line: str, expected: dict[str, str]) -> None:
    assert parse_env_file(line) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("A=b\nnot a line\n", "env line 2 is not NAME=value"),
        ("1A=b", "env line 1 is not NAME=value"),
        ("A-B=c", "env line 1 is not NAME=value"),
        ("A=two words", "env line 1 (A): unquoted whitespace"),
        ("A='open", "env line 1 (A): unterminated quote"),
    ],
)
def test_env_file_lines_a_shell_reads_differently_are_refused(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"^" + says.replace("(", r"\(").replace(")", r"\)")):
        parse_env_file(text, "env")


def test_a_later_line_wins() -> None:
    assert parse_env_file("A=1\nA=2\n") == {"A": "2"}


def test_secrets_of_the_workspace_env_file() -> None:
    assert env_secrets(parse_env_file(WORKSPACE_ENV)) == {
        "sandbox-redis-secret",
        "p%40ss%2Fword",
        "p@ss/word",
    }


@pytest.mark.parametrize(
    ("env", "secrets"),
    [
        ({"DB_PASSWORD": "hunter2"}, {"hunter2"}),
        ({"api_token": "t0k"}, {"t0k"}),
        ({"CLIENT_SECRET": "s"}, {"s"}),
        ({"DB_PASSWORD": ""}, set()),
        ({"URL": "postgresql://user@db/x"}, set()),
        ({"URL": "http://[broken"}, set()),
        ({"MANIFEST_DIR": "/var/lib/x"}, set()),
    ],
)
def test_secrets_by_name_and_in_urls(env: dict[str, str], secrets: set[str]) -> None:
    assert env_secrets(env) == secrets


# --- commands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("make bootstrap", ["make", "bootstrap"]),
        (
            "pnpm --filter intelgraph-server run backfill:idempotency-state",
            ["pnpm", "--filter", "intelgraph-server", "run", "backfill:idempotency-state"],
        ),
        ("make 'a b'", ["make", "a b"]),
    ],
)
def test_command_argv(command: str, argv: list[str]) -> None:
    assert command_argv(command) == argv


@pytest.mark.parametrize(
    ("command", "says"), [("", "the command is empty"), ("make 'x", "cannot split command")]
)
def test_command_argv_refuses(command: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        command_argv(command)


def test_run_command_in_the_workspace_with_the_env_file(tmp_path: Path) -> None:
    script = (
        "import os; print(os.getcwd()); print(os.environ['DATABASE_URL']); print(os.environ['PATH'] != '')"
    )
    result = run_command(f'{sys.executable} -c "{script}"', str(tmp_path), {"DATABASE_URL": "postgresql://x"})
    assert result.rc == 0
    assert result.stdout.splitlines() == [str(tmp_path), "postgresql://x", "True"]
    assert not result.timed_out
    assert result.as_dict()["stdout_lines"] == [str(tmp_path), "postgresql://x", "True"]


def test_run_command_that_fails(tmp_path: Path) -> None:
    result = run_command(f"{sys.executable} -c \"import sys; sys.exit('boom')\"", str(tmp_path), {})
    assert (result.rc, result.stderr.strip()) == (1, "boom")


def test_run_command_that_is_missing(tmp_path: Path) -> None:
    result = run_command("no-such-command-here --x", str(tmp_path), {})
    assert result.rc == 127
    assert "cannot run 'no-such-command-here --x'" in result.stderr


def test_run_command_that_hangs_is_stopped(tmp_path: Path) -> None:
    result = run_command(
        f"{sys.executable} -c \"print('started', flush=True); import time; time.sleep(30)\"",
        str(tmp_path),
        {},
        timeout=1,
    )
    assert result.timed_out
    assert result.rc == -1


@pytest.mark.parametrize(
    ("stdout", "changed"),
    [
        ("make: Nothing to be done for 'bootstrap'.\n", False),
        ("make: 'bootstrap' is up to date.\n", False),
        ("pnpm install --offline\n...\ntouch node_modules/.bootstrap-stamp\n", True),
    ],
)
def test_bootstrap_changed(stdout: str, changed: bool) -> None:
    assert bootstrap_changed(stdout, "Nothing to be done|is up to date") is changed


def test_bootstrap_without_a_pattern_always_changes() -> None:
    assert bootstrap_changed("make: Nothing to be done", "") is True


def test_newly_applied() -> None:
    assert newly_applied(["0001_base.sql"], ["0002_b.sql", "0001_base.sql", "0003_c.sql"]) == [
        "0002_b.sql",
        "0003_c.sql",
    ]
    assert newly_applied(["0001_base.sql"], ["0001_base.sql"]) == []


# --- failures -----------------------------------------------------------------------------------


def failed(**kwargs: object) -> CommandResult:
    values = {"command": "pnpm run db:migrate", "rc": 1, "stdout": "", "stderr": "", "seconds": 0.4}
    values.update(kwargs)
    return CommandResult(**values)  # type: ignore[arg-type]


def test_output_tail_prefers_the_errors() -> None:
    result = failed(stdout="applied 0002\n", stderr="\nmigrate: failed: function nope() does not exist\n")
    assert output_tail(result) == "migrate: failed: function nope() does not exist"


def test_output_tail_keeps_the_last_lines() -> None:
    result = failed(stdout="\n".join(f"line {n}" for n in range(10)))
    assert output_tail(result, lines=3) == "line 7 | line 8 | line 9"
    assert output_tail(failed()) == "it printed nothing"


def test_failure_message_of_a_broken_migration() -> None:
    result = failed(stderr="migrate: failed: function intelgraph_no_such_function() does not exist\n")
    message = command_failure_message(
        result, "/opt/intelgraph/releases/24.1.0", ["0002_ingest_idempotency.sql"]
    )
    assert message.startswith(
        "'pnpm run db:migrate' failed with exit code 1 in /opt/intelgraph/releases/24.1.0: "
        "migrate: failed: function intelgraph_no_such_function() does not exist. "
    )
    assert "Migrations recorded before it stopped: 0002_ingest_idempotency.sql." in message
    assert message.endswith("then run the migrate phase again.")


def test_failure_message_of_a_command_that_timed_out() -> None:
    message = command_failure_message(failed(rc=-1, timed_out=True, seconds=1800.2), "/w", [])
    assert message.startswith("'pnpm run db:migrate' did not finish within 1800 s in /w and was stopped")
    assert "No migration was recorded as applied." in message
