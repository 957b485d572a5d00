"""Smoke test of a running API (``make smoke``).

Checks health, version, a write read back, and a subscription poll that sees the
write, against ``SMOKE_BASE_URL`` (default ``http://localhost:8080``). Prints one line
per check and exits non-zero on the first failure. ``SMOKE_EXPECT_VERSION`` makes the
version check strict; ``SMOKE_TENANT`` and ``SMOKE_REGION`` set the caller.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TIMEOUT_SECONDS = 5.0
ATTEMPTS = 5


class SmokeFailure(AssertionError):
    """A check did not pass."""


@dataclass(frozen=True)
class Client:
    """A minimal JSON client for the API."""

    base_url: str
    tenant: str
    region: str

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON body or text). Retries 429 and 503."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(1, ATTEMPTS + 1):
            status, payload = self._once(method, path, data)
            if status not in (429, 503) or attempt == ATTEMPTS:
                return status, payload
            time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, data: bytes | None) -> tuple[int, Any]:
        request = urllib.request.Request(self.base_url.rstrip("/") + path, data=data, method=method)
        request.add_header("X-Tenant-Id", self.tenant)
        request.add_header("X-Tenant-Region", self.region)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise SmokeFailure(f"{method} {path}: {exc}") from None


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def expect(status: int, wanted: int, what: str, body: Any) -> None:
    """Fail unless ``status`` is ``wanted``."""
    if status != wanted:
        raise SmokeFailure(f"{what}: HTTP {status} (wanted {wanted}): {body}")


class Smoke:
    """The checks, sharing the client and what earlier checks learnt."""

    def __init__(self, client: Client, expect_version: str | None) -> None:
        self.client = client
        self.expect_version = expect_version
        self.entity_id = f"smoke-{uuid.uuid4().hex[:12]}"
        self.data = {"check": "smoke", "nonce": uuid.uuid4().hex}
        self.cursor = "$"

    def healthz(self) -> str:
        """GET /healthz answers 200."""
        status, body = self.client.request("GET", "/healthz")
        expect(status, 200, "healthz", body)
        return "ok"

    def readyz(self) -> str:
        """GET /readyz answers 200."""
        status, body = self.client.request("GET", "/readyz")
        expect(status, 200, "readyz", body)
        return "ready"

    def version(self) -> str:
        """GET /version names a version (the expected one, if given)."""
        status, body = self.client.request("GET", "/version")
        expect(status, 200, "version", body)
        version = body.get("version") if isinstance(body, dict) else None
        if not version:
            raise SmokeFailure(f"version: no version in {body}")
        if self.expect_version and version != self.expect_version:
            raise SmokeFailure(f"version: {version}, expected {self.expect_version}")
        return str(version)

    def subscribe(self) -> str:
        """A poll without a cursor returns the cursor to start from."""
        status, body = self.client.request("GET", "/api/v1/subscriptions/poll")
        expect(status, 200, "subscribe", body)
        self.cursor = body["cursor"]
        return f"cursor {self.cursor}"

    def write(self) -> str:
        """POST an entity."""
        status, body = self.client.request(
            "POST", "/api/v1/entities", {"id": self.entity_id, "data": self.data}
        )
        expect(status, 201, "write", body)
        return self.entity_id

    def read_back(self) -> str:
        """GET the entity back with the written data."""
        status, body = self.client.request("GET", f"/api/v1/entities/{self.entity_id}")
        expect(status, 200, "read back", body)
        if body.get("data") != self.data:
            raise SmokeFailure(f"read back: data {body.get('data')} != written {self.data}")
        return "data matches"

    def poll_sees_write(self) -> str:
        """A poll from the saved cursor delivers the change event of the write."""
        deadline = time.monotonic() + 5.0
        cursor = self.cursor
        while time.monotonic() < deadline:
            status, body = self.client.request("GET", f"/api/v1/subscriptions/poll?cursor={cursor}&limit=500")
            expect(status, 200, "poll", body)
            if any(event.get("entity_id") == self.entity_id for event in body.get("events", [])):
                return "change event delivered"
            cursor = body.get("cursor", cursor)
            time.sleep(0.2)
        raise SmokeFailure(f"poll: no change event for {self.entity_id} within 5s")

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        """The checks in order."""
        return [
            ("healthz", self.healthz),
            ("readyz", self.readyz),
            ("version", self.version),
            ("subscribe", self.subscribe),
            ("write", self.write),
            ("read-back", self.read_back),
            ("subscription-poll", self.poll_sees_write),
        ]


def run(smoke: Smoke) -> int:
    """Run every check, printing a line each; return the exit code."""
    passed = 0
    for name, check in smoke.checks():
        started = time.perf_counter()
        try:
            detail = check()
        except (SmokeFailure, KeyError, TypeError, AttributeError) as exc:
            print(f"smoke: FAIL {name}: {exc}", flush=True)
            print(f"smoke: failed after {passed} passed check(s)", flush=True)
            return 1
        passed += 1
        print(f"smoke: ok {name} ({(time.perf_counter() - started) * 1000:.0f} ms) {detail}", flush=True)
    print(f"smoke: passed {passed} checks against {smoke.client.base_url}", flush=True)
    return 0


def main() -> int:
    """Entry point: ``python3 -m intelgraph.smoke``."""
    client = Client(
        base_url=os.environ.get("SMOKE_BASE_URL", "http://localhost:8080"),
        tenant=os.environ.get("SMOKE_TENANT", "smoke"),
        region=os.environ.get("SMOKE_REGION", "eu-west"),
    )
    return run(Smoke(client, os.environ.get("SMOKE_EXPECT_VERSION") or None))


if __name__ == "__main__":
    sys.exit(main())
