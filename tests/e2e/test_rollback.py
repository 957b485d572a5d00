"""upgrade.yml with upgrade_auto_rollback under steady traffic: a gate that fails after the
canary (api2's new release never becomes ready) rolls the fleet back on its own: every API and
ingest host on 24.0.0 again (some had moved, some not: a partial upgrade), env files byte for
byte, feature toggles and the workspace link as the restore point had them, no failed request,
every ingest event applied once or dead-lettered; the run fails saying what failed and that it
rolled back; and rollback.yml run again changes nothing. Then, on the same fleet, a rollback that
fails after it quiesced the ingest workers resumes every one of them before it fails (the queue
is consumed again, every event applied once), and closes its window as failed."""

from __future__ import annotations

import json
import re

from checks import (
    TOGGLES,
    assert_every_event_applied_once_or_dead_lettered,
    env_files,
    fleet_digest,
    in_service,
    lb_states,
    produce_poison,
    said,
    served_by,
    state_dir,
    toggles,
)
from test_rollout import BROKEN_API, PREVIOUS, TARGET

from sandbox import Fleet


def test_failed_gate_rolls_the_fleet_back_and_a_failed_rollback_resumes_the_workers(deployed: Fleet) -> None:
    fleet = deployed
    api, ingest = fleet.groups["api"], fleet.groups["ingest"]
    state = state_dir(fleet)
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
        run = fleet.playbook(
            "playbooks/upgrade.yml", extra_vars={"upgrade_auto_rollback": True, "rollout_ready_timeout": 20}
        )
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
    manifest = json.loads((state / "restore-points/latest/manifest.json").read_text())
    assert manifest["feature_toggles"]["toggles"] == toggles_before == toggles(fleet) == {"e2e_flag": "on"}
    assert "set none, deleted residency_guard, rps_limiter." in text  # the toggles 24.1 created on start
    assert workspace.linked_to == f"/opt/intelgraph/releases/{PREVIOUS}"
    for host in ingest:
        status, body = fleet.http(host, 9101, "/status")
        assert status == 200 and body["version"] == PREVIOUS and body["quiesced"] is False, body
    window = json.loads((state / "window/window.json").read_text())
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
    seen = lb_states(samples)
    assert len(seen) > 20
    assert min(len(in_service(states)) for states in seen) >= 2
    assert stats["requests_sent"] > 100
    assert stats["requests_failed"] == 0, stats["failures"]
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, poison)

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
    assert fleet_digest(fleet, streams=False) == settled

    # A rollback that fails after the workers were quiesced: ingest1's env file differs from the
    # restore point's (so the rollback has work), and its 24.0.0 release says it is another one, so
    # moving it back fails once every worker is quiesced. Each worker is resumed before the run ends.
    fleet.host("ingest1").check_output("echo LOG_LEVEL=debug >> /etc/intelgraph/ingest.env")
    fleet.write("ingest1", f"/opt/intelgraph/releases/{PREVIOUS}/VERSION", "9.9.9\n")
    # No poison event this time: one not yet dead-lettered stays pending while every worker is
    # quiesced, and the rollback would fail at the quiesce instead.
    with fleet.traffic() as stats:
        failed = fleet.playbook("playbooks/rollback.yml")
        workers = {host: fleet.http(host, 9101, "/status")[1] for host in ingest}
    assert not failed.ok, f"the rollback did not fail, see {failed.log}"
    text = said(failed)
    assert f"The rollback to {PREVIOUS} failed: " in text
    assert "(on ingest1)" in text and "holds release 9.9.9, not 24.0.0" in text
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
    window = json.loads((state / "window" / "window.json").read_text())
    assert window["state"] == "closed" and window["outcome"] == "failed", window
    assert "holds release 9.9.9" in window["reason"]
    assert {host: (status["quiesced"], status["version"]) for host, status in workers.items()} == {
        host: (False, PREVIOUS) for host in ingest
    }
    assert stats["requests_failed"] == 0, stats["failures"]
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, [])
