"""The test suite's own tooling: the key that the fleet images are saved under, and the
timings `make test` prints at its end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "e2e"))
sys.path.insert(0, str(TESTS))

import timings  # noqa: E402

from sandbox import FLEET_INPUTS, ROOT, inputs_key  # noqa: E402


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "roles/redis/tasks").mkdir(parents=True)
    (tmp_path / "roles/redis/tasks/main.yml").write_text("- name: one\n")
    (tmp_path / "roles/redis/__pycache__").mkdir()
    (tmp_path / "roles/redis/__pycache__/x.pyc").write_bytes(b"\0")
    (tmp_path / "site.yml").write_text("---\n")
    (tmp_path / "README.md").write_text("not an input\n")
    return tmp_path


def test_the_key_changes_with_an_input_and_the_fleet_only(tree: Path) -> None:
    inputs = ["roles", "site.yml"]
    key = inputs_key(tree, inputs, "intelgraph-sandbox1")
    assert len(key) == 16 and key == inputs_key(tree, inputs, "intelgraph-sandbox1")
    assert inputs_key(tree, inputs, "intelgraph-sandbox2") != key  # the addresses differ

    (tree / "README.md").write_text("changed, but builds nothing\n")
    (tree / "roles/redis/__pycache__/x.pyc").write_bytes(b"\1")
    assert inputs_key(tree, inputs, "intelgraph-sandbox1") == key

    (tree / "roles/redis/tasks/main.yml").write_text("- name: two\n")
    changed = inputs_key(tree, inputs, "intelgraph-sandbox1")
    assert changed != key

    (tree / "roles/redis/tasks/main.yml").rename(tree / "roles/redis/tasks/other.yml")
    assert inputs_key(tree, inputs, "intelgraph-sandbox1") != changed  # a renamed file counts


def test_every_fleet_input_is_in_the_checkout() -> None:
    missing = [top for top in FLEET_INPUTS if not (ROOT / top).exists() and top != "sandbox/dist"]
    assert missing == []
    assert {"roles", "plugins", "playbooks/site.yml", "sandbox/playbooks/seed.yml"} <= set(FLEET_INPUTS)


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.e2e.test_rollout" name="test_upgrade" time="250.4"/>
<testcase classname="tests.e2e.test_precheck" name="test_bad_input[burst]" time="31.0"/>
<testcase classname="tests.e2e.test_faults" name="test_faults" time="301.6"/>
</testsuite></testsuites>
"""


def test_timings_print_the_parts_the_budget_and_the_slowest_tests(tmp_path: Path) -> None:
    (tmp_path / "test.seconds").write_text("1450 rc=0\n")
    (tmp_path / "test-e2e.seconds").write_text("1260 rc=0\n")
    (tmp_path / "molecule.seconds").write_text("430 rc=1\n")
    (tmp_path / "e2e.xml").write_text(JUNIT)

    text = timings.summary(
        timings.read_parts(tmp_path), timings.slowest_tests(tmp_path / "e2e.xml", 2), 25, 20
    )
    assert text.splitlines() == [
        "make test: 24m10s (within its 25-minute target)",
        "  Molecule                     7m10s",
        "  end-to-end                  21m00s  (budget 20m: 1m00s OVER)",
        "slowest end-to-end tests (fleet set-up included):",
        "     5m02s  tests/e2e/test_faults.py::test_faults",
        "     4m10s  tests/e2e/test_rollout.py::test_upgrade",
    ]


def test_timings_without_a_junit_report_print_the_parts_alone(tmp_path: Path) -> None:
    (tmp_path / "test.seconds").write_text("1600 rc=0\n")
    text = timings.summary(
        timings.read_parts(tmp_path), timings.slowest_tests(tmp_path / "none.xml", 5), 25, 20
    )
    assert text == "make test: 26m40s (OVER its 25-minute target)"
