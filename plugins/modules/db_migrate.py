#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Run a workspace's bootstrap and database migrations once, under a PostgreSQL advisory lock."""

from __future__ import annotations

DOCUMENTATION = r"""
module: db_migrate
short_description: Bootstrap a workspace and apply its database migrations once, under an advisory lock
description:
  - Takes the PostgreSQL advisory lock O(lock_key) in its own session, then, while holding it, runs
    O(bootstrap_command) and O(migrate_command) in O(chdir) with the variables of O(env_file) in their
    environment (so no password is ever on a command line), and releases the lock.
  - Two runs started together cannot both migrate; the second waits for the lock up to O(lock_timeout)
    seconds, then finds nothing pending, or stops saying which session holds the lock.
  - Which migrations a run applied is read from the migrations ledger (O(ledger_table)) before and
    after the commands, so the module reports C(changed) only when a migration was applied or the
    bootstrap did work.
  - O(lock_key) must differ from any advisory lock the migrate command takes itself in its own
    session (the IntelGraph migrate takes 7240241001); the same key would make the command wait for this
    module forever.
  - Every command's output is returned; values of O(env_file) that are secrets (variables named like a
    password, secret or token, and the passwords of URLs) are masked in it.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - intelgraph.ops.postgres
options:
  chdir:
    description: The workspace directory the commands run in.
    type: path
    required: true
  env_file:
    description:
      - Env file (C(NAME=value) lines, as C(set -a; . FILE) reads them) whose variables the commands get,
        on top of the module's own environment. Leave unset to give them only the module's environment.
    type: path
  bootstrap_command:
    description: Installs the workspace's dependencies; run first. An empty string skips it.
    type: str
    default: make bootstrap
  bootstrap_unchanged_pattern:
    description: Regular expression matching the output of a bootstrap that had nothing to do.
    type: str
    default: "Nothing to be done|is up to date"
  migrate_command:
    description: Applies the pending migrations; run after the bootstrap succeeded.
    type: str
    default: pnpm run db:migrate
  ledger_table:
    description: Table (C(name) or C(schema.name)) in which the migrations record themselves, one row each.
    type: str
    default: schema_migrations
  ledger_column:
    description: Column of O(ledger_table) holding each migration's name.
    type: str
    default: name
  lock_key:
    description: The bigint key of the advisory lock that serialises runs.
    type: int
    default: 7240241100
  lock_timeout:
    description: Seconds to wait for the lock when another run holds it; V(0) waits for as long as it takes.
    type: int
    default: 300
  command_timeout:
    description:
      - Seconds each command may run before it is stopped and the module fails. A command that runs
        longer is stopped with its whole process group (the command and every process it started get
        C(SIGTERM), then C(SIGKILL) 5 seconds later if any is left).
      - Must be more than 0; V(0), which would mean no limit, is refused.
    type: int
    default: 1800
attributes:
  check_mode:
    support: partial
    description: Runs in check mode without changing anything.
    details:
      - In check mode no lock is taken and no command runs; the module connects, reads the ledger and
        reports C(changed=false), so it cannot tell whether migrations are pending.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: A run with nothing pending and the bootstrap up to date reports C(changed=false).
"""

EXAMPLES = r"""
- name: Bootstrap the 24.1.0 workspace and migrate the database
  intelgraph.ops.db_migrate:
    chdir: /opt/intelgraph/releases/24.1.0
    env_file: /etc/intelgraph/workspace.env
    login_host: db1
    login_db: intelgraph
    login_user: intelgraph
    login_password: "{{ intelgraph_db_password }}"
  register: migration

- name: Say what was applied
  ansible.builtin.debug:
    msg: "{{ migration.applied }}"
"""

