"""Run one of the collection's modules as Ansible runs it on a host: `python -m` of the module
with a JSON file of arguments, the checkout importable as ansible_collections.intelgraph.ops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_module(name: str, args: dict[str, Any], workdir: Path, check: bool = False) -> dict[str, Any]:
    """Run intelgraph.ops.<name> with these arguments (its argument file written in workdir); its
    JSON result, with the exit status as `_rc`."""
    argfile = workdir / f"{name}-{time.monotonic_ns()}.json"
    argfile.write_text(
        json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=True)})
    )
    proc = subprocess.run(
        [sys.executable, "-m", f"ansible_collections.intelgraph.ops.plugins.modules.{name}", str(argfile)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / ".collections")),
        timeout=180,
    )
    result = json.loads(proc.stdout)
    result["_rc"] = proc.returncode
    return result
