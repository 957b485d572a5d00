"""The sandbox says what is missing when this machine cannot run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_fleet_up_without_podman_stops_saying_what_is_missing(tmp_path: Path) -> None:
    # The machine's PATH as it is, less podman.
    tools = tmp_path / "bin"
    tools.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for program in Path(directory).glob("*") if Path(directory).is_dir() else []:
            target = tools / program.name
            if program.name != "podman" and not target.exists():
                target.symlink_to(program)
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{tools}",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        INTELGRAPH_SANDBOX_ID="9",
        ANSIBLE_NOCOLOR="1",
    )
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "sandbox/playbooks/fleet_up.yml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "podman is not installed or does not run" in run.stdout
    assert "make deps" in run.stdout
