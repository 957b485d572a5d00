# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the collection's HAProxy modules: the runtime API socket, and the pure
logic that reads `show stat` and judges which servers are in service."""

from __future__ import annotations

import csv
import socket
from typing import Any

# Server statuses of `show stat` that take new requests: "UP", "UP 1/2" (failed a check, still
# serving) and "no check" (no health check). "DRAIN", "NOLB", "MAINT", "DOWN" and "DOWN 1/2"
# (passed a check, not yet up) take none.
IN_SERVICE_PREFIXES = ("UP", "no check")


class HAProxyError(Exception):
    """The runtime API could not be asked."""


def runtime_command(path: str, command: str, timeout: float = 5.0) -> str:
    """Send one command to the runtime API socket at path; return its whole answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise HAProxyError(f"runtime API {path}: {exc}") from exc
    return b"".join(chunks).decode("utf-8", errors="replace")


def parse_stat(text: str) -> list[dict[str, str]]:
    """The rows of `show stat` (CSV whose header line starts with '# ') as dicts."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise ValueError(f"not a 'show stat' answer: {text[:200]!r}")
    lines[0] = lines[0].lstrip("# ")
    return [dict(row) for row in csv.DictReader(lines)]


def in_service(status: str) -> bool:
    """Whether a server with this `show stat` status takes new requests."""
    return status.startswith(IN_SERVICE_PREFIXES)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def servers(rows: list[dict[str, str]], backend: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """{backend: {server: {status, in_service, weight, sessions, check_status, address}}} of the
    server rows (not FRONTEND/BACKEND), for one backend or all."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        name = row.get("svname", "")
        if name in ("FRONTEND", "BACKEND") or (backend is not None and row.get("pxname") != backend):
            continue
        status = row.get("status", "")
        result.setdefault(row.get("pxname", ""), {})[name] = {
            "status": status,
            "in_service": in_service(status),
            "weight": _int(row.get("weight")),
            "sessions": _int(row.get("scur")),
            "check_status": row.get("check_status", ""),
            "address": row.get("addr", ""),
        }
    return result


def in_service_except(backend_servers: dict[str, dict[str, Any]], excluded: list[str]) -> list[str]:
    """Names of the backend's servers in service, leaving out the excluded ones."""
    return sorted(name for name, s in backend_servers.items() if s["in_service"] and name not in excluded)


# What taking a server out of a backend does next (haproxy_drain): nothing more, put it in
# maintenance, stop sending it new requests, or wait for the sessions it holds.
DONE, MAINTENANCE, DRAIN, WAIT = "done", "maintenance", "drain", "wait"


def drain_step(status: str, sessions: int) -> str:
    """The next step of taking a server with this `show stat` status and these current sessions out
    of service without cutting a request: DONE once in maintenance; DRAIN while it takes new
    requests; WAIT while it is draining (DRAIN, or NOLB) and still holds sessions; MAINTENANCE when
    it holds none, or when HAProxy has it down already (it sends nothing to a server that is down,
    and a server failing its checks never reaches DRAIN)."""
    if status.startswith("MAINT"):
        return DONE
    if in_service(status):
        return DRAIN
    if status.startswith(("DRAIN", "NOLB")) and sessions > 0:
        return WAIT
    return MAINTENANCE


def set_state(path: str, backend: str, server: str, state: str, timeout: float = 5.0) -> None:
    """`set server <backend>/<server> state <state>` (ready, drain or maint); HAProxyError with
    the runtime API's own words when it refuses."""
    answer = runtime_command(path, f"set server {backend}/{server} state {state}", timeout).strip()
    if answer:
        raise HAProxyError(
            f"runtime API {path} refused 'set server {backend}/{server} state {state}': {answer}"
        )
