"""upgrade.yml with upgrade_auto_rollback under steady traffic: a gate that fails after the
canary (api2's new release never becomes ready) rolls the fleet back on its own: every API and
ingest host on 24.0.0 again (some had moved, some not: a partial upgrade), env files byte for
byte, feature toggles and the workspace link as the restore point had them, no failed request,
every ingest event applied once or dead-lettered; the run fails saying what failed and that it
rolled back; and rollback.yml run again changes nothing. A poison event put into the stream as the
rollback begins is pending a retry while every worker is quiesced: the rollback leaves it pending
(and says so) instead of waiting for it, and it is dead-lettered once the workers consume again.
Then, on the same fleet, a rollback that fails after it quiesced the ingest workers (one more
failed event pending a retry meanwhile) resumes every one of them before it fails (the queue is
consumed again, every event applied once), and closes its window as failed."""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Any

from checks import (
    TOGGLES,
    assert_every_event_applied_once_or_dead_lettered,
    assert_served_throughout,
    env_files,
    fleet_digest,
    produce_poison,
    said,
    served_by,
    toggles,
)
from test_rollout import BROKEN_API, PREVIOUS, TARGET

from sandbox import STATE_STORE, Fleet

# The rollback's drain once every worker is quiesced (roles/rollback/tasks/quiesce.yml).
QUIESCE_DRAIN = "intelgraph.ops.rollback : Wait until every delivered message is acknowledged or failed and pending a retry"
DRAIN_TIMEOUT = 120  # rollback_ingest_drain_timeout
# profile_tasks' line under each TASK header: when it started, (how long the task before took).
PROFILE_LINE = re.compile(r"^(\w+ \d+ \w+ \d{4}\s+\d\d:\d\d:\d\d \+0000) \((\d+):(\d\d):(\d\d\.\d+)\)")


