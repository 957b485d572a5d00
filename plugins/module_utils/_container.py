# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of intelgraph.ops.container_ready: a minimal Docker Engine API client
(standard library only, over a unix socket or plain TCP) and the pure logic that judges a
container from its inspect data and its service's answers."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import urllib.parse
from dataclasses import dataclass
from typing import Any

# States in which a container is not running and will not run without help.
STOPPED_STATES = ("created", "exited", "dead", "stopped", "removing")


class EngineError(Exception):
    """The engine could not be reached or answered an error."""


@dataclass(frozen=True)
class Endpoint:
    """Where the engine listens: a unix socket path, or a TCP host and port."""

    scheme: str
    address: str
    port: int = 0


def parse_docker_host(docker_host: str) -> Endpoint:
    """``unix:///run/docker.sock`` or ``tcp://host:2375`` (``http://`` is read as ``tcp://``).

    Raises:
        ValueError: for any other form (TLS, ssh:// and npipe:// are not supported).
    """
    parsed = urllib.parse.urlparse(docker_host)
    if parsed.scheme == "unix":
        path = parsed.path or parsed.netloc
        if not path:
            raise ValueError(f"docker_host {docker_host!r} names no socket path")
        return Endpoint("unix", path)
    if parsed.scheme in ("tcp", "http"):
        if not parsed.hostname:
            raise ValueError(f"docker_host {docker_host!r} names no host")
        return Endpoint("tcp", parsed.hostname, parsed.port or 2375)
    raise ValueError(
        f"docker_host {docker_host!r} is not supported: use unix:///path/to/docker.sock or tcp://host:port"
    )


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Engine:
    """Reads containers through the Docker Engine API (Docker, or podman's compatible socket)."""

    def __init__(self, endpoint: Endpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def _request(self, path: str) -> tuple[int, bytes]:
        if self.endpoint.scheme == "unix":
            conn: http.client.HTTPConnection = _UnixHTTPConnection(self.endpoint.address, self.timeout)
        else:
            conn = http.client.HTTPConnection(self.endpoint.address, self.endpoint.port, timeout=self.timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError as exc:
            raise EngineError(f"cannot reach the engine at {self.describe()}: {exc}") from exc
        finally:
            conn.close()

    def describe(self) -> str:
        if self.endpoint.scheme == "unix":
            return f"unix://{self.endpoint.address}"
        return f"tcp://{self.endpoint.address}:{self.endpoint.port}"

    def inspect(self, name: str) -> dict[str, Any] | None:
        """The container's inspect data, or None when there is no such container."""
        status, body = self._request(f"/containers/{urllib.parse.quote(name, safe='')}/json")
        if status == 404:
            return None
        if status != 200:
            raise EngineError(f"inspecting container {name} failed: HTTP {status} {body[:200]!r}")
        return json.loads(body)

    def logs(self, name: str, lines: int, tty: bool = False) -> list[str]:
        """The last ``lines`` lines the container wrote to stdout and stderr."""
        if lines <= 0:
            return []
        query = urllib.parse.urlencode({"stdout": 1, "stderr": 1, "tail": lines})
        status, body = self._request(f"/containers/{urllib.parse.quote(name, safe='')}/logs?{query}")
        if status != 200:
            return []
        return log_lines(body if tty else demux(body), lines)


def demux(data: bytes) -> bytes:
    """The payload of a multiplexed log stream (8-byte frame headers: stream, 0, 0, 0, size).
    Data that is not framed that way (a TTY container) is returned as it is."""
    out = bytearray()
    offset = 0
    while offset < len(data):
        header = data[offset : offset + 8]
        if len(header) < 8 or header[0] not in (0, 1, 2) or header[1:4] != b"\0\0\0":
            return data if offset == 0 else bytes(out + data[offset:])
        (size,) = struct.unpack(">I", header[4:8])
        out += data[offset + 8 : offset + 8 + size]
        offset += 8 + size
    return bytes(out)


def log_lines(data: bytes, lines: int) -> list[str]:
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
