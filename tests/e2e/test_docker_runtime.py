"""The `docker` runtime on the sandbox (inventories/sandbox-docker): the API hosts and the
ingest workers are containers that the playbooks make through the fleet's Docker-API engine
(podman's compatible socket), from the release images `localhost/intelgraph-server:<version>`.
Observed through that API with the python docker SDK, through HAProxy and over HTTP, never
through the code under test.

The tests of this module run in order on one fleet: deployed on 24.0.0, a version switch to
a tag that is not there, then to an image whose entrypoint exits (each run stops at the
first host; the failed host gets its previous release back), then the real upgrade.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import yaml

from sandbox import ROOT, Fleet

DOCKER_INVENTORY = ROOT / "inventories/sandbox-docker"
PREVIOUS, TARGET = "24.0.0", "24.1.0"


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """The sandbox fleet with the API on the docker runtime, deployed on 24.0.0; removed after."""
    fleet = Fleet(inventory=DOCKER_INVENTORY)
    if fleet.exists():
        fleet.down()
    fleet.up()
    fleet.deploy()
    yield fleet
    fleet.down()


@pytest.fixture(scope="module")
def engine(fleet: Fleet) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=f"unix://{fleet.engine_socket}", timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def broken_registry(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registry path of this fleet's only, whose 24.1.0 image's entrypoint exits at once
    (labelled as the fleet's, so fleet_down removes it)."""
    registry = f"localhost/{fleet.name}-broken"
    context = tmp_path_factory.mktemp("broken-image")
    (context / "Containerfile").write_text(
        f"FROM localhost/intelgraph-server:{TARGET}\n"
        'ENTRYPOINT ["/bin/sh", "-c", "echo intelgraph-api: cannot start: image is broken >&2; exit 3"]\n'
    )
    subprocess.run(
        ["podman", "build", "--quiet", "--label", f"intelgraph.sandbox={fleet.name}",
         "--tag", f"{registry}/intelgraph-server:{TARGET}", str(context)],
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    return registry


def containers(fleet: Fleet, engine: docker.DockerClient) -> dict[str, dict[str, Any] | None]:
    """{host: {image, status, hostname} or None} of the API and ingest containers, as the engine
    reports them."""
    found: dict[str, dict[str, Any] | None] = {}
    for host in fleet.groups["api"] + fleet.groups["ingest"]:
        try:
            attrs = engine.containers.get(fleet.container(host)).attrs
        except docker.errors.NotFound:
            found[host] = None
            continue
        found[host] = {
            "image": attrs["Config"]["Image"],
            "status": attrs["State"]["Status"],
            "hostname": attrs["Config"]["Hostname"],
        }
    return found


def failure_messages(output: str, host: str) -> str:
    """Every `fatal: [host]` block of a playbook's output, on one line (the callback wraps)."""
    blocks = re.findall(rf"^fatal: \[{host}\]: FAILED! =>.*?(?=^\S)", output, re.M | re.S)
    return " ".join(" ".join(blocks).split())


def test_deploy_runs_the_services_as_containers_of_the_previous_release(
    fleet: Fleet, engine: docker.DockerClient
) -> None:
    assert fleet.versions() == dict.fromkeys(fleet.groups["api"] + fleet.groups["ingest"], PREVIOUS)
    for host, container in containers(fleet, engine).items():
        assert container == {
            "image": f"localhost/intelgraph-server:{PREVIOUS}",
            "status": "running",
            "hostname": host,
        }
    assert set(fleet.haproxy_states().values()) == {"UP"}


def test_a_missing_image_fails_the_host_before_it_leaves_the_lb(
    fleet: Fleet, engine: docker.DockerClient
) -> None:
    first, *others = fleet.groups["api"]
    missing = f"localhost/{fleet.name}-missing"
    before = containers(fleet, engine)
    # Only the API plays matter here (the run stops at the first API host); localhost's take the
    # run lock and open the window, without which no phase runs.
    run = fleet.playbook(
        "playbooks/upgrade.yml", "--limit", "api:lb:localhost", extra_vars={"intelgraph_registry": missing}
    )

    assert not run.ok, f"the upgrade did not fail, see {run.log}"
    assert run.recap()[first]["failed"] == 1
    assert all(run.recap()[host]["failed"] == 0 for host in others)
    message = " ".join(run.output.split())
    assert f"fatal: [{first} -> localhost]: FAILED!" in message
    assert f"{missing}/intelgraph-server" in message
    # Pulled while the host still served: it was never drained, and runs as before.
    assert fleet.haproxy_states() == dict.fromkeys(fleet.groups["api"], "UP")
    assert containers(fleet, engine) == before
    assert fleet.version(first) == PREVIOUS


def test_a_container_that_does_not_start_stops_the_run_with_its_host_out_of_the_lb(
    fleet: Fleet, engine: docker.DockerClient, broken_registry: str
) -> None:
    first, *others = fleet.groups["api"]
    with fleet.traffic() as stats:
        run = fleet.playbook("playbooks/upgrade.yml", extra_vars={"intelgraph_registry": broken_registry})

    assert not run.ok, f"the upgrade did not fail, see {run.log}"
    assert run.recap()[first]["failed"] == 1
    message = failure_messages(run.output, first)
    assert f"{first}: container {fleet.container(first)}" in message, run.log
    # The engine may be seen between two restarts (podman restarts at once) or after the exit.
    assert "exit code 3" in message or "its process keeps exiting" in message
    assert "cannot start: image is broken" in message

    # The run stopped at the first host: the others and the ingest workers were not touched.
    assert all(run.recap()[host]["failed"] == 0 for host in others)
    assert {h: fleet.version(h) for h in others + fleet.groups["ingest"]} == dict.fromkeys(
        others + fleet.groups["ingest"], PREVIOUS
    )
    # The container that did not start is gone (its restart policy cannot loop it); the
    # others still run the previous image.
    seen = containers(fleet, engine)
    assert seen.pop(first) is None
    previous = f"localhost/intelgraph-server:{PREVIOUS}"
    assert seen == {host: {"image": previous, "status": "running", "hostname": host} for host in seen}

    # Left out of the load balancer; the others served every request.
    assert fleet.haproxy_states() == {first: "MAINT", **dict.fromkeys(others, "UP")}
    assert stats["requests_sent"] > 50
    assert stats["requests_failed"] == 0, stats.get("failures")

    # The fix before the upgrade runs again (its pre-check wants every host serving): the
    # previous release back on that host. It stays out of the load balancer until the rollout.
    fixed = fleet.playbook("playbooks/site.yml", "--limit", first)
    assert fixed.ok, f"redeploying {first} failed, see {fixed.log}"
    assert fleet.version(first) == PREVIOUS
    assert containers(fleet, engine)[first] == {
        "image": f"localhost/intelgraph-server:{PREVIOUS}",
        "status": "running",
        "hostname": first,
    }
    assert fleet.haproxy_states()[first] == "MAINT"


def test_upgrade_switches_every_api_container_to_the_new_image_under_traffic(
    fleet: Fleet, engine: docker.DockerClient
) -> None:
    with fleet.traffic() as stats:
        run = fleet.playbook("playbooks/upgrade.yml")
    assert run.ok, f"upgrade failed, see {run.log}"

    assert fleet.versions() == dict.fromkeys(fleet.groups["api"] + fleet.groups["ingest"], TARGET)
    for host, container in containers(fleet, engine).items():
        assert container == {
            "image": f"localhost/intelgraph-server:{TARGET}",
            "status": "running",
            "hostname": host,
        }
    assert set(fleet.haproxy_states().values()) == {"UP"}
    assert stats["requests_sent"] > 100
    # A run that succeeded walks no host through the rollback's plays (imported to roll back a failure).
    rollback_plays = [play["name"] for play in yaml.safe_load((ROOT / "playbooks/rollback.yml").read_text())]
    assert set(run.plays_on_no_host()) >= set(rollback_plays), run.plays_on_no_host()
    assert stats["requests_failed"] == 0, stats.get("failures")

    # The containers got the 24.1 settings: a request without a tenant region claim is refused.
    status, _ = fleet.http(fleet.groups["api"][0], 8080, "/api/v1/entities/e2e", {"X-Tenant-Id": "t1"})
    assert status == 403

    # A second run changes no container (the API hosts and the load balancer they use).
    again = fleet.playbook("playbooks/upgrade.yml", "--limit", "api:lb:localhost")
    assert again.ok, f"second upgrade failed, see {again.log}"
    assert again.changed_hosts() == []
