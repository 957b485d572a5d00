"""intelgraph.ops.haproxy_info: reading `show stat` from HAProxy's runtime API."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._haproxy import (
    DONE,
    DRAIN,
    MAINTENANCE,
    WAIT,
    HAProxyError,
    drain_step,
    in_service,
    in_service_except,
    parse_stat,
    runtime_command,
    servers,
)

SHOW_STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight,check_status,addr
fe_api,FRONTEND,,,3,8,4096,1521,OPEN,,,
be_api,api1,0,0,2,4,,522,UP,1,L7OK,10.89.45.21:8080
be_api,api2,0,0,0,4,,513,MAINT,1,,10.89.45.22:8080
be_api,api3,0,0,1,4,,485,UP 1/2,1,L7STS,10.89.45.23:8080
be_api,BACKEND,0,0,3,8,410,1520,UP,2,,
be_other,api1,0,0,0,0,,0,DRAIN,0,L7OK,10.89.45.21:9000

"""


def test_parse_stat_reads_the_csv() -> None:
    rows = parse_stat(SHOW_STAT)
    assert len(rows) == 6
    assert rows[1]["svname"] == "api1" and rows[1]["scur"] == "2"


def test_parse_stat_refuses_anything_else() -> None:
    with pytest.raises(ValueError, match="not a 'show stat' answer"):
        parse_stat("Unknown command.\n")


def test_servers_of_one_backend() -> None:
    be_api = servers(parse_stat(SHOW_STAT), "be_api")
    assert list(be_api) == ["be_api"]
    assert be_api["be_api"]["api2"] == {
        "status": "MAINT",
        "in_service": False,
        "weight": 1,
        "sessions": 0,
        "check_status": "",
        "address": "10.89.45.22:8080",
    }
    assert be_api["be_api"]["api3"]["in_service"] is True
    assert set(servers(parse_stat(SHOW_STAT))) == {"be_api", "be_other"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("UP", True),
        ("UP 1/2", True),
        ("no check", True),
        ("DRAIN", False),
        ("MAINT", False),
        ("MAINT (via be_x/api1)", False),
        ("DOWN", False),
        ("DOWN 1/2", False),
        ("NOLB", False),
    ],
)
def test_in_service(status: str, expected: bool) -> None:
    assert in_service(status) is expected


def test_in_service_except_leaves_out_the_batch() -> None:
    be_api = servers(parse_stat(SHOW_STAT), "be_api")["be_api"]
    assert in_service_except(be_api, []) == ["api1", "api3"]
    assert in_service_except(be_api, ["api1"]) == ["api3"]


def test_runtime_command_talks_to_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "admin.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    received = []

    def serve() -> None:
        conn, _address = listener.accept()
        with conn:
            received.append(conn.recv(1024))
            conn.sendall(SHOW_STAT.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert runtime_command(path, "show stat") == SHOW_STAT
    thread.join(5)
    listener.close()
    assert received == [b"show stat\n"]


def test_runtime_command_names_the_socket_it_could_not_reach(tmp_path: Path) -> None:
    with pytest.raises(HAProxyError, match=r"admin\.sock"):
        runtime_command(str(tmp_path / "admin.sock"), "show stat")


@pytest.mark.parametrize(
    ("status", "sessions", "step"),
    [
        ("UP", 3, DRAIN),
        ("UP 1/2", 0, DRAIN),
        ("no check", 0, DRAIN),
        ("DRAIN", 2, WAIT),
        ("NOLB", 1, WAIT),
        ("DRAIN", 0, MAINTENANCE),
        # HAProxy sends nothing to a server that is down: no wait for its sessions.
        ("DOWN", 1, MAINTENANCE),
        ("DOWN 1/2", 0, MAINTENANCE),
        ("MAINT", 0, DONE),
        ("MAINT (via be_x/api1)", 0, DONE),
    ],
)
def test_drain_step(status: str, sessions: int, step: str) -> None:
    assert drain_step(status, sessions) == step
