#!/usr/bin/env python3
"""Print what the demo did: the release every API and ingest host runs, and the traffic
that went through the load balancer while the playbooks ran.

usage: sandbox/summary.py [--inventory inventories/sandbox/hosts.yml] [--stats .sandbox/traffic.json]

Exits non-zero when a request failed or a host could not be asked.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PORTS = {"api": 8080, "ingest": 9101}


def fleet_hosts(inventory: Path) -> dict[str, dict[str, str]]:
    """Return {group: {host: address}} for the api and ingest groups of an inventory file."""
    data = yaml.safe_load(inventory.read_text())
    groups = data["all"]["children"]
    return {
        group: {
            host: (hostvars or {}).get("ansible_host", host)
            for host, hostvars in (groups.get(group, {}).get("hosts") or {}).items()
        }
        for group in PORTS
    }


def running_version(address: str, port: int) -> str:
    """Ask a service for its version; return the error text when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/version", timeout=5) as response:
            return str(json.load(response)["version"])
    except (OSError, ValueError, KeyError) as exc:
        return f"unreachable ({exc})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventories/sandbox/hosts.yml")
    parser.add_argument("--stats", type=Path, default=ROOT / ".sandbox/traffic.json")
    args = parser.parse_args(argv)

    ok = True
    print("\nIntelGraph sandbox: release per host")
    for group, hosts in fleet_hosts(args.inventory).items():
        for host, address in hosts.items():
            version = running_version(address, PORTS[group])
            ok &= not version.startswith("unreachable")
            print(f"  {group:<7} {host:<10} {version}")

    stats = json.loads(args.stats.read_text())
    failed = int(stats["requests_failed"])
    ok &= failed == 0
    print("\nTraffic through the load balancer during the upgrade")
    print(f"  requests sent    {stats['requests_sent']}")
    print(f"  requests failed  {failed}")
    print(f"  ingest events    {stats.get('ingest_events_produced', 0)} produced")
    for failure in stats.get("failures", [])[:5]:
        print(f"    failure: {failure}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
