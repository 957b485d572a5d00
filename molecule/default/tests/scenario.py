"""What the scenario's verify tests share: the fleet (INTELGRAPH_SANDBOX_ID's, as tests/e2e sees
it), the two releases (the intelgraph role's defaults, which the scenario's inventory keeps), and
what prepare.yml kept before the upgrade in the scenario's ephemeral directory.

    python molecule/default/tests/scenario.py keep    # with tests/e2e on PYTHONPATH (prepare.yml)

writes every API and ingest env file (bytes, mode, owner, group), read through the hosts' testinfra
hosts as the rollback's tests read them again, to before-upgrade/env-files.json there.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import yaml
from checks import env_files

from sandbox import ROOT, Fleet

DEFAULTS = yaml.safe_load((ROOT / "roles/intelgraph/defaults/main.yml").read_text())
PREVIOUS: str = DEFAULTS["intelgraph_previous_version"]
TARGET: str = DEFAULTS["intelgraph_target_version"]
FLEET = Fleet()


def kept_path() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "before-upgrade/env-files.json"


def keep() -> Path:
    found = env_files(FLEET)
    missing = [f"{host}:{path}" for (host, path), (data, *_) in found.items() if data is None]
    if missing:
        sys.exit(f"no env file {', '.join(missing)}")
    records = [
        {
            "host": host,
            "path": path,
            "content": base64.b64encode(data or b"").decode(),
            "mode": mode,
            "owner": owner,
            "group": group,
        }
        for (host, path), (data, mode, owner, group) in found.items()
    ]
    path = kept_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(records, indent=2) + "\n")
    return path


def kept() -> dict[tuple[str, str], tuple[bytes | None, int, str, str]]:
    """The env files as keep() found them, in the form of checks.env_files."""
    records = json.loads(kept_path().read_text())
    return {
        (r["host"], r["path"]): (base64.b64decode(r["content"]), r["mode"], r["owner"], r["group"])
        for r in records
    }


if __name__ == "__main__":
    if sys.argv[1:] != ["keep"]:
        sys.exit("usage: scenario.py keep")
    print(f"kept {FLEET.name}'s env files in {keep()}")
