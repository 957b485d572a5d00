"""intelgraph.ops container_ready logic: reading a container from the Docker Engine API and
judging whether it started."""

from __future__ import annotations

import json
import socketserver
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._container import (
    Endpoint,
    Engine,
    EngineError,
    demux,
    log_lines,
    parse_docker_host,
    readiness,
    start_failure,
    summarise,
    version_matches,
)


def frame(stream: int, text: str) -> bytes:
    data = text.encode()
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(data)) + data


def container(status: str = "running", restarts: int = 0, **state: Any) -> dict[str, Any]:
    return {
        "Config": {"Image": "registry.example/intelgraph-server:24.1.0"},
        "RestartCount": restarts,
        "State": {"Status": status, "Running": status == "running", "ExitCode": 0, **state},
    }


@pytest.mark.parametrize(
    ("docker_host", "expected"),
    [
        ("unix:///var/run/docker.sock", Endpoint("unix", "/var/run/docker.sock")),
        ("unix:///run/podman/fleet6.sock", Endpoint("unix", "/run/podman/fleet6.sock")),
        ("tcp://10.0.0.5:2375", Endpoint("tcp", "10.0.0.5", 2375)),
        ("tcp://engine.example", Endpoint("tcp", "engine.example", 2375)),
        ("http://127.0.0.1:2376", Endpoint("tcp", "127.0.0.1", 2376)),
    ],
)
def test_parse_docker_host(docker_host: str, expected: Endpoint) -> None:
    assert parse_docker_host(docker_host) == expected


@pytest.mark.parametrize(
    "docker_host", ["ssh://root@engine", "npipe:////./pipe/docker_engine", "tcp://", "unix://"]
)
def test_parse_docker_host_refuses_what_it_cannot_reach(docker_host: str) -> None:
    with pytest.raises(ValueError, match="docker_host"):
        parse_docker_host(docker_host)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (frame(1, "listening\n") + frame(2, "warning\n"), b"listening\nwarning\n"),
        (b"plain tty output\n", b"plain tty output\n"),
        (b"", b""),
        (frame(2, "cut") + b"\x02\x00", b"cut\x02\x00"),
    ],
    ids=["multiplexed", "tty", "empty", "truncated-frame"],
)
def test_demux(data: bytes, expected: bytes) -> None:
    assert demux(data) == expected


def test_log_lines_keeps_the_last_non_blank_lines() -> None:
    assert log_lines(b"one\n\ntwo\r\nthree\n", 2) == ["two", "three"]
    assert log_lines(b"one\n", 0) == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["boom"] * 9, "boom (x9)"),
        (["a", "b", "b", "c"], "a | b (x2) | c"),
        ([f"l{i}" for i in range(8)], "l3 | l4 | l5 | l6 | l7"),
        ([], ""),
    ],
)
def test_summarise(lines: list[str], expected: str) -> None:
    assert summarise(lines) == expected


@pytest.mark.parametrize(
    ("inspect", "restarts_before", "expected"),
    [
        (container("running"), 0, None),
        (container("running", restarts=2), 2, None),
        (None, 0, "there is no such container"),
        (container("exited", ExitCode=3), 0, "it is exited, exit code 3"),
        (container("stopped", ExitCode=3), 0, "it is stopped, exit code 3"),
        (
            container("dead", ExitCode=137, OOMKilled=True),
            0,
            "it is dead, exit code 137 (killed for lack of memory)",
        ),
        (container("created"), 0, "it was created but not started"),
        (
            container("exited", ExitCode=127, Error="exec: intelgraph-api: not found"),
            0,
            "it is exited, exit code 127 (engine error: exec: intelgraph-api: not found)",
        ),
        (
            container("running", restarts=4),
            1,
            "its process keeps exiting: the engine restarted it 3 time(s)",
        ),
        (
            container("stopped", restarts=5, ExitCode=3),
            0,
            "its process keeps exiting: the engine restarted it 5 time(s), last exit code 3",
        ),
        (
            container("restarting", Restarting=True, ExitCode=1),
            0,
            "its process keeps exiting: the engine restarted it 0 time(s), last exit code 1",
        ),
    ],
    ids=[
        "running",
        "running-old-restarts",
        "missing",
        "exited",
        "podman-stopped",
        "oom",
        "created",
        "engine-error",
        "restarted-running-again",
        "restarted-stopped",
        "restarting",
    ],
)
def test_start_failure(inspect: dict[str, Any] | None, restarts_before: int, expected: str | None) -> None:
    assert start_failure(inspect, restarts_before) == expected


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"ready": True}, (True, "ready")),
        (503, {"reason": "draining"}, (False, 'HTTP 503: {"reason": "draining"}')),
        (-1, "Connection refused", (False, "no answer (Connection refused)")),
        (500, "x" * 300, (False, "HTTP 500: " + "x" * 200)),
    ],
)
def test_readiness(status: int, body: Any, expected: tuple[bool, str]) -> None:
    assert readiness(status, body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"version": "24.1.0", "host": "api1"}, (True, "24.1.0")),
        ({"version": "24.0.0"}, (False, "24.0.0")),
        ("not json", (False, "None")),
    ],
)
def test_version_matches(body: Any, expected: tuple[bool, str]) -> None:
    assert version_matches(body, "24.1.0") == expected


class FakeEngine(BaseHTTPRequestHandler):
    """Answers like a Docker-compatible engine for one container, `api`."""

    def do_GET(self) -> None:
        if self.path == "/containers/api/json":
            self.answer(200, json.dumps(container("exited", ExitCode=3)).encode())
        elif self.path.startswith("/containers/api/logs?"):
            assert "tail=2" in self.path and "stderr=1" in self.path
            self.answer(200, frame(2, "one\n") + frame(2, "cannot start: broken\n"))
        else:
            self.answer(404, b'{"message": "no such container"}')

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        request, _address = super().get_request()
        return request, ("local", 0)


@pytest.fixture
def engine_socket(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "engine.sock")
    server = UnixHTTPServer(path, FakeEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_engine_reads_a_container_and_its_logs_over_a_unix_socket(engine_socket: str) -> None:
    engine = Engine(parse_docker_host(f"unix://{engine_socket}"))
    inspect = engine.inspect("api")
    assert start_failure(inspect) == "it is exited, exit code 3"
    assert engine.logs("api", 2) == ["one", "cannot start: broken"]
    assert engine.inspect("absent") is None


def test_engine_unreachable_is_an_engine_error(tmp_path: Path) -> None:
    engine = Engine(Endpoint("unix", str(tmp_path / "nothing.sock")), timeout=1)
    with pytest.raises(EngineError, match="cannot reach the engine at unix://"):
        engine.inspect("api")
