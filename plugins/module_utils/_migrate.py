# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of intelgraph.ops.db_migrate: reading the workspace's env file, keeping its
secrets out of results, running the workspace's commands and saying what they did."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import unquote, urlsplit

from ansible_collections.intelgraph.ops.plugins.module_utils._proc import stat_fields

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)
TAIL_LINES = 5
# The password of `scheme://user:password@host`, for URLs urlsplit refuses.
URL_PASSWORD = re.compile(r"://[^/?#@:]*:([^/?#@]+)@")
# Seconds a timed-out command's process group has, after SIGTERM, before it gets SIGKILL.
STOP_GRACE = 5.0


def parse_env_file(text: str, source: str = "env file") -> dict[str, str]:
    """``NAME=value`` lines of an env file as a dict, read the way ``set -a; . FILE`` reads them.

    Blank lines and ``#`` comments are skipped, ``export`` is allowed, values may be single- or
    double-quoted. Anything a shell would read differently (an unquoted space, a bad name) is a
    ValueError naming the line, so the module never runs a command with a half-read environment.
    """
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        if not sep or not ENV_NAME.match(name):
            raise ValueError(f"{source} line {number} is not NAME=value")
        env[name] = _unquote_value(value, f"{source} line {number} ({name})")
    return env


def _unquote_value(value: str, where: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r'\\([\\"$`])', r"\1", value[1:-1])
    if value[:1] in ("'", '"'):
        raise ValueError(f"{where}: unterminated quote")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{where}: unquoted whitespace in the value; quote it")
    return value


def env_secrets(env: Mapping[str, str]) -> set[str]:
    """Values of an environment that must never appear in output: every variable whose name
    says it is a secret, and the password of every URL carrying one (as written and decoded)."""
    secrets: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        if SECRET_NAME.search(name):
            secrets.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:  # a malformed URL (a client quotes it whole in its error)
                found = URL_PASSWORD.search(value)
                password = found.group(1) if found else None
            if password:
                secrets.update({password, unquote(password)})
    return {secret for secret in secrets if secret}


@dataclass
class CommandResult:
    """What one workspace command did."""

    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float
    changed: bool = False
    timed_out: bool = False
    # How a timed-out command's process group was stopped: "SIGTERM", "SIGKILL" or "".
    stopped_with: str = ""

    def as_dict(self) -> dict[str, object]:
        result = asdict(self)
        result["seconds"] = round(self.seconds, 1)
        result["stdout_lines"] = self.stdout.splitlines()
        result["stderr_lines"] = self.stderr.splitlines()
        return result


def command_argv(command: str) -> list[str]:
    """A command line split the way a shell splits words, without a shell."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot split command '{command}': {exc}") from exc
    if not argv:
        raise ValueError("the command is empty")
    return argv


def run_command(
    command: str,
    cwd: str,
    env: Mapping[str, str],
    timeout: float | None = None,
    grace: float = STOP_GRACE,
) -> CommandResult:
    """Run one command in ``cwd`` with ``env`` added to this process's environment.

    The command leads a process group of its own. When it runs past ``timeout`` seconds, the
    whole group (the command and every process it started: make's recipes, pnpm's node) gets
    SIGTERM, then SIGKILL if any of it is still there ``grace`` seconds later, so that nothing
    it started goes on running against the database after the module has given up."""
    started = time.monotonic()
    merged = {**os.environ, **env}
    try:
        proc = subprocess.Popen(
            command_argv(command),
            cwd=cwd,
            env=merged,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(command, 127, "", f"cannot run '{command}': {exc}", time.monotonic() - started)
    try:
        stdout, stderr = proc.communicate(timeout=timeout or None)
    except subprocess.TimeoutExpired:
        signal_name = stop_process_group(proc, grace)
        stdout, stderr = _drain(proc, grace)
        return CommandResult(
            command,
            -1,
            stdout,
            stderr,
            time.monotonic() - started,
            timed_out=True,
            stopped_with=signal_name,
        )
    return CommandResult(command, proc.returncode, stdout, stderr, time.monotonic() - started)


def group_alive(pgid: int) -> bool:
    """Whether a running process of the process group ``pgid`` is left. A zombie (ended, not
    yet reaped by whoever inherited it) does not count. Reads /proc where there is one."""
    if os.path.isdir("/proc/self"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            fields = stat_fields(entry) or []
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
        return False
    try:  # pragma: no cover - systems without /proc
        os.killpg(pgid, 0)
    except ProcessLookupError:  # pragma: no cover
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True  # pragma: no cover


def stop_process_group(proc: subprocess.Popen, grace: float = STOP_GRACE) -> str:
    """Stop the process group that ``proc`` leads: SIGTERM, then SIGKILL after ``grace``
    seconds if a member is left. Returns the last signal sent ("" when the group was gone)."""
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return ""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, so that a finished group is seen as gone
        if not group_alive(pgid):
            return "SIGTERM"
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()
    return "SIGKILL"


def _drain(proc: subprocess.Popen, grace: float) -> tuple[str, str]:
    """What a stopped command printed; pipes still held open by a process that left the
    group (setsid) are given up on after ``grace`` seconds."""
    try:
        stdout, stderr = proc.communicate(timeout=max(grace, 1.0))
    except subprocess.TimeoutExpired:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        return "", ""
    return _text(stdout), _text(stderr)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def bootstrap_changed(stdout: str, unchanged_pattern: str) -> bool:
    """Whether a bootstrap did work: its output does not match the pattern of a no-op run."""
    return not (unchanged_pattern and re.search(unchanged_pattern, stdout))


def newly_applied(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """Ledger entries present after the run and not before it, in name order."""
    return sorted(set(after) - set(before))


def output_tail(result: CommandResult, lines: int = TAIL_LINES) -> str:
    """The last lines a failed command printed (its errors first), joined for a message."""
    for stream in (result.stderr, result.stdout):
        kept = [line.strip() for line in stream.splitlines() if line.strip()]
        if kept:
            return " | ".join(kept[-lines:])
    return "it printed nothing"


def command_failure_message(result: CommandResult, workspace: str, applied: Sequence[str]) -> str:
    """What went wrong with a workspace command, what it left behind and what to do."""
    if result.timed_out:
        how = {
            "SIGTERM": "SIGTERM",
            "SIGKILL": "SIGTERM, then SIGKILL as some of it was still running",
        }.get(result.stopped_with, "")
        what = (
            f"'{result.command}' did not finish within {result.seconds:.0f} s in {workspace} and was stopped"
            + (
                f" with its whole process group (the command and every process it started: {how})"
                if how
                else ""
            )
        )
    else:
        what = f"'{result.command}' failed with exit code {result.rc} in {workspace}"
    done = (
        f"Migrations recorded before it stopped: {', '.join(applied)}."
        if applied
        else "No migration was recorded as applied."
    )
    return (
        f"{what}: {output_tail(result)}. {done} Nothing after it ran. "
        "Fix what it reports (in the workspace or the database), then run the migrate phase again."
    )
