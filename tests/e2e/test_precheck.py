"""Phases 1 and 2 on the sandbox fleet: nothing changes until the fleet is proven ready; the
maintenance window is announced, budgeted and closed; the restore point holds what the fleet
held; the config is in place before the first 24.1 host starts.

Every test here changes nothing and checks that it did not, so they share one fleet
(keeps_fleet). The upgrade that takes a restore point under AOF and puts the 24.1 settings in
place, and a second one that changes nothing, are in test_security.py, on a fleet deployed with
secrets of its own."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis
from checks import (
    SERVICES,
    assert_every_event_applied_once_or_dead_lettered,
    fleet_digest,
    wait_until,
)
from scratch_redis import scratch_redis
from webhook import webhook_receiver

from sandbox import STATE_STORE, Fleet, PlaybookRun

BACKUPS = "/var/backups/intelgraph"
TOKEN = "e2e-webhook-token-3f9a"


def flat(run: PlaybookRun) -> str:
    """The run's output with its line wrapping undone, to search for a sentence."""
    return " ".join(run.output.replace("''", "'").split())


def plays(run: PlaybookRun) -> list[str]:
    return re.findall(r"^PLAY \[(.+?)\] \*", run.output, re.MULTILINE)


def redis_dump(client: redis.Redis) -> dict[str, bytes]:
    """Every key with its DUMP (value, type and TTL serialized)."""
    kwargs = client.connection_pool.connection_kwargs
    binary = redis.Redis(
        host=kwargs["host"], port=kwargs["port"], password=kwargs["password"], socket_timeout=5
    )
    return {k.decode(): binary.dump(k) for k in binary.keys("*")}


def load_snapshot(rdb: Path, workdir: Path) -> dict[str, bytes]:
    """Every key of an RDB file, as a fresh redis-server on loopback loads it."""
    workdir.mkdir(parents=True)
    (workdir / "snap.rdb").write_bytes(rdb.read_bytes())
    with scratch_redis(workdir, dbfilename="snap.rdb") as scratch:
        return redis_dump(scratch)


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_restore_point(fleet: Fleet, rp_id: str, before: dict[str, Any]) -> dict[str, Any]:
    """The restore point, in the state store on the fleet, holds the versions and env files of
    `before`, and no secret; its directories are mode 0700 and its files 0600, root's."""
    rp = f"restore-points/{rp_id}"
    hosts = fleet.groups["api"] + fleet.groups["ingest"]
    copies = [f"{rp}/env/{h}/{'api' if h in fleet.groups['api'] else 'ingest'}.env" for h in hosts]
    found = fleet.store_read(rp, f"{rp}/manifest.json", "restore-points/latest", *copies)
    manifest = json.loads(found[f"{rp}/manifest.json"]["data"])
    assert manifest["id"] == rp_id
    assert found["restore-points/latest"]["target"] == found[rp]["target"] == f"{STATE_STORE}/{rp}"
    assert sorted(manifest["hosts"]) == sorted(hosts)
    for host in hosts:
        entry = manifest["hosts"][host]
        service = "api" if host in fleet.groups["api"] else "ingest"
        assert entry["version"] == before["versions"][host] == "24.0.0"
        assert entry["current"] == before["links"][host]
        assert entry["env_file"]["copy"] == f"env/{host}/{service}.env"
        assert (
            found[f"{rp}/{entry['env_file']['copy']}"]["data"]
            == before["files"][(host, f"/etc/intelgraph/{service}.env")]
        )
        assert (entry["env_file"]["mode"], entry["env_file"]["owner"], entry["env_file"]["group"]) == (
            "0640",
            "root",
            "intelgraph",
        )
        assert entry["secrets_file"]["copied"] is False and entry["secrets_file"]["exists"] is True
    assert "is not copied" in manifest["secrets"]
    files = sorted(path for path in fleet.store_files() if path.startswith(f"{rp}/"))
    assert files == sorted([f"{rp}/manifest.json", *copies])  # no secrets.env, no snapshot
    dirs = [rp, f"{rp}/env", *(f"{rp}/env/{h}" for h in hosts)]
    for path, info in fleet.store_read(*dirs, *files).items():
        assert (info["mode"], info["user"], info["group"]) == (
            0o700 if path in dirs else 0o600,
            "root",
            "root",
        ), path
        if "data" in info:
            assert fleet.redis_password.encode() not in info["data"]
            assert fleet.db_password.encode() not in info["data"]
    return manifest


