"""The modules reach HTTP through ansible.module_utils.urls.open_url (with the TLS options
where they talk to a service that may use TLS), not through urllib or raw sockets of their
own, and run commands only where the module_utils that need a process group do."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils import _prometheus
from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    PrometheusError,
    instant,
    prometheus_argument_spec,
    tls_options,
)
from conftest import serve_prometheus

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = sorted(
    p for folder in ("modules", "module_utils") for p in (ROOT / "plugins" / folder).glob("*.py")
)
# Where a raw subprocess stays, and why: module.run_command can neither start a command in a
# process group of its own (needed to stop everything a timed-out command started) nor leave a
# server running in the background.
SUBPROCESS_ALLOWED = {
    "_migrate.py": "a timed-out workspace command is stopped with its whole process group",
    "_cache_restore.py": "a scratch redis-server runs in the background while the snapshot is read",
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_http_goes_through_open_url(path: Path) -> None:
    names = imported(path)
    assert not {"urllib.request", "urllib2", "requests", "http.client.HTTPSConnection"} & names, path.name


@pytest.mark.parametrize(
    "path",
    [p for p in PLUGINS if p.name not in SUBPROCESS_ALLOWED],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_commands_go_through_run_command(path: Path) -> None:
    assert "subprocess" not in imported(path), path.name


def test_the_raw_subprocesses_left_are_those_explained() -> None:
    assert {p.name for p in PLUGINS if "subprocess" in imported(p)} == set(SUBPROCESS_ALLOWED)


def test_the_prometheus_options_carry_tls() -> None:
    spec = prometheus_argument_spec()
    assert {"validate_certs", "ca_path", "client_cert", "client_key"} <= set(spec)
    assert spec["validate_certs"]["default"] is True
    params = {"validate_certs": False, "ca_path": "/ca.pem", "client_cert": None, "client_key": None}
    assert tls_options(params) == {"validate_certs": False, "ca_path": "/ca.pem"}


def test_queries_pass_the_tls_options_to_open_url(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class Answer:
        def __enter__(self) -> Any:
            return self

        def __exit__(self, *args: object) -> None:
            pass

        def read(self, *args: object) -> bytes:
            return b'{"status": "success", "data": {"resultType": "vector", "result": []}}'

    def fake_open_url(url: str, **kwargs: Any) -> Answer:
        seen.update(kwargs, url=url)
        return Answer()

    monkeypatch.setattr(_prometheus, "open_url", fake_open_url)
    tls = {
        "validate_certs": True,
        "ca_path": "/etc/ssl/ca.pem",
        "client_cert": "/c.pem",
        "client_key": "/k.pem",
    }
    assert instant("https://prom.example.net:9090", "up", timeout=3, tls=tls) == []
    assert seen["url"].startswith("https://prom.example.net:9090/api/v1/query?")
    assert {k: seen[k] for k in tls} == tls
    assert seen["timeout"] == 3


@pytest.fixture(scope="module")
def plain_http() -> Any:
    yield from serve_prometheus(lambda query: (200, {"status": "success", "data": {"result": []}}))


def test_a_tls_failure_is_an_error_that_shows_no_password(plain_http: str) -> None:
    # https to a server that speaks plain HTTP: the TLS handshake fails.
    url = plain_http.replace("http://", "https://prom:s3cr3t@")
    with pytest.raises(PrometheusError) as failure:
        instant(url, "up", timeout=3)
    assert "https://***@127.0.0.1:" in str(failure.value)
    assert "s3cr3t" not in str(failure.value)
