"""After the rollback with the Redis cache (and its idempotence run): every API and ingest host
serves the previous release, no ingest worker quiesced, each env file byte for byte (mode, owner,
group) as prepare.yml kept it; HAProxy has every API host in service; the workspace is back on the
previous release; on the Redis primary and the replica, the feature toggles equal the restore
point's and the cache probes the snapshot's; and, once the traffic is stopped (the last test), no
request failed through the upgrade and the rollback."""

from __future__ import annotations

import pytest
from checks import env_files, in_service, toggles
from scenario import FLEET, PREVIOUS, kept

from sandbox import PORTS

# Written in prepare.yml, in the restore point's snapshot; after it, side_effect.yml changed
# probe-1, deleted probe-2 and added probe-new: the cache restore put back the snapshot's.
PROBES = {
    f"intelgraph:entity:molecule-probe-{n}": f'{{"id": "molecule-probe-{n}", "v": "as in the snapshot"}}'
    for n in (1, 2, 3)
}
AFTER_THE_SNAPSHOT = "intelgraph:entity:molecule-probe-new"


@pytest.mark.parametrize(
    ("group", "host", "path"),
    [("api", host, "/version") for host in FLEET.groups["api"]]
    + [("ingest", host, "/status") for host in FLEET.groups["ingest"]],
)
def test_host_serves_the_previous_release_and_consumes(group: str, host: str, path: str) -> None:
    status, body = FLEET.http(host, PORTS[group], path)
    assert status == 200, body
    assert body["version"] == PREVIOUS, body
    assert not body.get("quiesced", False), body
    if group == "ingest":
        assert body["quiesced"] is False, body


def test_every_env_file_is_as_before_the_upgrade() -> None:
    assert env_files(FLEET) == kept()


def test_haproxy_has_every_api_host_in_service() -> None:
    states = FLEET.haproxy_states()
    assert in_service(states) == sorted(FLEET.groups["api"]), states


def test_the_workspace_is_back_on_the_previous_release() -> None:
    tools = FLEET.host(FLEET.groups["tools"][0])
    release = f"/opt/intelgraph/releases/{PREVIOUS}"
    assert tools.file("/opt/intelgraph/current").is_symlink
    # The link's own target (readlink, as the release role writes it) and where it leads.
    assert tools.check_output("readlink %s", "/opt/intelgraph/current") == release
    assert tools.file("/opt/intelgraph/current").linked_to == release


@pytest.mark.parametrize("host", FLEET.groups["cache"])
def test_toggles_and_cache_are_as_the_restore_point_had_them(host: str) -> None:
    manifest = FLEET.store_json("restore-points/latest/manifest.json")  # in the state store on the fleet
    kept_toggles = manifest["feature_toggles"]
    assert toggles(FLEET, kept_toggles["prefix"], host) == kept_toggles["toggles"]
    client = FLEET.redis(host)
    assert {key: client.get(key) for key in PROBES} == PROBES
    ttls = {key: client.ttl(key) for key in PROBES}
    assert all(0 < ttl <= 3600 for ttl in ttls.values()), ttls  # the time to live they had left
    assert (client.get(AFTER_THE_SNAPSHOT), client.ttl(AFTER_THE_SNAPSHOT)) == (None, -2)


def test_no_request_failed_through_the_upgrade_and_the_rollback() -> None:
    """Stops the traffic prepare.yml started (on failure, destroy stops it)."""
    stats = FLEET.traffic_stop()
    assert stats["running"] is False
    assert stats["requests_sent"] > 100
    assert stats["requests_failed"] == 0, stats["failures"]