# --- nothing changes until the fleet is proven ready ------------------------------------------


@pytest.mark.keeps_fleet
@pytest.mark.parametrize(
    ("extra_vars", "host_vars", "named"),
    [
        (
            {"intelgraph_rps_limit": 100, "intelgraph_rps_burst": 50},
            {},
            ["intelgraph_rps_burst=50: RPS_BURST must be at least"],
        ),
        (
            {"intelgraph_rps_limit": "abc"},
            {},
            ["intelgraph_rps_limit=abc: RPS_LIMIT must be a positive integer"],
        ),
        (
            {"intelgraph_tenant_residency_mode": "strcit"},
            {},
            ["intelgraph_tenant_residency_mode=strcit: TENANT_RESIDENCY"],
        ),
        # Values only some hosts have (host_vars): each found from that host's own variables.
        (
            {},
            {"api2": {"intelgraph_rps_limit": 0}, "ingest1": {"intelgraph_tenant_residency_mode": "bogus"}},
            [
                "intelgraph_rps_limit=0: RPS_LIMIT must be a positive integer (api2)",
                "intelgraph_tenant_residency_mode=bogus: TENANT_RESIDENCY_MODE must be one of off, "
                "permissive, strict (ingest1)",
            ],
        ),
        # An option of the rollout role that only api3 sets: checked against the role's spec
        # with the inputs, not when api3's batch comes, after api1 and api2 have moved.
        (
            {},
            {"api3": {"rollout_drain_timeout": "soon"}},
            [
                "rollout_drain_timeout=soon: argument 'rollout_drain_timeout' is of type str",
                "cannot be converted to an int (api3)",
            ],
        ),
        # The API batches against the hosts that must stay in service, before the config phase
        # writes anything (not when the rollout starts): a percentage of the 3 API hosts that
        # rounds down to none, and a canary of 2 that would leave 1 of them in service.
        (
            {"rollout_api_canary": 2, "rollout_api_batch_size": "10%", "rollout_api_min_in_service": "50%"},
            {},
            [
                "rollout_api_batch_size=10%: 10% of the 3 API hosts rounds down to 0 hosts; give at least 34% "
                "or a number of hosts",
                "rollout_api_min_in_service=50%: a batch of 2 of the 3 API hosts leaves 1 in service, fewer than "
                "rollout_api_min_in_service (2 of the 3)",
            ],
        ),
    ],
    ids=[
        "burst-below-limit",
        "limit-not-a-number",
        "residency-misspelt",
        "one-host-only",
        "rollout-option-one-host",
        "api-batches",
    ],
)
def test_a_bad_input_stops_the_upgrade_in_precheck(
    deployed: Fleet, tmp_path: Path, extra_vars: dict, host_vars: dict, named: list[str]
) -> None:
    before = fleet_digest(deployed, streams=False)
    points = deployed.restore_points()
    # host_vars as an inventory of their own beside the fleet's (ansible-playbook -i ... -i ...).
    inventory = tmp_path / "host_vars.yml"
    inventory.write_text(json.dumps({"all": {"hosts": host_vars}}))
    with webhook_receiver() as receiver, deployed.traffic() as stats:
        run = deployed.playbook(
            "playbooks/upgrade.yml",
            "-i",
            str(inventory),
            extra_vars={**extra_vars, "intelgraph_window_webhook_url": receiver.url},
        )
    assert stats["requests_failed"] == 0, stats["failures"]
    assert_every_event_applied_once_or_dead_lettered(deployed, stats, [])
    assert run.rc != 0, f"a bad input passed, see {run.log}"
    assert f"Bad input, nothing was changed: {named[0]}" in flat(run)
    assert all(problem in flat(run) for problem in named), f"see {run.log}"
    assert plays(run) == ["Pre-check | inputs and the run lock"]  # stopped before it took the lock
    assert "Take the run lock" not in run.output and deployed.run_lock() is None
    assert receiver.messages == [], "no window may be announced for a run that never starts"
    assert deployed.restore_points() == points
    assert fleet_digest(deployed, streams=False) == before


