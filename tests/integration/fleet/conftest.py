"""The fleet's host image, one container of it per test file: a host as the fleet's are (systemd
as PID 1, no network), started for the file's tests and removed after them."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))

from sandbox import ROOT, Fleet


@pytest.fixture(scope="module")
def probe() -> Iterator[tuple[Fleet, str]]:
    """A fleet with one host of its own, in group `probe`: a container of the sandbox host image
    (made first by sandbox/image/build.sh when this machine has none), booted."""
    image = subprocess.run(
        [str(ROOT / "sandbox/image/build.sh")], capture_output=True, text=True, check=True, timeout=1800
    ).stdout.strip()
    fleet = Fleet()
    name = f"probe-{uuid.uuid4().hex[:8]}"
    fleet.groups["probe"] = [name]
    container = fleet.container(name)
    subprocess.run(
        ["podman", "run", "--detach", "--rm", "--name", container, "--network", "none", "--systemd", "always", image],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    try:
        deadline, state = time.monotonic() + 120, ""
        while state not in ("running", "degraded"):  # systemd's bus is not there at first
            assert time.monotonic() < deadline, f"{container} did not boot: {state!r}"
            time.sleep(0.5)
            state = fleet.host(name).run("systemctl is-system-running --wait").stdout.strip()
        yield fleet, name
    finally:
        subprocess.run(
            ["podman", "rm", "--force", "--time", "0", container], capture_output=True, timeout=120
        )
