"""intelgraph.ops container_ready: judging whether a container started, and the module as it
reads a container and its logs through community.docker's client from a stand-in engine that
answers as a Docker-compatible engine does (API version negotiation, container list, inspect,
logs), over a unix socket and over TCP with TLS."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socketserver
import ssl
import struct
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._container import (
    log_lines,
    readiness,
    start_failure,
    summarise,
    version_matches,
)
from conftest import run_module
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IMAGE = "registry.example/intelgraph-server:24.1.0"
API_VERSION = "1.41"  # what podman's compatible socket negotiates


def frame(stream: int, text: str) -> bytes:
    data = text.encode()
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(data)) + data


def container(status: str = "running", restarts: int = 0, tty: bool = False, **state: Any) -> dict[str, Any]:
    return {
        "Config": {"Image": IMAGE, "Tty": tty},
        "RestartCount": restarts,
        "State": {"Status": status, "Running": status == "running", "ExitCode": 0, **state},
    }


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


# --- the module, through a stand-in engine ------------------------------------------------


@dataclass
class Request:
    path: str
    tls: str | None  # the TLS version of the connection, None for plain HTTP
    client_cn: str | None  # the common name of the client's certificate, if it sent one


@dataclass
class EngineState:
    """The containers the stand-in engine has ({name: inspect}), their log streams as the engine
    sends them ({name: bytes}), and every request it was asked."""

    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)


class Answering(BaseHTTPRequestHandler):
    """A loopback server's handler: answers with a body and its length, logs nothing."""

    protocol_version = "HTTP/1.1"
    headers_sent: ClassVar[dict[str, str]] = {}
    server: Any

    def answer_json(self, status: int, body: Any) -> None:
        self.answer(status, json.dumps(body).encode(), "application/json")

    def answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        for name, value in self.headers_sent.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class StandInEngine(Answering):
    """Answers the Docker Engine API requests the module makes, as podman's compatible
    socket answers them: unversioned /_ping and /version, then /v<ApiVersion>/ paths."""

    headers_sent: ClassVar[dict[str, str]] = {"Api-Version": API_VERSION, "Server": "Libpod/4.9.3 (linux)"}

    def do_GET(self) -> None:
        state: EngineState = self.server.state
        tls = self.connection.version() if isinstance(self.connection, ssl.SSLSocket) else None
        peer = self.connection.getpeercert() if tls else None
        client_cn = dict(item[0] for item in peer["subject"])["commonName"] if peer else None
        state.requests.append(Request(self.path, tls, client_cn))
        url = urllib.parse.urlsplit(self.path)
        path = url.path.removeprefix(f"/v{API_VERSION}")
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/_ping":
            self.answer(200, b"OK", "text/plain; charset=utf-8")
        elif path == "/version":
            self.answer_json(
                200,
                {
                    "Version": "4.9.3",
                    "ApiVersion": API_VERSION,
                    "MinAPIVersion": "1.24",
                    "Os": "linux",
                    "Arch": "amd64",
                    "Components": [{"Name": "Podman Engine", "Version": "4.9.3"}],
                },
            )
        elif path == "/containers/json" and query.get("all") == ["1"]:
            self.answer_json(
                200,
                [
                    {
                        "Id": c["Id"],
                        "Names": [c["Name"]],
                        "Image": c["Config"]["Image"],
                        "State": c["State"]["Status"],
                    }
                    for c in state.containers.values()
                ],
            )
        elif found := self.container(path, "/json"):
            self.answer_json(200, found)
        elif found := self.container(path, "/logs"):
            assert query["stdout"] == ["1"] and query["stderr"] == ["1"]
            tail = int(query.get("tail", ["0"])[0])
            data = state.logs.get(found["Name"][1:], b"")
            kind = "raw-stream" if found["Config"]["Tty"] else "multiplexed-stream"
            self.answer(200, data if tail else b"", f"application/vnd.docker.{kind}")
        elif path.startswith("/containers/"):
            self.answer_json(404, {"message": f"no container with name or ID {path.split('/')[2]!r} found"})
        else:
            self.answer_json(404, {"message": "page not found"})

    def container(self, path: str, suffix: str) -> dict[str, Any] | None:
        if not (path.startswith("/containers/") and path.endswith(suffix)):
            return None
        ref = path[len("/containers/") : -len(suffix)]
        return next(
            (c for c in self.server.state.containers.values() if ref in (c["Id"], c["Name"][1:])),
            None,
        )


class UnixEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        request, _address = super().get_request()
        return request, ("local", 0)


def serve(server: Any, state: EngineState) -> Iterator[EngineState]:
    server.state = state
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def add_container(state: EngineState, name: str, inspect: dict[str, Any], logs: bytes = b"") -> None:
    inspect = {"Id": f"{len(state.containers) + 1:064x}", "Name": f"/{name}", **inspect}
    state.containers[name] = inspect
    state.logs[name] = logs


