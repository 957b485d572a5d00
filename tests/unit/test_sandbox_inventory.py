"""The sandbox inventories know which fleet they drive as soon as they are loaded: the fleet's
number and the checkout come from the environment once (which_fleet.yml), as plain host
variables, not as lookups that every task on every host would evaluate again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests/e2e"))

from sandbox import Fleet  # noqa: E402

BIN = Path(sys.executable).parent
INVENTORIES = ["inventories/sandbox", "inventories/sandbox-docker"]


def hostvars(inventory: str, **env: str) -> dict[str, dict]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INTELGRAPH_SANDBOX_")}
    run = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", inventory, "--list"],
        cwd=ROOT,
        env=dict(environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # A value read from the environment is marked unsafe (never templated again); the JSON
    # shows it as {"__ansible_unsafe": value}.
    return json.loads(
        run.stdout, object_hook=lambda d: d["__ansible_unsafe"] if set(d) == {"__ansible_unsafe"} else d
    )["_meta"]["hostvars"]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_the_fleet_number_and_checkout_come_from_the_environment(inventory: str, tmp_path: Path) -> None:
    found = hostvars(inventory, INTELGRAPH_SANDBOX_ID="4", INTELGRAPH_SANDBOX_ROOT=str(tmp_path))
    assert len(found) == 12
    assert {
        h: (v["intelgraph_sandbox_id"], v["intelgraph_sandbox_root"]) for h, v in found.items()
    } == dict.fromkeys(found, (4, str(tmp_path)))


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_without_the_environment_it_is_fleet_0_of_this_checkout(inventory: str) -> None:
    found = hostvars(inventory)
    assert {v["intelgraph_sandbox_id"] for v in found.values()} == {0}
    assert {Path(v["intelgraph_sandbox_root"]).resolve() for v in found.values()} == {ROOT}


def test_no_inventory_variable_is_a_lookup() -> None:
    """A lookup in a host or group variable runs again wherever the variable is used, and the
    address and SSH key of every host are used by every task."""
    files = [p for p in (ROOT / "inventories").rglob("*.yml") if p.name != "which_fleet.yml"]
    assert files
    holding = [
        str(p.relative_to(ROOT)) for p in files if "lookup(" in json.dumps(yaml.safe_load(p.read_text()))
    ]
    assert holding == []


CONNECTION = (
    "ansible_host",
    "ansible_ssh_private_key_file",
    "intelgraph_sandbox_net",
    "intelgraph_sandbox_name",
)


@pytest.mark.parametrize("inventory", INVENTORIES)
@pytest.mark.parametrize(
    ("fleet", "net", "name"),
    [("4", "10.89.44", "intelgraph-sandbox4"), ("", "10.89.40", "intelgraph-sandbox")],
)
def test_each_host_s_address_and_key_are_plain_values_of_its_fleet(
    inventory: str, fleet: str, net: str, name: str, tmp_path: Path
) -> None:
    """A host's address and SSH key are read by every task that runs on the host or is
    delegated to it. As templates in group_vars they were compiled and rendered again each
    time (some 2,600 times in an upgrade of the sandbox); they are set once, when the inventory
    is loaded, from hosts.yml's addresses moved to the fleet's network."""
    found = hostvars(inventory, INTELGRAPH_SANDBOX_ID=fleet, INTELGRAPH_SANDBOX_ROOT=str(tmp_path))
    octets = Fleet(id=0).octets  # each host's last octet, as hosts.yml gives it
    hosts = set(octets)
    assert hosts == set(found) - {"localhost"}
    assert {h: found[h]["ansible_host"] for h in hosts} == {h: f"{net}.{octets[h]}" for h in hosts}
    assert {found[h]["ansible_ssh_private_key_file"] for h in hosts} == {
        f"{tmp_path}/.sandbox/ssh/id_ed25519"
    }
    assert {(found[h]["intelgraph_sandbox_net"], found[h]["intelgraph_sandbox_name"]) for h in found} == {
        (net, name)
    }
    templated = {(h, var): found[h][var] for h in hosts for var in CONNECTION if "{{" in str(found[h][var])}
    assert templated == {}
    assert found["localhost"]["ansible_host"] == "localhost"
