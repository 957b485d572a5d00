"""The collection's shape: its build, its roles' argument specs, its playbooks by full name."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
PLAYBOOKS = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml"))
PROJECT_ONLY = (
    "inventories/",
    "molecule/",
    "sandbox/",
    ".collections/",
    ".sandbox/",
    "ansible.cfg",
    # The stand-in service's tests: the service (sandbox/) is not in the collection either.
    "tests/unit/sandbox/",
    "tests/unit/test_sandbox_inventory.py",
    "tests/unit/test_sandbox_preflight.py",
)


def ansible_env() -> dict[str, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def collection_members(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", "--output-path", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env=ansible_env(),
    )
    (tarball,) = out.glob("intelgraph-ops-*.tar.gz")
    with tarfile.open(tarball) as tar:
        return tar.getnames()


def test_build_keeps_the_collection_content(collection_members: list[str]) -> None:
    for expected in ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "playbooks/upgrade.yml", "README.md"):
        assert expected in collection_members
    assert any(m.startswith("roles/rollout/") for m in collection_members)


@pytest.mark.parametrize("prefix", PROJECT_ONLY)
def test_build_leaves_out_project_only_files(collection_members: list[str], prefix: str) -> None:
    leaked = [m for m in collection_members if m == prefix.rstrip("/") or m.startswith(prefix)]
    assert leaked == []


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_argument_specs_match_defaults(role: Path) -> None:
    """Every default is documented in meta/argument_specs.yml with the same default value."""
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
    defaults_file = role / "defaults/main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    options = specs["main"]["options"] if "main" in specs else next(iter(specs.values()))["options"]
    undocumented = sorted(set(defaults or {}) - set(options))
    assert undocumented == [], f"{role.name}: defaults without an argument spec: {undocumented}"
    for name, value in (defaults or {}).items():
        spec_default = options[name].get("default")
        if spec_default is not None and not (isinstance(value, str) and "{{" in value):
            assert spec_default == value, f"{role.name}: {name} default {value!r} != spec {spec_default!r}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_variables_carry_the_role_prefix(role: Path) -> None:
    defaults_file = role / "defaults/main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    assert all(name.startswith(f"{role.name}_") for name in defaults or {})


@pytest.mark.parametrize("playbook", PLAYBOOKS)
@pytest.mark.parametrize("form", ["path", "fqcn"])
def test_playbook_resolves_by_path_and_full_name(playbook: str, form: str) -> None:
    target = f"playbooks/{playbook}.yml" if form == "path" else f"intelgraph.ops.{playbook}"
    result = subprocess.run(
        [BIN / "ansible-playbook", "--syntax-check", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"playbooks/{playbook}.yml" in result.stdout