@pytest.fixture
def unix_engine(tmp_path: Path) -> Iterator[tuple[str, EngineState]]:
    path = tmp_path / "engine.sock"
    state = EngineState()
    for served in serve(UnixEngine(str(path), StandInEngine), state):
        yield f"unix://{path}", served


@pytest.fixture(autouse=True)
def no_docker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module reads DOCKER_HOST, DOCKER_TLS_VERIFY... when an option is not given, and the
    requests library it talks through verifies the engine against REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE, when one is set, instead of ca_path."""
    for name in ("HOST", "TLS", "TLS_VERIFY", "CERT_PATH", "API_VERSION", "TIMEOUT", "TLS_HOSTNAME"):
        monkeypatch.delenv(f"DOCKER_{name}", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def module_paths(state: EngineState) -> list[str]:
    return [urllib.parse.urlsplit(r.path).path for r in state.requests]


@pytest.mark.parametrize("tty", [False, True], ids=["multiplexed", "tty"])
def test_a_stopped_container_fails_naming_the_cause_and_its_last_log_lines(
    unix_engine: tuple[str, EngineState], tty: bool
) -> None:
    docker_host, state = unix_engine
    output = ["booting", "cannot start: broken"]
    if tty:
        logs = "".join(f"{line}\r\n" for line in output).encode()
    else:
        logs = frame(1, f"{output[0]}\n") + frame(2, f"{output[1]}\n")
    add_container(state, "api", container("exited", tty=tty, ExitCode=3), logs)
    result = run_module(
        "container_ready",
        {"name": "api", "docker_host": docker_host, "url": "http://127.0.0.1:9/readyz", "log_lines": 2},
    )
    assert result["failed"] is True
    assert result["msg"] == (
        f"container api ({IMAGE}) did not start: it is exited, exit code 3. "
        "Its last log lines: booting | cannot start: broken."
    )
    assert result["cause"] == "it is exited, exit code 3"
    assert result["logs"] == output
    assert result["ready"] is False
    assert result["image"] == IMAGE
    assert result["state"]["ExitCode"] == 3
    api_id = state.containers["api"]["Id"]
    # The API version is negotiated first, then every call is made on it.
    assert module_paths(state) == [
        "/version",
        f"/v{API_VERSION}/containers/json",
        f"/v{API_VERSION}/containers/{api_id}/json",
        f"/v{API_VERSION}/containers/{api_id}/logs",
    ]
    assert "tail=2" in state.requests[-1].path


def test_a_missing_container_fails_at_once(unix_engine: tuple[str, EngineState]) -> None:
    docker_host, state = unix_engine
    add_container(state, "ingest", container("running"))
    result = run_module(
        "container_ready",
        {
            "name": "api",
            "docker_host": docker_host,
            "api_version": API_VERSION,
            "url": "http://127.0.0.1:9/readyz",
            "wait_timeout": 60,
        },
    )
    assert result["msg"] == "container api (no image) did not start: there is no such container."
    assert result["logs"] == []
    # With api_version given, the client does not ask the engine for it.
    assert module_paths(state) == [f"/v{API_VERSION}/containers/json"]


def test_a_running_container_whose_service_is_not_ready_fails_after_wait_timeout(
    unix_engine: tuple[str, EngineState],
) -> None:
    docker_host, state = unix_engine
    add_container(state, "api", container("running"), frame(1, "listening on :8080\n"))
    with ThreadingHTTPServer(("127.0.0.1", 0), Service) as service:
        service.ready = False
        threading.Thread(target=service.serve_forever, daemon=True).start()
        try:
            result = run_module(
                "container_ready",
                {
                    "name": "api",
                    "docker_host": docker_host,
                    "url": f"http://127.0.0.1:{service.server_address[1]}/readyz",
                    "wait_timeout": 1,
                    "delay": 0.2,
                },
            )
        finally:
            service.shutdown()
    assert result["msg"].startswith(
        f"container api ({IMAGE}) runs but is not ready after 1 s: http://127.0.0.1:"
    )
    assert result["msg"].endswith(
        '/readyz answered HTTP 503: {"ready": false}. Its last log lines: listening on :8080.'
    )
    assert 1.0 <= result["elapsed"] < 10
    assert module_paths(state).count(f"/v{API_VERSION}/containers/json") >= 2


def test_an_engine_that_does_not_answer_fails_the_module(tmp_path: Path) -> None:
    result = run_module(
        "container_ready",
        {"name": "api", "docker_host": f"unix://{tmp_path}/none.sock", "url": "http://127.0.0.1:9/readyz"},
    )
    assert result["failed"] is True
    assert result["ready"] is False
    assert "Error while fetching server API version" in result["msg"]
    assert "No such file or directory" in result["msg"]


class Service(Answering):
    """The service in the container: /readyz (503 while the server's ``ready`` is false) and
    /version."""

    def do_GET(self) -> None:
        if self.path == "/readyz":
            ready = getattr(self.server, "ready", True)
            self.answer_json(*((200, {"ready": True}) if ready else (503, {"ready": False})))
        else:
            self.answer_json(200, {"version": "24.1.0"})


# --- TLS: an engine on TCP that requires a client certificate, a service on HTTPS ---------


class Authority:
    """A CA that signs certificates for loopback servers and for clients."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self.builder(subject, self.key.public_key())
            .issuer_name(subject)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{name}-ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def builder(subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    def issue(self, name: str, server: bool) -> tuple[Path, Path]:
        """(certificate, key) files for a loopback server (localhost) or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self.builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
            .issuer_name(self.cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert_path, key_path = self.directory / f"{name}.pem", self.directory / f"{name}-key.pem"
        cert_path.write_bytes(
            builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path


def tls_server(server: socketserver.TCPServer, cert: tuple[Path, Path], client_ca: Path | None) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server.socket = context.wrap_socket(server.socket, server_side=True)


@dataclass
class TlsSetup:
    engine: str  # tcp://localhost:<port>
    state: EngineState
    engine_ca: Path
    client: tuple[Path, Path]
    service_url: str  # https://localhost:<port>
    service_ca: Path

    def args(self, engine_ca: Path, service_ca: Path, **more: Any) -> dict[str, Any]:
        """The module's arguments: the engine verified against ``engine_ca`` with the client
        certificate, the service's /readyz against ``service_ca``."""
        return {
            "name": "api",
            "docker_host": self.engine,
            "validate_certs": True,
            "ca_path": str(engine_ca),
            "client_cert": str(self.client[0]),
            "client_key": str(self.client[1]),
            "url": f"{self.service_url}/readyz",
            "url_ca_path": str(service_ca),
            **more,
        }


@pytest.fixture
def tls_setup(tmp_path: Path) -> Iterator[TlsSetup]:
    """An engine on TCP with TLS that wants a client certificate of its CA, and the service on
    HTTPS with a certificate of another CA."""
    engine_ca, service_ca = Authority(tmp_path, "engine"), Authority(tmp_path, "service")
    engine_server = ThreadingHTTPServer(("127.0.0.1", 0), StandInEngine)
    tls_server(engine_server, engine_ca.issue("engine", server=True), client_ca=engine_ca.path)
    service = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    tls_server(service, service_ca.issue("api1", server=True), client_ca=None)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    state = EngineState()
    try:
        for served in serve(engine_server, state):
            yield TlsSetup(
                engine=f"tcp://localhost:{engine_server.server_address[1]}",
                state=served,
                engine_ca=engine_ca.path,
                client=engine_ca.issue("intelgraph-controller", server=False),
                service_url=f"https://localhost:{service.server_address[1]}",
                service_ca=service_ca.path,
            )
    finally:
        service.shutdown()
        service.server_close()


def test_the_engine_is_reached_over_tls_with_a_client_certificate(tls_setup: TlsSetup) -> None:
    add_container(tls_setup.state, "api", container("running"))
    result = run_module(
        "container_ready",
        tls_setup.args(
            tls_setup.engine_ca,
            tls_setup.service_ca,
            version_url=f"{tls_setup.service_url}/version",
            version="24.1.0",
        ),
    )
    assert result.get("failed") is not True, result.get("msg")
    assert result["ready"] is True
    assert result["version"] == "24.1.0"
    assert result["image"] == IMAGE
    assert result["changed"] is False
    # Every request reached the engine over TLS, from the client certificate given.
    assert module_paths(tls_setup.state)[0] == "/version"
    assert {r.client_cn for r in tls_setup.state.requests} == {"intelgraph-controller"}
    assert {r.tls for r in tls_setup.state.requests} <= {"TLSv1.2", "TLSv1.3"}


def test_an_engine_certificate_of_another_ca_is_refused(tls_setup: TlsSetup) -> None:
    add_container(tls_setup.state, "api", container("running"))
    result = run_module("container_ready", tls_setup.args(tls_setup.service_ca, tls_setup.service_ca))
    assert result["failed"] is True
    assert "CERTIFICATE_VERIFY_FAILED" in result["msg"]
    assert tls_setup.state.requests == []


def test_the_service_certificate_is_checked_with_url_ca_path_not_the_engine_s(tls_setup: TlsSetup) -> None:
    add_container(tls_setup.state, "api", container("running"))
    result = run_module(
        "container_ready", tls_setup.args(tls_setup.engine_ca, tls_setup.engine_ca, wait_timeout=0)
    )
    assert result["failed"] is True
    assert result["msg"].startswith(
        f"container api ({IMAGE}) runs but is not ready after 0 s: https://localhost:"
    )
    assert "certificate verify failed" in result["msg"]
