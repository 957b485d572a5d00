"""Fixtures of the end-to-end tests: the sandbox fleet, up and deployed.

`deployed` hands a test the fleet on the previous release (24.0.0), started anew from the
fleet images (Fleet.fresh: made once from site.yml and the seed, kept while what built them
is unchanged) unless the test before it was marked `keeps_fleet` and passed (it proved it
changed nothing). The fleet is removed when the session ends, unless KEEP_FLEETS=1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The e2e helpers (sandbox, checks, webhook) and the tests' shared support (scratch_redis).
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from sandbox import RUNS, Fleet, install_collection


def pytest_configure(config: pytest.Config) -> None:
    # The fleet is sandbox INTELGRAPH_SANDBOX_ID (0 by default, the one of `make demo`);
    # make test-e2e runs each file on a lane's fleet of its own (tests/lanes.py).
    config.addinivalue_line(
        "markers", "keeps_fleet: the test leaves the fleet as it found it, and checks that"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    RUNS.clear()  # from here on, the runs of this test (its set-up's included)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[CALL_PASSED] = report.passed
    if report.failed:
        # What the test's failed playbook runs said, so a CI log shows why, not only where. The
        # latest first: a test's own failure is most often its last run's, while runs before it
        # may have failed as the test meant them to, and a CI log keeps only the start of this.
        failed = [run for run in reversed(RUNS) if not run.ok]
        text = "\n\n".join(f"{run.log} (exit code {run.rc}):\n{run.failures()}" for run in failed)
        if text:
            report.sections.append((f"failed playbook runs, latest first ({report.when})", text))


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


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection built from this checkout and installed in an empty collections path, once
    per session (sandbox.install_collection); that path."""
    return install_collection(tmp_path_factory.mktemp("collection"))
