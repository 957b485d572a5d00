"""intelgraph.ops.service_ready: ready and on the release expected, in one module run, against a
real HTTP server on loopback; its failures in uri's words, so that a rollout that stops says what
it said when two uri tasks asked."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_module, run_tasks, serve_http

VERSION = (200, "application/json", b'{"version": "24.1.0", "host": "api1"}\n')
ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/up/readyz": (200, "application/json", b'{"ready": true}'),
    "/up/version": VERSION,
    "/starting/readyz": (503, "application/json", b'{"ready": false}'),
    "/starting/version": VERSION,
    "/old/readyz": (200, "application/json", b'{"ready": true}'),
    "/old/version": (200, "application/json", b'{"version": "24.0.0"}'),
    "/mute/readyz": (200, "application/json", b'{"ready": true}'),
    "/mute/version": (500, "text/plain", b"boom"),
}


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    yield from serve_http(lambda path: ANSWERS.get(path, (404, "text/plain", b"not found")))


def args(base: str, version: str | None = "24.1.0") -> dict:
    given = {"url": f"{base}/readyz", "version_url": f"{base}/version", "timeout": 2}
    return given if version is None else dict(given, version=version)


def test_ready_on_the_release(service: str) -> None:
    result = run_module("service_ready", args(f"{service}/up"))
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    assert result["ready"]["status"] == 200
    assert result["service"] == {
        "url": f"{service}/up/version",
        "status": 200,
        "msg": "OK (38 bytes)",
        "version": "24.1.0",
    }


def test_not_ready_fails_in_uris_words(service: str) -> None:
    result = run_module("service_ready", args(f"{service}/starting"))
    assert result["failed"] is True
    assert result["msg"] == "Status code was 503 and not [200]: HTTP Error 503: Service Unavailable"
    assert result["ready"]["status"] == 503
    assert result["service"] == {}


def test_ready_on_another_release_names_both(service: str) -> None:
    result = run_module("service_ready", args(f"{service}/old"))
    assert result["failed"] is True
    assert result["msg"] == f"{service}/old/version answers release 24.0.0, not 24.1.0, though it is ready."
    # Without a release expected, any will do.
    assert run_module("service_ready", args(f"{service}/old", version=None)).get("failed") is not True


def test_a_version_url_that_fails_is_a_failure(service: str) -> None:
    result = run_module("service_ready", args(f"{service}/mute"))
    assert result["failed"] is True
    assert result["msg"].startswith("Status code was 500 and not [200]")


def test_nothing_listening(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_module("service_ready", args(f"http://127.0.0.1:{port}"))
    assert result["failed"] is True
    assert result["ready"]["status"] == -1
    assert "Connection refused" in result["msg"]


def test_a_bad_timeout_is_refused(service: str) -> None:
    result = run_module("service_ready", dict(args(f"{service}/up"), timeout=0))
    assert result["failed"] is True
    assert result["msg"] == "Bad timeout: timeout=0.0: must be more than 0 seconds (0 would wait for ever)."


def test_waited_for_with_until_it_stops_at_once_on_another_release(service: str, tmp_path: Path) -> None:
    """As the roles wait: `until` on the readiness status. A service that is not ready is asked
    again until the tries run out; one ready on the wrong release fails on the first try."""

    def wait(name: str, base: str, retries: int) -> dict:
        return {
            "name": name,
            "intelgraph.ops.service_ready": args(base),
            "register": "ready",
            "until": "ready.ready.status | default(-1) == 200",
            "retries": retries,
            "delay": 1,
            "ignore_errors": True,
        }

    results = run_tasks(
        [wait("starting", f"{service}/starting", 2), wait("wrong release", f"{service}/old", 5)], tmp_path
    )
    assert results["starting"]["failed"] is True
    assert results["starting"]["attempts"] == 2
    assert results["starting"]["msg"].startswith("Status code was 503")
    assert results["wrong release"]["failed"] is True
    assert results["wrong release"]["attempts"] == 1
    assert "answers release 24.0.0, not 24.1.0" in results["wrong release"]["msg"]


@pytest.fixture
def warming() -> Iterator[tuple[str, list[str]]]:
    """A service that answers 503 on its first three readiness requests, then 200; and the paths asked."""
    asked: list[str] = []

    def answer(path: str) -> tuple[int, str, bytes]:
        asked.append(path)
        if path == "/readyz":
            ready = sum(1 for p in asked if p == "/readyz") > 3
            return (200, "application/json", b'{"ready": true}') if ready else ANSWERS["/starting/readyz"]
        return ANSWERS["/up/version"] if path == "/version" else (404, "text/plain", b"not found")

    for base in serve_http(answer):
        yield base, asked


def test_a_wait_asks_again_until_ready(warming: tuple[str, list[str]]) -> None:
    base, asked = warming
    # The wait and the timeout are upper bounds, wide for a loaded machine: the run ends at the
    # fourth request.
    result = run_module("service_ready", dict(args(base), wait=60, timeout=30))
    assert result.get("failed") is not True, result
    assert result["ready"]["status"] == 200
    # Ready on the fourth request, 0.1 s apart: one module run, well short of the wait.
    assert asked == ["/readyz"] * 4 + ["/version"]


def test_a_wait_that_runs_out_answers_not_ready(service: str) -> None:
    started = time.monotonic()
    result = run_module("service_ready", dict(args(f"{service}/starting"), wait=0.5))
    assert time.monotonic() - started >= 0.5
    assert result["failed"] is True
    assert result["msg"] == "Status code was 503 and not [200]: HTTP Error 503: Service Unavailable"


def test_a_bad_wait_is_refused(service: str) -> None:
    result = run_module("service_ready", dict(args(f"{service}/up"), wait=-1))
    assert result["failed"] is True
    assert result["msg"] == "Bad wait: -1.0 is not between 0 and 3600 seconds."