@pytest.mark.keeps_fleet
def test_an_upgrade_or_rollback_limited_away_from_localhost_stops_before_it_changes_anything(
    deployed: Fleet,
) -> None:
    """The run lock and the window are taken in plays of localhost: a run --limit'ed to hosts
    without it would change the fleet without either, so its first phase stops it."""
    before = fleet_digest(deployed, streams=False)
    store = deployed.store_files()
    runs = {
        "upgrade": deployed.playbook("playbooks/upgrade.yml", "--limit", "api1"),
        "rollback": deployed.playbook("playbooks/rollback.yml", "--limit", "api1,ingest1"),
    }
    for name, run in runs.items():
        assert not run.ok, f"the limited {name} ran, see {run.log}"
        assert "This run is limited to hosts without localhost (--limit " in flat(run), run.log
        assert "Nothing was changed." in flat(run)
        assert run.changed_hosts() == [], run.log
        assert "localhost" not in run.recap()
    assert "(--limit api1), whose plays take the run lock" in flat(runs["upgrade"])
    assert "--limit 'api1,ingest1,localhost'" in flat(runs["rollback"])
    assert deployed.run_lock() is None
    assert deployed.store_files() == store  # no lock, ledger, window or restore point
    assert fleet_digest(deployed, streams=False) == before


@pytest.mark.keeps_fleet
def test_close_without_a_validation_in_the_store_stops_and_frees_the_lock(deployed: Fleet) -> None:
    """close.yml signs the report of a validation; with none in the state store (no upgrade ran),
    it stops saying so, and releases the run lock it took."""
    store = deployed.store_files()
    store.pop("run.lock.lock", None)  # the flock beside the lock, there once any run took it
    run = deployed.playbook("playbooks/close.yml")
    assert not run.ok
    assert "The signed release report was not written: " in flat(run), run.log
    assert f"{STATE_STORE}/reports/24.1.0/release-report.json" in flat(run)
    assert "The run lock is released; put that right and run close.yml again." in flat(run)
    assert "This run holds the run lock" in flat(run)  # it took it, and let it go
    assert deployed.run_lock() is None
    after = deployed.store_files()
    assert after.pop("run.lock.lock", None) is not None
    assert after == store  # no report, ledger or window written


@pytest.mark.keeps_fleet
def test_an_unreachable_state_host_stops_the_upgrade_at_its_first_task(
    deployed: Fleet, tmp_path: Path
) -> None:
    """The state store's host refuses SSH (its port, in an inventory of its own beside the
    fleet's, is one nothing listens on): the run stops at its first task, the run lock's, naming
    the host, with nothing changed and no window announced."""
    before = fleet_digest(deployed, streams=False)
    tools = deployed.groups["tools"][0]
    inventory = tmp_path / "unreachable.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {tools: {"ansible_port": 1}}}}))
    with webhook_receiver() as receiver:
        run = deployed.playbook(
            "playbooks/upgrade.yml",
            "-i",
            str(inventory),
            extra_vars={"intelgraph_window_webhook_url": receiver.url},
        )
    assert run.rc != 0, f"see {run.log}"
    text = flat(run)
    assert (
        f"The state store's host {tools} (intelgraph_state_host) cannot be reached, so the run lock cannot be taken:"
        in text
    ), run.log
    assert "Connection refused" in text and "Nothing was changed." in text
    assert plays(run) == ["Pre-check | inputs and the run lock"]
    assert list(run.recap()) == ["localhost"] and run.recap()["localhost"]["failed"] == 1
    assert receiver.messages == []
    assert deployed.run_lock() is None
    assert fleet_digest(deployed, streams=False) == before


