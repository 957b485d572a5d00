"""Every module of the collection documents itself in a form ansible-doc reads, with the
attributes, examples and return values the house rules ask for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins/modules").glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        [BIN / "ansible-doc", "--json", *(f"intelgraph.ops.{m}" for m in MODULES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("module", MODULES)
def test_module_documentation(docs: dict[str, dict], module: str) -> None:
    entry = docs[f"intelgraph.ops.{module}"]
    assert entry["doc"]["short_description"]
    assert {"check_mode", "diff_mode"} <= set(entry["doc"]["attributes"])
    assert entry["examples"].strip()
    assert entry["return"]
