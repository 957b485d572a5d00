# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of intelgraph.ops.container_ready: the logic that judges a container from
its inspect data, its log output and its service's answers (the module reads them through
community.docker's Docker API client)."""

from __future__ import annotations

import json
from typing import Any

# States in which a container is not running and will not run without help.
STOPPED_STATES = ("created", "exited", "dead", "stopped", "removing")


def log_lines(data: bytes, lines: int) -> list[str]:
    """The last ``lines`` non-blank lines of a container's log output."""
    text = data.decode("utf-8", errors="replace")
    return [line.rstrip("\r") for line in text.splitlines() if line.strip()][-lines:] if lines > 0 else []


def summarise(lines: list[str], keep: int = 5) -> str:
    """The last ``keep`` distinct runs of log lines, a repeated line once with its count."""
    runs: list[list[Any]] = []
    for line in lines:
        if runs and runs[-1][0] == line:
            runs[-1][1] += 1
        else:
            runs.append([line, 1])
    return " | ".join(line if count == 1 else f"{line} (x{count})" for line, count in runs[-keep:])


def image_of(container: dict[str, Any]) -> str:
    return str((container.get("Config") or {}).get("Image") or container.get("Image") or "?")


def start_failure(container: dict[str, Any] | None, restarts_before: int = 0) -> str | None:
    """Why the container is not running its service, or None while it runs (or starts).

    ``restarts_before`` is the container's RestartCount when the wait began: a count above it
    means the process exited and the engine started it again.
    """
    if container is None:
        return "there is no such container"
    state = container.get("State") or {}
    status = str(state.get("Status") or "").lower()
    exit_code = state.get("ExitCode")
    restarts = int(container.get("RestartCount") or 0)
    error = str(state.get("Error") or "").strip()
    details = []
    if state.get("OOMKilled"):
        details.append("killed for lack of memory")
    if error:
        details.append(f"engine error: {error}")
    suffix = f" ({'; '.join(details)})" if details else ""
    running = status == "running" or (bool(state.get("Running")) and status == "")
    if state.get("Restarting") or restarts > restarts_before:
        # A process running again reports exit code 0 until it exits: only a stopped one tells.
        last = "" if running else f", last exit code {exit_code}"
        count = restarts - restarts_before
        return f"its process keeps exiting: the engine restarted it {count} time(s){last}{suffix}"
    if running:
        return None
    if status in STOPPED_STATES or state.get("Running") is False:
        if status == "created":
            return f"it was created but not started{suffix}"
        return f"it is {status or 'not running'}, exit code {exit_code}{suffix}"
    return None


def readiness(status: int, body: Any) -> tuple[bool, str]:
    """Whether a readiness answer says ready, and what it said."""
    if status == 200:
        return True, "ready"
    if status <= 0:
        return False, f"no answer ({body})"
    return False, f"HTTP {status}: {json.dumps(body) if isinstance(body, dict | list) else str(body)[:200]}"


def version_matches(body: Any, expected: str) -> tuple[bool, str]:
    """Whether a /version answer reports the expected version, and the version it reports."""
    reported = body.get("version") if isinstance(body, dict) else None
    return (reported == expected, str(reported))
