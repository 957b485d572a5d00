#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Run one command of the IntelGraph workspace with its env file, bounded, its secrets masked."""

from __future__ import annotations

DOCUMENTATION = r"""
module: workspace_command
short_description: Run a command of the IntelGraph workspace, bounded in time, with its secrets masked
description:
  - Runs O(command) in the workspace O(chdir) with the variables of O(env_file) added to its
    environment (as C(set -a; . FILE) would), the way M(intelgraph.ops.db_migrate) runs the
    workspace's bootstrap and migrations. It runs the release note's C(backfill:idempotency-state)
    and C(make smoke).
  - The command is split into words as a shell splits them and run without a shell.
  - The values of O(env_file) that are secrets (variables named like a password, secret or token, and
    the passwords of URLs) are masked in everything the module returns, so a command that prints its
    connection string shows no password.
  - A command that runs longer than O(timeout) seconds is stopped with its whole process group (the
    command and every process it started get C(SIGTERM), then C(SIGKILL) 5 seconds later if any is
    left), and the module fails saying so.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
options:
  command:
    description: The command line.
    type: str
    required: true
  chdir:
    description: The workspace the command runs in.
    type: path
    required: true
  env_file:
    description: Env file whose variables the command gets (C(NAME=value) lines); none when unset.
    type: path
  timeout:
    description:
      - Seconds the command may run before it is stopped and the module fails.
      - Must be more than 0; V(0), which would mean no limit, is refused.
    type: int
    default: 1800
  changed_pattern:
    description:
      - Regular expression matching the output of a run that did work; C(changed) is false when the
        output does not match it. Empty reports every successful run as a change.
    type: str
    default: ""
attributes:
  check_mode:
    support: partial
    description: Runs in check mode without changing anything.
    details: In check mode the env file is read but the command is not run; the module says so and reports no change.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: partial
    description: Idempotent as far as the command is; with O(changed_pattern) it reports a change only when it did work.
"""

EXAMPLES = r"""
- name: Backfill the idempotency state
  intelgraph.ops.workspace_command:
    command: pnpm --filter intelgraph-server run backfill:idempotency-state
    chdir: /opt/intelgraph/releases/24.1.0
    env_file: /etc/intelgraph/workspace.env
    timeout: 1800
    changed_pattern: "keys_inserted=[1-9]"
  register: backfill
"""

RETURN = r"""
cmd:
  description: The command line run.
  returned: always
  type: str
rc:
  description: Its exit code (V(-1) when it was stopped after O(timeout)).
  returned: when the command ran
  type: int
stdout:
  description: What it printed, secrets masked.
  returned: when the command ran
  type: str
stdout_lines:
  description: RV(stdout) as lines.
  returned: when the command ran
  type: list
  elements: str
stderr:
  description: What it printed on standard error, secrets masked.
  returned: when the command ran
  type: str
stderr_lines:
  description: RV(stderr) as lines.
  returned: when the command ran
  type: list
  elements: str
seconds:
  description: How long it ran.
  returned: when the command ran
  type: float
timed_out:
  description: Whether it was stopped after O(timeout) seconds.
  returned: when the command ran
  type: bool
stopped_with:
  description: The last signal its process group got when it timed out (C(SIGTERM) or C(SIGKILL)), else empty.
  returned: when the command ran
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.intelgraph.ops.plugins.module_utils._migrate import (
    command_argv,
    env_secrets,
    output_tail,
    parse_env_file,
    run_command,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "command": {"type": "str", "required": True},
            "chdir": {"type": "path", "required": True},
            "env_file": {"type": "path"},
            "timeout": {"type": "int", "default": 1800},
            "changed_pattern": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    problems = timeout_errors({"timeout": params["timeout"]})
    try:
        command_argv(params["command"])
        re.compile(params["changed_pattern"])
    except (ValueError, re.error) as exc:
        problems.append(str(exc))
    if problems:
        module.fail_json(msg=f"Bad option: {'; '.join(problems)}. Fix the module's options and run again.")

    env: dict[str, str] = {}
    if params["env_file"]:
        try:
            with open(params["env_file"], encoding="utf-8") as handle:
                env = parse_env_file(handle.read(), params["env_file"])
        except OSError as exc:
            module.fail_json(msg=f"Cannot read env file {params['env_file']}: {exc.strerror}.")
        except ValueError as exc:
            module.fail_json(msg=f"Cannot use env file {params['env_file']}: {exc}.")
        module.no_log_values.update(env_secrets(env))

    if module.check_mode:
        module.exit_json(changed=False, cmd=params["command"], msg="check mode: the command was not run")

    result = run_command(params["command"], params["chdir"], env, params["timeout"])
    done = result.as_dict()
    done["cmd"] = done.pop("command")
    if result.timed_out:
        how = (
            "SIGTERM, then SIGKILL as some of it was still running"
            if result.stopped_with == "SIGKILL"
            else "SIGTERM"
        )
        module.fail_json(
            msg=f"'{result.command}' did not finish within {params['timeout']} s in {params['chdir']} and was "
            f"stopped with its whole process group (the command and every process it started: {how}): "
            f"{output_tail(result)}. Find out why it is slow, or raise the timeout.",
            **done,
        )
    if result.rc != 0:
        module.fail_json(
            msg=f"'{result.command}' failed with exit code {result.rc} in {params['chdir']}: "
            f"{output_tail(result)}.",
            **done,
        )
    pattern = params["changed_pattern"]
    done["changed"] = not pattern or bool(re.search(pattern, result.stdout))
    module.exit_json(**done)


if __name__ == "__main__":
    main()
