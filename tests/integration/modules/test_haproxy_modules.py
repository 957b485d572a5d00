"""haproxy_drain and haproxy_info, run as Ansible runs them, against a real HAProxy on loopback in
front of three small HTTP servers: a server is drained without cutting the request it holds,
then put in maintenance; one HAProxy has down goes straight to maintenance; too few others in
service stops it before anything changes."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._haproxy import (
    parse_stat,
    runtime_command,
    servers,
)
from module_run import run_module
from scratch_redis import free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@dataclass
class Backend:
    """An HTTP server answering its own name; /hold answers once `release` is set."""

    name: str
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> tuple[http.server.ThreadingHTTPServer, int]:
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/hold"):
                    backend.release.wait(30)
                body = backend.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, server.server_address[1]


@dataclass
class LoadBalancer:
    socket: str
    url: str
    backends: dict[str, Backend]

    def states(self) -> dict[str, dict[str, Any]]:
        return servers(parse_stat(runtime_command(self.socket, "show stat")), "be_api")["be_api"]

    def wait_for(self, server: str, status: str, sessions: int | None = None) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = self.states()[server]
            if state["status"].startswith(status) and sessions in (None, state["sessions"]):
                return
            time.sleep(0.1)
        raise AssertionError(
            f"{server} never reached {status} ({sessions} sessions): {self.states()[server]}"
        )

    def get(self, path: str = "/") -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return answer.read().decode()


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[LoadBalancer]:
    """HAProxy in front of api1 and api2 (serving) and api3 (a port nobody listens on: down)."""
    backends = [Backend("api1"), Backend("api2")]
    started = [backend.start() for backend in backends]
    ports = [port for _server, port in started] + [free_port()]
    front = free_port()
    sock = tmp_path / "admin.sock"
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        f"""global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe_api
    bind 127.0.0.1:{front}
    default_backend be_api
backend be_api
    balance roundrobin
    use-server api1 if {{ path_beg /api1/ }}
"""
        + "".join(
            f"    server api{n} 127.0.0.1:{port} check inter 200ms fall 1 rise 1\n"
            for n, port in enumerate(ports, start=1)
        )
    )
    proc = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        balancer = LoadBalancer(str(sock), f"http://127.0.0.1:{front}", {b.name: b for b in backends})
        deadline = time.monotonic() + 15
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        balancer.wait_for("api1", "UP")
        balancer.wait_for("api2", "UP")
        balancer.wait_for("api3", "DOWN")
        yield balancer
    finally:
        for backend in backends:
            backend.release.set()
        proc.terminate()
        proc.wait(10)
        for server, _port in started:
            server.shutdown()


def drain(lb: LoadBalancer, workdir: Path, check: bool = False, **args: Any) -> dict[str, Any]:
    return run_module(
        "haproxy_drain", {"socket": lb.socket, "backend": "be_api", **args}, workdir, check=check
    )


def moved(result: dict[str, Any]) -> tuple[bool, str, str, bool]:
    """What a haproxy_drain run did: changed, the status before and after, in maintenance."""
    return result["changed"], result["status_before"], result["status"], result["maintenance"]


def test_a_server_holding_a_request_is_drained_then_put_in_maintenance(
    lb: LoadBalancer, tmp_path: Path
) -> None:
    answers: list[str] = []
    held = threading.Thread(target=lambda: answers.append(lb.get("/api1/hold")))
    held.start()
    lb.wait_for("api1", "UP", sessions=1)

    first = drain(lb, tmp_path, server="api1", min_in_service=1)
    assert first["_rc"] == 0, first
    assert first["changed"] is True
    assert (first["status_before"], first["status"], first["sessions"]) == ("UP", "DRAIN", 1)
    assert first["maintenance"] is False
    assert first["in_service"] == ["api2"]
    # Draining: new requests go to the others; the held one is not cut.
    assert {lb.get() for _ in range(6)} == {"api2"}
    assert held.is_alive()
    again = drain(lb, tmp_path, server="api1", min_in_service=1)
    assert (again["changed"], again["status"], again["maintenance"]) == (False, "DRAIN", False)

    # The held request finishes with its answer.
    lb.backends["api1"].release.set()
    held.join(30)
    assert answers == ["api1"]
    lb.wait_for("api1", "DRAIN", sessions=0)

    done = drain(lb, tmp_path, server="api1", min_in_service=1)
    assert done["_rc"] == 0, done
    assert moved(done) == (True, "DRAIN", "MAINT", True)
    assert lb.states()["api1"]["status"] == "MAINT"
    settled = drain(lb, tmp_path, server="api1")
    assert (settled["changed"], settled["maintenance"]) == (False, True)


def test_a_server_haproxy_has_down_goes_straight_to_maintenance(lb: LoadBalancer, tmp_path: Path) -> None:
    result = drain(lb, tmp_path, server="api3", min_in_service=5)
    assert result["_rc"] == 0, result
    assert moved(result) == (True, "DOWN", "MAINT", True)


def test_too_few_others_in_service_stops_before_the_drain(lb: LoadBalancer, tmp_path: Path) -> None:
    result = drain(lb, tmp_path, server="api1", min_in_service=2, exclude=["api1"])
    assert result["_rc"] != 0
    assert result["msg"].startswith(
        "Only 1 server(s) of be_api in service besides api1 (api2), at least 2 required: "
        "api1 UP, api2 UP, api3 DOWN. api1 was left in service."
    ), result["msg"]
    assert result["changed"] is False
    assert {name: s["status"] for name, s in lb.states().items()} == {
        "api1": "UP",
        "api2": "UP",
        "api3": "DOWN",
    }
    # api2 counts only while it serves.
    runtime_command(lb.socket, "set server be_api/api2 state maint")
    alone = drain(lb, tmp_path, server="api1", min_in_service=1)
    assert alone["_rc"] != 0 and alone["msg"].startswith(
        "Only 0 server(s) of be_api in service besides api1 (none)"
    )
    assert lb.states()["api1"]["status"] == "UP"


def test_check_mode_changes_nothing_and_says_what_it_would(lb: LoadBalancer, tmp_path: Path) -> None:
    result = drain(lb, tmp_path, check=True, server="api1", min_in_service=1)
    assert result["_rc"] == 0, result
    assert (result["changed"], result["maintenance"], result["status"]) == (True, True, "UP")
    assert lb.states()["api1"]["status"] == "UP"


def test_a_server_that_is_not_in_the_backend_is_named(lb: LoadBalancer, tmp_path: Path) -> None:
    result = drain(lb, tmp_path, server="api9")
    assert result["_rc"] != 0
    assert result["msg"] == (
        "HAProxy's backend be_api has no server api9 (servers: api1, api2, api3). Check the backend and server names."
    )
