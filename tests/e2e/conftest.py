"""Fixtures of the end-to-end tests: the sandbox fleet, up and deployed.

`deployed` hands a test the fleet on the previous release (24.0.0), started anew from the
fleet's images (Fleet.fresh: made once from site.yml and the seed, kept while what built them
is unchanged) unless the test before it was marked `keeps_fleet` and passed (it proved it
changed nothing). The fleet is removed when the session ends, unless KEEP_FLEETS=1.
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
def fleet() -> Iterator[Fleet]:
    """The sandbox fleet, dirty until the first test that needs it deployed starts it; removed
    at the end of the session unless KEEP_FLEETS=1 (to look at it: `make demo-down` with its
    INTELGRAPH_SANDBOX_ID removes it then)."""
    fleet = Fleet()
    yield fleet
    if os.environ.get("KEEP_FLEETS") != "1" and fleet.exists():
        fleet.down()


@pytest.fixture
def deployed(fleet: Fleet, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    """The fleet on 24.0.0, as site.yml leaves a fresh fleet."""
    if fleet.dirty:
        fleet.fresh()
    fleet.dirty = True
    yield fleet
    keeps = request.node.get_closest_marker("keeps_fleet") is not None
    fleet.dirty = not (keeps and request.node.stash.get(CALL_PASSED, False))


# The files of the longest tests first, so that the two lanes (pytest-xdist, --dist loadfile,
# which hands out files in this order as lanes free up) end close together. Within a file the
# tests keep the order they are written in; a file not listed comes last.
LONGEST_FIRST = [
    "test_precheck.py",
    "test_operate.py",
    "test_docker_runtime.py",
    "test_rollout.py",
    "test_faults.py",
    "test_rollback.py",
    "test_security.py",
    "test_migrate.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
