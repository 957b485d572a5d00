"""Fixtures of the end-to-end tests: the sandbox fleet, up and deployed.

`deployed` hands a test the fleet on the previous release (24.0.0), freshly built unless
the test before it was marked `keeps_fleet` and passed (it proved it changed nothing).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sandbox import Fleet


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist (make test-e2e runs two lanes) each worker drives a fleet of its own:
    # worker gwK takes sandbox INTELGRAPH_SANDBOX_ID + K + 1, so lanes never share a fleet
    # and leave the default fleet (make demo) alone.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        base = int(os.environ.get("INTELGRAPH_SANDBOX_ID") or 0)
        os.environ["INTELGRAPH_SANDBOX_ID"] = str(base + int(worker[2:]) + 1)
    config.addinivalue_line(
        "markers", "keeps_fleet: the test leaves the fleet as it found it, and checks that"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[CALL_PASSED] = report.passed


CALL_PASSED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    """The sandbox fleet, dirty until the first test that needs it deployed builds it."""
    return Fleet()


@pytest.fixture
def deployed(fleet: Fleet, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    """The fleet on 24.0.0, as site.yml leaves a fresh fleet."""
    if fleet.dirty:
        fleet.down()
        fleet.up()
        fleet.deploy()
    fleet.dirty = True
    yield fleet
    keeps = request.node.get_closest_marker("keeps_fleet") is not None
    fleet.dirty = not (keeps and request.node.stash.get(CALL_PASSED, False))