RETURN = r"""
applied:
  description: Migrations recorded in the ledger by this run, in name order.
  returned: always
  type: list
  elements: str
  sample: [0002_ingest_idempotency.sql]
ledger:
  description: Every migration recorded in the ledger when the module finished.
  returned: always
  type: list
  elements: str
commands:
  description: Each command run, in order, with its exit code, output, duration and whether it did work.
  returned: always
  type: list
  elements: dict
  sample:
    - command: pnpm run db:migrate
      rc: 0
      stdout: "applied 0002_ingest_idempotency.sql\nmigrate: applied=1 pending=0 current=0002_ingest..."
      stdout_lines:
        - applied 0002_ingest_idempotency.sql
        - "migrate: applied=1 pending=0 current=0002_ingest_idempotency.sql"
      stderr: ""
      stderr_lines: []
      seconds: 0.8
      changed: true
      timed_out: false
lock:
  description: The advisory lock, how long this run waited for it, and who held it when it had to wait.
  returned: always
  type: dict
  sample: {"key": 7240241100, "waited_seconds": 0.0, "holder": null}
database:
  description: The database migrated, C(name@host:port).
  returned: always
  type: str
"""

import contextlib
import time
from collections.abc import Callable

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._migrate import (
    CommandResult,
    bootstrap_changed,
    command_argv,
    command_failure_message,
    env_secrets,
    newly_applied,
    parse_env_file,
    run_command,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._postgres import (
    LOCK_HOLDER_SQL,
    connect,
    database_name,
    describe_holder,
    first_line,
    lock_ids,
    lock_timeout_setting,
    postgres_argument_spec,
    postgres_error_types,
    qualified_name,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors

try:
    from psycopg import errors as pg_errors
    from psycopg import sql
except ImportError:  # pragma: no cover - reported by connect()
    pg_errors = sql = None

APPLICATION_NAME = "intelgraph.ops.db_migrate"


class Migration:
    """One run: the lock, the ledger before and after, the commands in between."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.database = database_name(self.params)
        self.key = self.params["lock_key"]
        self.lock: dict[str, object] = {"key": self.key, "waited_seconds": 0.0, "holder": None}
        self.commands: list[CommandResult] = []
        self.env = self._read_env()
        self.conn = connect(module, APPLICATION_NAME, **self.result())

    def _read_env(self) -> dict[str, str]:
        path = self.params["env_file"]
        if not path:
            return {}
        try:
            with open(path, encoding="utf-8") as handle:
                env = parse_env_file(handle.read(), path)
        except OSError as exc:
            self.module.fail_json(
                msg=f"Cannot read env file {path}: {exc.strerror}. Is the workspace installed?"
            )
        except ValueError as exc:
            self.module.fail_json(msg=f"Cannot use env file {path}: {exc}.")
        self.module.no_log_values.update(env_secrets(env))
        return env

    def fail(self, msg: str, **extra: object) -> None:
        self.module.fail_json(msg=msg, **self.result(**extra))

    def result(
        self, applied: list[str] | None = None, ledger: list[str] | None = None, **extra: object
    ) -> dict:
        return {
            "database": self.database,
            "applied": applied or [],
            "ledger": ledger or [],
            "commands": [command.as_dict() for command in self.commands],
            "lock": self.lock,
            **extra,
        }

    # --- PostgreSQL ---------------------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Take the lock at once, or wait for it up to lock_timeout, saying who holds it."""
        if self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
            return
        holder = describe_holder(self.conn.execute(LOCK_HOLDER_SQL, lock_ids(self.key)).fetchone())
        self.lock["holder"] = holder
        timeout = self.params["lock_timeout"]
        started = time.monotonic()
        try:
            self.conn.execute(
                "SELECT set_config('lock_timeout', %s, false)", (lock_timeout_setting(timeout),)
            )
            self.conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
        except pg_errors.LockNotAvailable:
            self.lock["waited_seconds"] = round(time.monotonic() - started, 1)
            self.fail(
                f"Another migration run holds advisory lock {self.key} on {self.database}: {holder}. "
                f"Waited {timeout} s for it. Let that run finish (or end that session if it is stale), "
                "then run the migrate phase again, or raise lock_timeout."
            )
        finally:
            self.conn.execute("SELECT set_config('lock_timeout', '0', false)")
        self.lock["waited_seconds"] = round(time.monotonic() - started, 1)
        self.module.warn(
            f"Waited {self.lock['waited_seconds']} s for advisory lock {self.key} on {self.database}, "
            f"held by {holder}."
        )

    def release_lock(self) -> None:
        """Release the lock; if the session broke, its end released the lock already."""
        with contextlib.suppress(*postgres_error_types()):
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))

    def ledger(self) -> list[str] | None:
        """Names recorded in the ledger, or None when the ledger table does not exist yet."""
        table = self.params["ledger_table"]
        exists = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
        if not exists:
            return None
        query = sql.SQL("SELECT {column}::text FROM {table}").format(
            column=sql.Identifier(self.params["ledger_column"]), table=qualified_name(table)
        )
        return sorted(row[0] for row in self.conn.execute(query))

    # --- the run ------------------------------------------------------------------------------

    def run_step(
        self, command: str, applied_before: list[str], judge: Callable[[CommandResult], bool]
    ) -> None:
        """Run one command; fail the module, saying what was left behind, when it fails."""
        result = run_command(command, self.params["chdir"], self.env, self.params["command_timeout"])
        self.commands.append(result)
        if result.rc == 0 and not result.timed_out:
            result.changed = judge(result)
            return
        after = self.ledger() or []
        applied = newly_applied(applied_before, after)
        self.fail(
            command_failure_message(result, self.params["chdir"], applied),
            changed=bool(applied) or any(command.changed for command in self.commands),
            applied=applied,
            ledger=after,
        )

    def run(self) -> dict:
        if self.module.check_mode:
            ledger = self.ledger() or []
            return self.result(ledger=ledger, changed=False, msg="check mode: no lock taken, no command run")
        self.acquire_lock()
        try:
            before = self.ledger() or []
            pattern = self.params["bootstrap_unchanged_pattern"]
            if self.params["bootstrap_command"]:
                self.run_step(
                    self.params["bootstrap_command"],
                    before,
                    lambda done: bootstrap_changed(done.stdout, pattern),
                )
            self.run_step(self.params["migrate_command"], before, lambda done: False)
            after = self.ledger()
            if after is None:
                self.fail(
                    f"'{self.params['migrate_command']}' succeeded but the ledger table "
                    f"{self.params['ledger_table']} does not exist in {self.database}. Set ledger_table "
                    "(and ledger_column) to the table the migrations record themselves in."
                )
            applied = newly_applied(before, after)
            self.commands[-1].changed = bool(applied)
        finally:
            self.release_lock()
        return self.result(applied=applied, ledger=after, changed=any(c.changed for c in self.commands))


