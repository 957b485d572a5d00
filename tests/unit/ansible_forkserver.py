"""Runs `ansible` and `ansible-playbook` for the unit tests, each in a process forked from one that
has ansible-core imported already.

Each command-line run of either starts a Python and imports ansible-core first: about 0.6 s of
CPU, a third of what a unit test's module run costs, paid some two hundred times by the unit
tests. This server imports the two command-line programs once, then forks a child for each run
it is asked for, which calls the program's own entry point (`ansible.cli.adhoc.main`,
`ansible.cli.playbook.main`, what the `ansible` and `ansible-playbook` scripts call) with the
run's arguments, working directory, environment and output files. What runs is the
command-line program, settings, executor, workers and callbacks included; only its imports
come from the server.

ansible-core reads its settings from the environment when it is imported, so a server serves
the runs of one set of ANSIBLE_* variables (tests/unit/conftest.py starts one per set).

Protocol, one JSON object a line: on standard input, a run ({"program", "args", "cwd", "env",
"stdout", "stderr"}, the last two file paths); on the server's standard output, the child's
{"pid"} at once (for the caller to kill it, and what it started, past the run's time), then
{"rc"} when it has ended.
"""

from __future__ import annotations

import json
import os
import sys

import ansible.cli.adhoc
import ansible.cli.playbook

# What every run loads: imported here once instead of in each child.
import ansible.executor.task_executor
import ansible.plugins.action.normal
import ansible.plugins.connection.local
import ansible.plugins.inventory.host_list
import ansible.plugins.shell.sh
import ansible.plugins.strategy.linear

PROGRAMS = {"ansible": ansible.cli.adhoc.main, "ansible-playbook": ansible.cli.playbook.main}


def run(request: dict, replies: int) -> int:
    """The child's part: become the program, with the run's files, and exit with its code."""
    os.close(replies)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    program = request["program"]
    sys.argv = [os.path.join(os.path.dirname(sys.executable), program), *request["args"]]
    code: object = 0
    try:
        code = PROGRAMS[program](sys.argv)
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # a crash is the run's result, shown on its stderr
        import traceback

        traceback.print_exc()
        code = 250
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code if isinstance(code, int) else (0 if code is None else 1)


def main() -> None:
    # Replies go to the original standard output; anything else printed goes to standard error.
    replies = os.dup(1)
    os.dup2(2, 1)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(run(request, replies))
        os.write(replies, (json.dumps({"pid": pid}) + "\n").encode())
        status = os.waitpid(pid, 0)[1]
        os.write(replies, (json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n").encode())


if __name__ == "__main__":
    main()