def task_timing(output: str, task: str) -> tuple[datetime.datetime, float]:
    """When the first run of a task started and how many seconds it took, from profile_tasks'
    line under its TASK header and under the next one."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"TASK [{task}]"))
    timings = [m for line in lines[start:] if (m := PROFILE_LINE.match(line))]
    started = datetime.datetime.strptime(timings[0].group(1).replace("  ", " "), "%A %d %B %Y %H:%M:%S %z")
    hours, minutes, seconds = timings[1].group(2, 3, 4)
    return started, int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def pending_deliveries(fleet: Fleet, event_id: str) -> int | None:
    """How many times the ingest group delivered an event that is pending now (None: not pending)."""
    client = fleet.redis()
    for entry in client.xpending_range(fleet.INGEST_STREAM, fleet.INGEST_GROUP, "-", "+", 1000):
        found = client.xrange(fleet.INGEST_STREAM, entry["message_id"], entry["message_id"])
        if found and found[0][1].get("event_id") == event_id:
            return int(entry["times_delivered"])
    return None


def poison_pending(fleet: Fleet, timeout: float = 30) -> tuple[str, int]:
    """One poison event into the stream; wait until a worker has failed it and it is pending a
    retry. Its id and how many times it had been delivered then."""
    [event_id] = produce_poison(fleet, count=1)
    deadline = time.monotonic() + timeout
    while (deliveries := pending_deliveries(fleet, event_id)) is None:
        assert time.monotonic() < deadline, f"poison event {event_id} not pending after {timeout} s"
        time.sleep(0.2)
    return event_id, deliveries


def dead_letters(fleet: Fleet, event_id: str) -> list[dict[str, Any]]:
    """The DLQ entries of an event."""
    return [f for _id, f in fleet.redis().xrange(fleet.INGEST_DLQ, "-", "+") if f.get("event_id") == event_id]


def test_failed_gate_rolls_the_fleet_back_and_a_failed_rollback_resumes_the_workers(deployed: Fleet) -> None:
    fleet = deployed
    api, ingest = fleet.groups["api"], fleet.groups["ingest"]
    assert set(fleet.versions().values()) == {PREVIOUS}
    fleet.redis().set(TOGGLES + "e2e_flag", "on")
    env_before, toggles_before = env_files(fleet), toggles(fleet)
    workspace = fleet.host("tools1").file("/opt/intelgraph/current")  # read anew at each .linked_to
    assert workspace.linked_to == f"/opt/intelgraph/releases/{PREVIOUS}"

    # api2's 24.1.0 release is there already (never unpacked again) and never becomes ready.
    fleet.write("api2", f"/opt/intelgraph/releases/{TARGET}/VERSION", f"{TARGET}\n")
    fleet.write("api2", f"/opt/intelgraph/releases/{TARGET}/bin/intelgraph-api", BROKEN_API, "0755")

    with fleet.traffic() as stats, fleet.watch(fleet.haproxy_states) as samples:
        poison = produce_poison(fleet)
        upgrade = fleet.start_playbook(
            "playbooks/upgrade.yml", extra_vars={"upgrade_auto_rollback": True, "rollout_ready_timeout": 20}
        )
        # As the rollback begins (its plan, seconds before it quiesces the workers), one more
        # poison event: a worker fails it and it waits in the pending entries for its retry.
        deadline = time.monotonic() + 900
        while "PLAY [Rollback | plan]" not in upgrade.log.read_text():
            assert upgrade.proc.poll() is None, f"the upgrade ended before it rolled back, see {upgrade.log}"
            assert time.monotonic() < deadline, f"no rollback within 15 minutes, see {upgrade.log}"
            time.sleep(0.2)
        late, late_deliveries = poison_pending(fleet)
        run = upgrade.wait()
        again = fleet.playbook("playbooks/rollback.yml")
        served_after = served_by(fleet)

    # The run failed at api2, after the canary api1 moved and the tools host migrated, said
    # so, and said that it rolled back.
    assert not run.ok
    text = said(run)
    assert "api2 did not move to 24.1.0" in text
    assert "Wait until the service answers ready on 24.1.0' failed: Status code was 503" in text
    assert "The upgrade to 24.1.0 failed on api2:" in text
    assert "It was rolled back (upgrade_auto_rollback): every API and ingest host runs 24.0.0 again" in text
    # The poison event was pending a retry when every worker was quiesced: the drain left it
    # pending, said so, and took far less than its timeout.
    assert late_deliveries < 5  # INGEST_MAX_DELIVERIES: not dead-lettered yet
    left = re.search(r"(\d+) failed entr(?:y|ies) left pending for a retry", text)
    assert left and int(left.group(1)) >= 1, text
    drain_started, drain_seconds = task_timing(run.output, QUIESCE_DRAIN)
    assert drain_seconds < DRAIN_TIMEOUT / 4, drain_seconds
    # ingest1's move back (its env file put back, so it restarts) drained with ingest2 still
    # quiesced, and left the entry pending too.
    assert re.search(
        r"ingest1: \d+ failed entr(?:y|ies) of the quiesced workers left pending for a retry", text
    ), text
    assert "Rolling back to 24.0.0 from restore point" in text
    assert "api1: runs 24.1.0, not 24.0.0" in text  # the canary had moved
    assert re.search(
        r"api2: runs [^;]*, its api.env differs from the restore point, it is out of service", text
    )
    assert "tools1: its workspace runs /opt/intelgraph/releases/24.1.0" in text
    # The phases after the failed one did not run: no ingest worker had moved, nothing was backfilled.
    assert "ingest1: runs" not in text and "ingest2: runs" not in text
    assert run.recap()["api2"]["failed"] == 0 and run.recap()["localhost"]["failed"] == 1

    # Every host back on 24.0.0 and serving; the state of the restore point is back.
    assert fleet.versions() == dict.fromkeys(api + ingest, PREVIOUS)
    assert set(fleet.haproxy_states().values()) == {"UP"}
    assert served_after == set(api)
    assert env_files(fleet) == env_before
    manifest = fleet.store_json("restore-points/latest/manifest.json")  # in the state store on the fleet
    assert manifest["feature_toggles"]["toggles"] == toggles_before == toggles(fleet) == {"e2e_flag": "on"}
    assert "set none, deleted residency_guard, rps_limiter." in text  # the toggles 24.1 created on start
    assert workspace.linked_to == f"/opt/intelgraph/releases/{PREVIOUS}"
    for host in ingest:
        status, body = fleet.http(host, 9101, "/status")
        assert status == 200 and body["version"] == PREVIOUS and body["quiesced"] is False, body
    window = fleet.store_json("window/window.json")  # in the state store on the fleet
    assert window["state"] == "closed" and window["outcome"] == "failed", window
    assert "rolled back" in json.dumps(window)

    # The 24.1 tables stay (no down-migration) and 24.0.0 serves with them.
    with fleet.pg() as pg:
        table = "select to_regclass('public.ingest_idempotency_keys') is not null"
        assert pg.execute(table).fetchone() == (True,)
        backfilled = "select count(*) from ingest_idempotency_keys where batch_id like 'hist-%'"
        assert pg.execute(backfilled).fetchone() == (0,)

    # Through the upgrade, the rollback and the second rollback: two API hosts in service at
    # least, no failed request, every ingest event applied once or dead-lettered.
    assert_served_throughout(fleet, stats, samples, [*poison, late])
    # The late poison event stayed pending through the drain and was dead-lettered after it, once
    # the workers consumed again, after its fifth delivery (INGEST_MAX_DELIVERIES).
    [dead] = dead_letters(fleet, late)
    drain_ended = drain_started.timestamp() + drain_seconds
    assert float(dead["dead_lettered_at"]) > drain_ended and int(dead["deliveries"]) >= 5, dead

    # A second rollback finds nothing to do and changes nothing.
    assert again.ok, f"second rollback failed, see {again.log}"
    assert "Nothing to roll back: the fleet matches restore point" in said(again)
    assert again.changed_hosts() == []

    # A restore point that is not there stops the rollback before anything changes.
    settled = fleet_digest(fleet, streams=False)
    missing = fleet.playbook("playbooks/rollback.yml", extra_vars={"rollback_restore_point": "no-such-point"})
    assert not missing.ok
    assert "No restore point 'no-such-point' in" in said(missing)
    assert "nothing was changed" in said(missing)
    assert missing.changed_hosts() == []

    # So does a cache prefix that covers the dead-letter stream: checked with the restore point,
    # before the window opens and before any worker is quiesced.
    covering = fleet.playbook(
        "playbooks/rollback.yml",
        extra_vars={"rollback_restore_cache": True, "rollback_cache_prefix": "intelgraph:ingest:"},
    )
    assert not covering.ok
    assert "Bad input, nothing was changed: rollback_cache_prefix=intelgraph:ingest: cannot be used" in said(
        covering
    )
    assert "covers the protected key or prefix 'intelgraph:ingest:dlq'" in said(covering)
    assert re.findall(r"^PLAY \[(.+?)\]", covering.output, re.MULTILINE) == ["Rollback | restore point"]
    assert covering.changed_hosts() == []

    # A restore point a killed capture left without its manifest is never used; and with the
    # cache, a restore point whose Redis snapshot is gone from the primary's host is refused.
    # Both stop before anything changes, saying what and how to go on.
    half_id = "20261101T000000Z"
    fleet.write("tools1", f"{STATE_STORE}/restore-points/{half_id}/env/api1/api.env", "RPS_LIMIT=1\n", "0600")
    half = fleet.playbook("playbooks/rollback.yml", extra_vars={"rollback_restore_point": half_id})
    snapshot = fleet.store_json("restore-points/latest/manifest.json")["redis_snapshot"]
    fleet.host(snapshot["node"]).check_output("mv %s %s.aside", snapshot["path"], snapshot["path"])
    try:
        gone = fleet.playbook("playbooks/rollback.yml", extra_vars={"rollback_restore_cache": True})
    finally:
        fleet.host(snapshot["node"]).check_output("mv %s.aside %s", snapshot["path"], snapshot["path"])
    assert not half.ok and half.changed_hosts() == []
    assert (
        f"No restore point '{half_id}' in {STATE_STORE}/restore-points on tools1 (the directory has no "
        "manifest.json: a run ended before it finished capturing it); nothing was changed." in said(half)
    )
    assert not gone.ok and gone.changed_hosts() == []
    assert f"the Redis snapshot {snapshot['path']} on {snapshot['node']} is missing" in said(gone)
    assert "nothing was changed" in said(gone) and "rollback_restore_cache=false" in said(gone)
    assert fleet_digest(fleet, streams=False) == settled

    # A rollback that fails after the workers were quiesced: ingest1's env file differs from the
    # restore point's (so the rollback has work), and its 24.0.0 release says it is another one, so
    # moving it back fails once every worker is quiesced. Each worker is resumed before the run ends.
    fleet.host("ingest1").check_output("echo LOG_LEVEL=debug >> /etc/intelgraph/ingest.env")
    fleet.write("ingest1", f"/opt/intelgraph/releases/{PREVIOUS}/VERSION", "9.9.9\n")
    # A poison event pending a retry while every worker is quiesced: the quiesce leaves it pending;
    # ingest1's move back then fails at its release check, before its own drain.
    with fleet.traffic() as stats:
        again_poison, again_deliveries = poison_pending(fleet)
        failed = fleet.playbook("playbooks/rollback.yml")
        workers = {host: fleet.http(host, 9101, "/status")[1] for host in ingest}
    assert not failed.ok, f"the rollback did not fail, see {failed.log}"
    text = said(failed)
    assert f"The rollback to {PREVIOUS} failed: " in text
    assert "(on ingest1)" in text and "holds release 9.9.9, not 24.0.0" in text
    assert again_deliveries < 5
    left = re.search(r"(\d+) failed entr(?:y|ies) left pending for a retry", text)
    assert left and int(left.group(1)) >= 1, text
    assert task_timing(failed.output, QUIESCE_DRAIN)[1] < DRAIN_TIMEOUT / 4
    assert re.search(
        r"ingest1 did not move to 24[.]0[.]0: task '+Install the release into its own directory,"
        r" /opt/intelgraph/releases/24[.]0[.]0'+ failed",
        text,
    )
    assert "of the quiesced workers left pending" not in text  # ingest1's drain never began
    # ingest1 failed in its own move (resumed there or here), ingest2 was still quiesced: resumed here.
    assert re.search(
        r"The ingest workers after the failure: ingest1 was (resumed|consuming), ingest2 was resumed[.]", text
    )
    ran = re.findall(r"^PLAY \[(.+?)\]", failed.output, re.MULTILINE)
    assert "Rollback | quiesce the ingest workers" in ran
    assert "Rollback | ingest workers" in ran and ran[-2:] == [
        "Rollback | resume the ingest workers after a failure",
        "Rollback | close the maintenance window",
    ]
    window = fleet.store_json("window/window.json")
    assert window["state"] == "closed" and window["outcome"] == "failed", window
    assert "holds release 9.9.9" in window["reason"]
    assert {host: (status["quiesced"], status["version"]) for host, status in workers.items()} == {
        host: (False, PREVIOUS) for host in ingest
    }
    assert stats["requests_failed"] == 0, stats["failures"]
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, [again_poison])