def main() -> None:
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        chdir={"type": "path", "required": True},
        env_file={"type": "path"},
        bootstrap_command={"type": "str", "default": "make bootstrap"},
        bootstrap_unchanged_pattern={"type": "str", "default": "Nothing to be done|is up to date"},
        migrate_command={"type": "str", "default": "pnpm run db:migrate"},
        ledger_table={"type": "str", "default": "schema_migrations"},
        ledger_column={"type": "str", "default": "name"},
        lock_key={"type": "int", "default": 7240241100, "no_log": False},
        lock_timeout={"type": "int", "default": 300},
        command_timeout={"type": "int", "default": 1800},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = timeout_errors({name: params[name] for name in ("lock_timeout", "command_timeout")})
    if problems:
        module.fail_json(msg=f"Bad option: {'; '.join(problems)}. Fix the module's options and run again.")
    try:
        lock_ids(params["lock_key"])
        lock_timeout_setting(params["lock_timeout"])
        for name in ("bootstrap_command", "migrate_command"):
            if params[name] or name == "migrate_command":
                command_argv(params[name])
    except ValueError as exc:
        module.fail_json(msg=f"Bad option: {exc}. Fix the module's options and run again.")

    migration = Migration(module)
    try:
        module.exit_json(**migration.run())
    except postgres_error_types() as exc:
        migration.fail(
            f"PostgreSQL failed during the migration run on {migration.database}: {first_line(exc)}. "
            "The advisory lock is released when this session ends; check the server and run again."
        )


if __name__ == "__main__":
    main()
