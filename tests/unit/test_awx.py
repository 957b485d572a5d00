"""AWX as awx/ configures it. The execution environment, as ansible-builder makes it: the build
context `ansible-builder create` writes from execution-environment.yml installs the pinned
ansible-core and ansible-runner with a Python that ansible-core supports, and the libraries the
collection's plugins import (the image itself is built from a registry this sandbox does not
reach: what it would run is read from the Containerfile). The job templates: none limits tags.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import metadata, packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def pins(requirements: Path) -> dict[str, str]:
    """name -> version of the `name==version` lines of a pip requirements file."""
    found = (re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line) for line in requirements.read_text().splitlines())
    return {m.group(1).lower(): m.group(2) for m in found if m}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context `ansible-builder create` writes."""
    made = tmp_path_factory.mktemp("ee") / "context"
    subprocess.run(
        [
            str(BIN / "ansible-builder"),
            "create",
            "-f",
            str(ROOT / "execution-environment.yml"),
            "-c",
            str(made),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return made


@pytest.fixture(scope="module")
def containerfile(context: Path) -> str:
    return (context / "Containerfile").read_text()


def arg(containerfile: str, name: str) -> str:
    found = re.search(rf'^ARG {name}="([^"]*)"', containerfile, re.MULTILINE)
    assert found, f"the Containerfile sets no {name}"
    return found.group(1)


def test_the_ee_installs_the_pinned_ansible_core_and_runner(containerfile: str) -> None:
    pinned = pins(ROOT / "requirements.txt")
    refs = arg(containerfile, "ANSIBLE_INSTALL_REFS").split()
    assert refs == [f"ansible-core=={pinned['ansible-core']}", f"ansible-runner=={pinned['ansible-runner']}"]


def test_the_ee_python_is_one_ansible_core_runs_on(containerfile: str) -> None:
    """The Python the Containerfile installs ansible-core with (PYCMD), installed by its package
    (PYPKG), is a version the pinned ansible-core supports (its Requires-Python)."""
    python = arg(containerfile, "PYCMD")
    version = re.fullmatch(r"/usr/bin/python(\d+\.\d+)", python)
    assert version, f"PYCMD {python} names no Python version: the base image's python3 may be too old"
    assert arg(containerfile, "PYPKG") == f"python{version.group(1)}"
    assert "$PKGMGR install $PYPKG" in containerfile
    assert "RUN $PYCMD -m pip install --no-cache-dir $ANSIBLE_INSTALL_REFS" in containerfile
    requires = metadata("ansible-core")["Requires-Python"]
    assert version.group(1) in SpecifierSet(requires), (
        f"ansible-core needs Python {requires}, the EE has {python}"
    )


def normalized(name: str) -> str:
    """A package name as pip compares them (PEP 503): lowercase, runs of `-_.` as one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported(path: Path) -> set[str]:
    """The top-level names a Python file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_ee_has_the_libraries_the_plugins_import(context: Path, containerfile: str) -> None:
    """Every library outside the standard library and Ansible that a plugin imports is among the
    EE's Python requirements, which the Containerfile installs."""
    wanted = set().union(*(imported(p) for p in (ROOT / "plugins").rglob("*.py")))
    third_party = wanted - set(sys.stdlib_module_names) - {"__future__", "ansible", "ansible_collections"}
    assert third_party, "no library found: the scan is broken"
    lines = (context / "_build/requirements.txt").read_text().splitlines()
    listed = {
        normalized(re.split(r"[\[<>=!~ ;#]", line.strip(), maxsplit=1)[0])
        for line in lines
        if line.strip() and not line.strip().startswith("#")
    }
    # A library is listed by the name of the package that installs it (markdown-it-py installs
    # markdown_it): an import is covered when one of the packages that provide it here is listed.
    providers = packages_distributions()
    missing = {
        name for name in third_party if not {normalized(d) for d in providers.get(name, [name])} & listed
    }
    assert not missing, f"imported by the plugins, missing from the EE: {sorted(missing)}"
    assert "RUN /output/scripts/assemble" in containerfile


def test_no_awx_job_template_limits_tags() -> None:
    """A run limited by tags keeps no run ledger (roles/run_ledger), so an AWX job that did
    could not resume: the job templates leave phases out by variables instead."""
    settings = yaml.safe_load((ROOT / "awx/settings.yml").read_text())
    limited = [t["name"] for t in settings["awx_job_templates"] if {"job_tags", "skip_tags", "tags"} & set(t)]
    assert limited == []
    upgrade = next(t for t in settings["awx_job_templates"] if t["playbook"] == "playbooks/upgrade.yml")
    assert upgrade["extra_vars"] == {"upgrade_validate": False}