@pytest.mark.keeps_fleet
def test_a_webhook_that_refuses_the_window_stops_the_upgrade_and_frees_the_lock(deployed: Fleet) -> None:
    """The window cannot be announced (nothing listens at the webhook's address): the run stops
    before the window opens, with nothing changed, and releases the run lock it took."""
    before = fleet_digest(deployed, streams=False)
    points = deployed.restore_points()
    run = deployed.playbook(
        "playbooks/upgrade.yml",
        extra_vars={"intelgraph_window_webhook_url": "http://127.0.0.1:1/hook", "window_webhook_retries": 0},
    )
    assert run.rc != 0, f"see {run.log}"
    text = flat(run)
    assert (
        "The webhook http://127.0.0.1:1/… did not take the announcement (window_opened) after 1 tries" in text
    ), run.log
    assert "Nothing was changed; fix the webhook (URL, token) or unset it to only log." in text
    assert "The run lock on tools1 is released: the fleet is free for the next run." in text
    assert deployed.run_lock() is None
    assert plays(run)[-1] == "Upgrade | open the maintenance window"
    assert deployed.restore_points() == points
    assert fleet_digest(deployed, streams=False) == before


@pytest.mark.keeps_fleet
def test_check_diff_shows_the_config_and_changes_nothing(deployed: Fleet) -> None:
    before = fleet_digest(deployed, streams=False)
    points = deployed.restore_points()
    run = deployed.playbook("playbooks/upgrade.yml", "--check", "--diff", "--tags", "precheck,config")
    assert run.ok, f"check mode failed, see {run.log}"
    for service in ("api", "ingest"):
        assert f"--- before: /etc/intelgraph/{service}.env" in run.output
    for line in (
        "+RPS_LIMIT=100",
        "+RPS_BURST=200",
        "+TENANT_RESIDENCY_MODE=strict",
        "+TRACE_SAMPLING_RATIO=0.1",
    ):
        assert line in run.output
    assert "Check mode: no restore point is captured." in run.output
    assert deployed.redis_password not in run.output and deployed.db_password not in run.output
    assert "intelgraph.ops.intelgraph_workspace" not in run.output  # the migrate phase was left out
    assert deployed.restore_points() == points
    assert fleet_digest(deployed, streams=False) == before


# A window too short for the change: the pre-check adds up the phases inside the window (no run
# has measured any on this fleet: intelgraph_phase_seconds, with intelgraph_plan_host_seconds for
# each of the 5 hosts to change on precheck and config, and intelgraph_plan_batch_seconds for each
# of the 3 API and 2 ingest batches, with the sandbox's 12 s canary bake and the 5 s until its
# comparison is seen): (10 + 5 x 2) + (10 + 5 x 2) + 20 + (3 x 30 + 12 + 5) + 2 x 30 + 10 + 20 = 257 s.
SHORT_WINDOW = {
    "intelgraph_window_minutes": 2,
    "intelgraph_phase_seconds": {
        "precheck": 10,
        "config": 10,
        "migrate": 20,
        "rollout": 10,
        "backfill": 10,
        "verify": 20,
    },
    "intelgraph_plan_host_seconds": 2,
    "intelgraph_plan_batch_seconds": 30,
}


