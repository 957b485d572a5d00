"""The whole upgrade on the sandbox fleet, under steady traffic."""

from __future__ import annotations

from sandbox import Fleet


def test_upgrade_moves_every_host_with_no_failed_request(deployed: Fleet) -> None:
    assert set(deployed.versions().values()) == {"24.0.0"}
    with deployed.traffic() as stats:
        run = deployed.playbook("playbooks/upgrade.yml")
    assert run.ok, f"upgrade failed, see {run.log}"
    assert deployed.versions() == dict.fromkeys(deployed.groups["api"] + deployed.groups["ingest"], "24.1.0")
    assert stats["requests_sent"] > 100
    assert stats["requests_failed"] == 0, stats.get("failures")
    assert set(deployed.haproxy_states().values()) == {"UP"}

    status, _ = deployed.http("api1", 8080, "/api/v1/entities/e2e", {"X-Tenant-Id": "t1"})
    assert status == 403

    again = deployed.playbook("playbooks/upgrade.yml")
    assert again.ok
    assert again.changed_hosts() == []