@pytest.mark.keeps_fleet
def test_a_stopped_redis_replica_and_a_window_too_short_fail_the_precheck_naming_both(
    deployed: Fleet,
) -> None:
    before = fleet_digest(deployed, streams=False)
    primary, replica = deployed.groups["cache"]
    units = {h: SERVICES["api"] for h in deployed.groups["api"]} | {
        h: SERVICES["ingest"] for h in deployed.groups["ingest"]
    }
    started = {host: deployed.unit_started(host, unit) for host, unit in units.items()}
    with deployed.traffic() as stats:
        deployed.host(replica).check_output("systemctl stop redis-server")
        try:
            run = deployed.playbook("playbooks/precheck.yml", extra_vars=SHORT_WINDOW)
            upgrade = deployed.playbook("playbooks/upgrade.yml", extra_vars=SHORT_WINDOW)
            # The rollout alone (--tags rollout: no pre-check before it) finds the replica gone
            # in the check of Redis that runs again before the first host is drained.
            with webhook_receiver() as receiver:
                rollout = deployed.playbook(
                    "playbooks/upgrade.yml",
                    "--tags",
                    "rollout",
                    extra_vars={"intelgraph_window_webhook_url": receiver.url},
                )
        finally:
            deployed.host(replica).check_output("systemctl start redis-server")
    # The fleet served throughout: no request failed, every ingest event was applied once.
    assert stats["requests_failed"] == 0, stats["failures"]
    assert_every_event_applied_once_or_dead_lettered(deployed, stats, [])
    for attempt, first_plays in ((run, []), (upgrade, ["Pre-check | inputs and the run lock"])):
        assert attempt.rc == 2, f"the pre-check passed with {replica} stopped, see {attempt.log}"
        text = flat(attempt)
        assert "The fleet is not ready for the upgrade; nothing was changed." in text
        assert f"{replica}: Redis (port 6379) check 'ping' failed: no answer" in text
        assert f"{primary}: Redis (port 6379) check 'connected replicas' failed: 0 replica(s) online" in text
        # rollout api: 3 batches of 30 s, the canary's bake (12 s) and its next check (5 s), and
        # 2 s for each of api2 and api3, which install their release at once after the canary.
        assert (
            "localhost: the change needs about 4m 21s inside the maintenance window (precheck 0m 20s, "
            "config 0m 20s, migrate 0m 20s, rollout api 1m 51s, rollout ingest 1m 00s, backfill 0m 10s, "
            "verify 0m 20s), more than the 2-minute window (intelgraph_window_minutes=2): over by 2m 21s."
        ) in text
        assert plays(attempt) == [*first_plays, "Pre-check | the fleet is ready"]
    assert "The run lock on tools1 is free." in flat(run)  # the pre-check alone takes none
    assert "The run lock on tools1 is released: the fleet is free for the next run." in flat(upgrade)
    assert deployed.run_lock() is None
    assert rollout.rc == 2, f"the rollout started with {replica} stopped, see {rollout.log}"
    text = flat(rollout)
    assert "Redis is no longer healthy, so the rollout does not start; no host was restarted." in text
    assert f"{replica}: Redis (port 6379) check 'ping' failed: no answer" in text
    assert plays(rollout)[-1] == "Upgrade | Redis before the rollout"
    opened, closed = receiver.bodies()  # the window opened for the rollout is closed as failed
    assert opened["event"] == "window_opened" and closed["event"] == "window_closed"
    assert closed["outcome"] == "failed" and "Redis is no longer healthy" in closed["reason"]
    assert {host: deployed.unit_started(host, unit) for host, unit in units.items()} == started
    assert fleet_digest(deployed, streams=False) == before

    # Back as before: the replica follows its primary again, with the same keys.
    wait_until(
        lambda: deployed.redis(replica).info("replication").get("master_link_status") == "up",
        90,
        f"{replica} to link to {primary} again",
    )
    assert deployed.redis(replica).info("replication")["role"] == "slave"
    wait_until(
        lambda: deployed.redis(replica).dbsize() == deployed.redis(primary).dbsize(),
        30,
        "the replica to catch up",
    )
    ready = deployed.playbook("playbooks/precheck.yml")
    assert ready.ok, f"the pre-check still fails with the replica back, see {ready.log}"


@pytest.mark.keeps_fleet
def test_a_one_minute_window_stops_before_a_phase_that_would_overrun(deployed: Fleet, tmp_path: Path) -> None:
    primary = deployed.groups["cache"][0]
    cache = deployed.redis(primary)
    cache.set("intelgraph:entity:e2e-window", json.dumps({"id": "e2e-window"}))
    before = fleet_digest(deployed, streams=False)
    cache_before = redis_dump(cache)
    # Keys with a time to live (the traffic's cache entries of earlier tests) may expire before
    # the snapshot is taken: they must be as they were if they are in it.
    expiring = {key for key in cache_before if cache.ttl(key) != -1}
    assert not deployed.host(primary).file(BACKUPS).exists
    with webhook_receiver() as receiver:
        run = deployed.playbook(
            "playbooks/upgrade.yml",
            extra_vars={
                # The change fits by the pre-check's sum, just (config's 60 s, every other phase,
                # host, batch and the canary's bake 0 s, in a 1-minute window), but opening the
                # window and capturing the restore point take time: config no longer fits in what is
                # left when it is to start.
                "intelgraph_window_minutes": 1,
                "intelgraph_phase_seconds": {
                    "precheck": 0,
                    "config": 60,
                    "migrate": 0,
                    "rollout": 0,
                    "backfill": 0,
                    "verify": 0,
                },
                "intelgraph_plan_host_seconds": 0,
                "intelgraph_plan_batch_seconds": 0,
                "rollout_canary_bake": 0,
                "intelgraph_window_webhook_url": receiver.url,
                "intelgraph_window_webhook_token": TOKEN,
            },
        )
    try:
        assert run.rc == 2, f"the run did not stop, see {run.log}"
        text = flat(run)
        assert "Phase config is not started: it is expected to take 60 s, but" in text
        assert plays(run)[-1] == "Upgrade | config"
        assert TOKEN not in run.output

        opened, closed = receiver.bodies()  # both announcements, nothing else
        assert opened["event"] == "window_opened" and closed["event"] == "window_closed"
        assert opened["release"] == "24.1.0" and opened["previous_release"] == "24.0.0"
        assert parse_time(opened["deadline"]) - parse_time(opened["start"]) == datetime.timedelta(minutes=1)
        assert set(opened["links"]) == {"prometheus", "haproxy"}
        assert closed["window_id"] == opened["window_id"]
        assert closed["outcome"] == "failed"
        assert "Phase config is not started" in closed["reason"]
        assert [p["phase"] for p in closed["phases"]] == ["precheck"]
        assert all(m.headers["Authorization"] == f"Bearer {TOKEN}" for m in receiver.messages)

        record = deployed.store_json("window/window.json")
        assert (
            record["id"] == opened["window_id"]
            and record["state"] == "closed"
            and record["outcome"] == "failed"
        )

        # The config phase never started: every host is as it was.
        assert fleet_digest(deployed, streams=False) == before

        # The restore point was taken (AOF off on this fleet) and holds what the cache held.
        manifest = check_restore_point(deployed, opened["window_id"], before)
        snapshot = manifest["redis_snapshot"]
        assert snapshot["node"] == primary and snapshot["aof_enabled"] is False
        # The snapshot stays on the primary's host, root's only, its SHA-256 in the manifest.
        assert snapshot["path"] == f"{BACKUPS}/redis/{opened['window_id']}.rdb"
        kept = deployed.inspect(primary, (f"{BACKUPS}/redis", snapshot["path"]))
        assert (kept.paths[f"{BACKUPS}/redis"]["mode"], kept.paths[snapshot["path"]]["mode"]) == (
            0o700,
            0o600,
        )
        assert kept.paths[snapshot["path"]]["user"] == "root"
        assert hashlib.sha256(kept.data(snapshot["path"])).hexdigest() == snapshot["sha256"]
        rdb = tmp_path / "snapshot.rdb"
        rdb.write_bytes(kept.data(snapshot["path"]))
        loaded = load_snapshot(rdb, tmp_path / "scratch")
        assert {k: v for k, v in loaded.items() if k not in expiring} == {
            k: v for k, v in cache_before.items() if k not in expiring
        }
        assert {k: v for k, v in loaded.items() if k in expiring} == {
            k: cache_before[k] for k in loaded if k in expiring
        }
    finally:
        # Leave the fleet as it was: without the snapshot kept on the Redis host, or the key.
        deployed.host(primary).check_output("rm -rf %s", BACKUPS)
        cache.delete("intelgraph:entity:e2e-window")
    assert not deployed.host(primary).file(BACKUPS).exists
