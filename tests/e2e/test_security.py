"""Secrets, hardening and phases 1 and 2 of an upgrade, end to end: a fleet deployed with secrets
of its own (Redis password, PostgreSQL password, webhook token) is upgraded at -vvv under
traffic, with inputs of its own (a rate limit, a cache TTL, the traffic ceiling forced); none of
the secrets is written anywhere but where it must be. Redis AUTH is on, env files are 0640
root:<service group>, and a 24.1 API host refuses a request without a tenant region claim. The
restore point, taken under AOF, holds what the fleet held; the 24.1 settings are in place; the
same inputs once more change nothing. The upgrade runs in a window shorter than the observation
that follows it: the window closes on time once the change is done, the observation after it."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
import time
from pathlib import Path

import psycopg
import pytest
import redis
import yaml
from browser import open_report
from checks import SERVICES, fleet_digest, said, wait_until
from scratch_redis import scratch_redis
from test_precheck import (
    check_restore_point,
    flat,
    load_snapshot,
    parse_time,
    redis_dump,
)
from webhook import webhook_receiver

from sandbox import ROOT, STATE_STORE, Fleet, http_get

# Where a run of this project may write on the controller: everything below the checkout that
# changed during the test is read (.collections and .venv are links and not followed).
SKIPPED_DIRS = {".git", "node_modules", "__pycache__"}
# On the fleet's hosts: logs and scratch space (the config files are meant to hold the secrets); on
# the state host, the state store the runs write too.
HOST_PATHS = ["/var/log", "/tmp", "/var/tmp", "/root"]
# The upgrade's window, and the observation after it: it ends past the window's deadline as long
# as the change took more than 30 s of the window's 180. With 3 API hosts it takes 50 to 60 s on a
# machine running this test alone; at -vvv beside the suite's busiest start (Molecule, the unit
# tests and lint with two other fleets) it once reached the backfill only after 118 s.
WINDOW_MINUTES = 3
OBSERVATION = 150
CANARY_BAKE = (
    "rollout : Hold the canary for rollout_canary_bake seconds, then compare it with the hosts on the "
    "previous release, api1"
)


def sees_traffic(fleet: Fleet) -> bool:
    """Prometheus sees more than one request a second to the API hosts."""
    return (fleet.prometheus_value("sum(rate(intelgraph_http_requests_total[1m]))") or 0) > 1.0


def written_since(start: float) -> list[Path]:
    """Every regular file below the checkout modified at or after `start`."""
    found = []
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            path = Path(top) / name
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= start:
                    found.append(path)
            except OSError:
                continue
    return found


def holding(paths: list[Path], needles: dict[str, bytes]) -> dict[str, list[str]]:
    """{secret name: files that contain it}."""
    hits: dict[str, list[str]] = {}
    for path in paths:
        data = path.read_bytes()
        for name, needle in needles.items():
            if needle in data:
                hits.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return hits


def test_upgrade_with_secrets_writes_none_hardens_the_fleet_and_captures_the_restore_point(
    fleet: Fleet, tmp_path: Path
) -> None:
    unique = secrets.token_hex(6)
    secret = {
        "intelgraph_redis_password": f"e2eRedis{unique}",
        "intelgraph_db_password": f"e2eDb{unique}",
        "intelgraph_window_webhook_token": f"e2eHook{unique}",
    }
    needles = {name: value.encode() for name, value in secret.items()}
    # Outside the checkout, so that only what the project writes can hold them; passed as
    # `-e @file`, as a vault file would be, never on a command line.
    vars_file = tmp_path / "secrets.yml"
    vars_file.write_text(yaml.safe_dump(secret))
    vars_file.chmod(0o600)
    with_secrets = ("-e", f"@{vars_file}")

    fleet.dirty = True  # deployed with other secrets than the inventory's: never reused as is
    defaults = (fleet.redis_password, fleet.db_password)
    started = time.time() - 1
    try:
        fleet.down()
        fleet.up()
        fleet.deploy(*with_secrets)
        fleet.redis_password = secret["intelgraph_redis_password"]
        fleet.db_password = secret["intelgraph_db_password"]
        api, ingest = fleet.groups["api"], fleet.groups["ingest"]

        # The fleet runs on these secrets: the services' connection strings hold them, and
        # Redis and PostgreSQL accept them.
        for host in api + ingest:
            held = fleet.host(host).file("/etc/intelgraph/secrets.env").content
            assert needles["intelgraph_redis_password"] in held and needles["intelgraph_db_password"] in held
        with fleet.pg() as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("intelgraph",)

        # Before the upgrade (24.0.0), a request without a region claim is served.
        status_before, _ = fleet.http(api[0], 8080, "/api/v1/entities/e2e-sec", {"X-Tenant-Id": "acme"})

        # What the restore point must hold: keys of our own, a feature toggle, and the cache
        # under AOF, turned on at run time (its first rewrite runs while the snapshot is taken).
        primary = fleet.groups["cache"][0]
        cache = fleet.redis(primary)
        seeded = {
            f"intelgraph:entity:e2e-rp-{n}": json.dumps({"id": f"e2e-rp-{n}", "n": n}) for n in range(50)
        }
        cache.mset(seeded)
        cache.set("intelgraph:features:legacy_export", "off")
        cache.config_set("appendonly", "yes")
        before = fleet_digest(fleet, streams=False)
        # Keys with a time to live (the traffic's cache entries) may expire before the snapshot.
        keys_before = {key for key in redis_dump(cache) if cache.ttl(key) == -1}

        with fleet.traffic() as stats, webhook_receiver() as receiver:
            wait_until(lambda: sees_traffic(fleet), 180, "Prometheus to see the traffic")
            busy = fleet.playbook(
                "playbooks/precheck.yml", *with_secrets, extra_vars={"intelgraph_traffic_max_rps": 0.5}
            )
            inputs = {
                "intelgraph_traffic_max_rps": 0.5,
                "intelgraph_traffic_force": True,
                "intelgraph_rps_limit": 5,
                "intelgraph_rps_burst": 10,
                "intelgraph_cache_ttl_seconds": 120,
                "intelgraph_window_webhook_url": receiver.url,
            }
            # A window shorter than the change and the observation after it together: the window
            # holds the change alone and closes when it is done; the SLO gates are held after it.
            run = fleet.playbook(
                "playbooks/upgrade.yml",
                "-vvv",
                *with_secrets,
                extra_vars={
                    **inputs,
                    "intelgraph_window_minutes": WINDOW_MINUTES,
                    "validate_window": OBSERVATION,
                },
            )
        # Low-traffic check: above the ceiling the pre-check stops, naming the variable; forced, it goes on.
        assert busy.rc == 2, f"a busy fleet passed the pre-check, see {busy.log}"
        text = flat(busy)
        assert "above intelgraph_traffic_max_rps=0.5" in text and "-e intelgraph_traffic_force=true" in text
        assert run.ok, f"upgrade failed, see {run.log}"
        assert "ESTABLISH SSH CONNECTION" in run.output  # -vvv was in force
        assert "Traffic is above the ceiling, going on as forced" in flat(run)
        assert stats["requests_sent"] > 100 and stats["requests_failed"] == 0, stats["failures"]
        assert fleet.versions() == dict.fromkeys(api + ingest, "24.1.0")

        # The window: announced when opened and when closed, once the change was done (every phase
        # inside it, with its time), as succeeded and on time; then the observation after it,
        # announced at its start and its end, which came after the window's deadline. The token
        # was used for each.
        opened, closed, observing, observed = receiver.bodies()
        assert [m["event"] for m in (opened, closed, observing, observed)] == [
            "window_opened",
            "window_closed",
            "observation_started",
            "observation_ended",
        ]
        assert {m["window_id"] for m in (closed, observing, observed)} == {opened["window_id"]}
        deadline = parse_time(opened["deadline"])
        assert deadline - parse_time(opened["start"]) == datetime.timedelta(minutes=WINDOW_MINUTES)
        assert (closed["outcome"], closed["overran"]) == ("succeeded", False)
        assert parse_time(closed["end"]) <= deadline
        assert [p["phase"] for p in closed["phases"]] == [
            "precheck",
            "config",
            "migrate",
            "rollout",
            "backfill",
            "verify",
        ]
        assert all(p["seconds"] is not None for p in closed["phases"])
        assert f"it ends at {closed['observation_until'][11:19]} UTC" in closed["text"]
        assert parse_time(closed["end"]) <= parse_time(observing["observation_start"])
        assert (observed["outcome"], observed["observation_seconds"]) == ("succeeded", OBSERVATION)
        assert parse_time(observed["end"]) - parse_time(observing["observation_start"]) >= datetime.timedelta(
            seconds=OBSERVATION
        )
        assert parse_time(observed["end"]) > deadline
        bearer = f"Bearer {secret['intelgraph_window_webhook_token']}"
        assert all(m.headers["Authorization"] == bearer for m in receiver.messages)

        # The release report as people read it: the HTML page opened in headless Chromium (its
        # screenshot kept beside the run's log), the outcome first, a chart for every gate drawn from
        # data, a bar for every phase of the window and every host moved, no placeholder left, no
        # script, no secret (searched with the other files the runs wrote, below).
        report = json.loads((fleet.reports / "24.1.0/release-report.json").read_text())
        page = open_report(fleet.reports / "24.1.0/release-report.html", run.log.with_suffix(".report.png"))
        assert (page["outcome"].lower(), page["duplicate_ids"], page["scripts"]) == ("succeeded", [], 0), page
        assert (
            page["gates"] == [gate["name"] for gate in report["validation"]["gates"]]
            and len(page["gates"]) == 5
        )
        assert page["nodata_gates"] == [], page["nodata_gates"]
        assert (page["timeline_figures"], page["phase_bars"], page["host_bars"]) == (1, 6, len(api + ingest))
        assert not page["awaiting_input"]
        # The canary api1, held and compared with api2 and api3 before they moved, as the run ledger kept it.
        assert (report["canary"]["canary"], report["canary"]["baseline"], report["canary"]["passed"]) == (
            ["api1"],
            ["api2", "api3"],
            True,
        ), report["canary"]
        assert (
            "The canary batch (api1) on 24.1.0, held 12 s once back in service, against the hosts still on "
            "24.0.0 (api2, api3): passed"
        ) in page["text"]
        assert [row["label"] for row in report["timeline"]["bars"][:6]] == [
            p["phase"] for p in closed["phases"]
        ]
        assert report["traffic"]["error"] is None and any(value for _, value in report["traffic"]["requests"])

        # The restore point: versions and env files as they were, toggles, and the cache under AOF.
        manifest = check_restore_point(fleet, opened["window_id"], before)
        assert manifest["feature_toggles"]["toggles"] == {"legacy_export": "off"}
        snapshot = manifest["redis_snapshot"]
        assert snapshot["aof_enabled"] is True
        kept = fleet.inspect(snapshot["node"], (snapshot["path"],)).data(
            snapshot["path"]
        )  # on the primary's host
        assert kept is not None and hashlib.sha256(kept).hexdigest() == snapshot["sha256"]
        rdb = tmp_path / "snapshot.rdb"
        rdb.write_bytes(kept)
        loaded = load_snapshot(rdb, tmp_path / "scratch")
        assert keys_before <= set(loaded)
        with scratch_redis(tmp_path / "again", dbfilename="x.rdb") as scratch:
            for key, dump in loaded.items():
                if key in seeded:
                    scratch.restore(key, 0, dump)
            assert {k: scratch.get(k) for k in seeded} == seeded

        # Config: the 24.1 settings in every env file, which are 0640, root and the group the
        # service runs as; the cache TTL given (not the default) is the one the config phase
        # wrote and the rollout kept.
        for host in api + ingest:
            service = "api" if host in api else "ingest"
            group = fleet.host(host).service(SERVICES[service]).systemd_properties.get("Group")
            assert group == "intelgraph", (host, group)
            env = fleet.host(host).file(f"/etc/intelgraph/{service}.env").content_string.splitlines()
            for line in (
                "RPS_LIMIT=5",
                "RPS_BURST=10",
                "TENANT_RESIDENCY_MODE=strict",
                "TRACE_SAMPLING_RATIO=0.1",
            ):
                assert line in env, (host, env)
            if service == "api":
                assert "CACHE_TTL_SECONDS=120" in env and "CACHE_TTL_SECONDS=300" not in env, (host, env)
                _, metrics = http_get(f"http://{fleet.address(host)}:8080/metrics", None, 5, raw=True)
                assert 'cache_ttl_seconds="120"' in metrics, (host, "the API does not run with the TTL given")
            for path in (f"/etc/intelgraph/{service}.env", "/etc/intelgraph/secrets.env"):
                held = fleet.host(host).file(path)
                assert (held.mode, held.user, held.group) == (0o640, "root", group), (host, path)

        # 24.1 behaviour: over RPS_LIMIT a client gets 429s; on every API host, no region
        # claim is a 403, and with one the request is served.
        codes = [
            fleet.http(
                api[0],
                8080,
                "/api/v1/entities/e2e-limit",
                {"X-Tenant-Id": "e2e-limit", "X-Tenant-Region": "eu-west"},
            )[0]
            for _ in range(40)
        ]
        assert 429 in codes and codes[0] in (200, 404), codes
        assert status_before != 403
        for host in api:
            status, body = fleet.http(host, 8080, "/api/v1/entities/e2e-sec", {"X-Tenant-Id": "acme"})
            assert status == 403, (host, status, body)
            claimed, _ = fleet.http(
                host, 8080, "/api/v1/entities/e2e-sec", {"X-Tenant-Id": "acme", "X-Tenant-Region": "eu-west"}
            )
            assert claimed in (200, 404), (host, claimed)

        # The same inputs once more: every env file already holds them, so nothing changes anywhere.
        # Under traffic again: the run's validation judges the SLO gates on what Prometheus sees.
        with fleet.traffic():
            wait_until(lambda: sees_traffic(fleet), 180, "Prometheus to see the traffic")
            again = fleet.playbook("playbooks/upgrade.yml", *with_secrets, extra_vars=inputs)
        assert again.ok, f"second upgrade failed, see {again.log}"
        assert again.changed_hosts() == [], (
            f"a second run with the same inputs changed something, see {again.log}"
        )
        # Every API host was found on 24.1.0: none is left on 24.0.0 to judge the canary against,
        # so the run says so and holds no bake.
        assert (
            "The canary (api1) is not judged: no API host is left on the previous release to compare it with."
            in said(again)
        ), again.log
        assert again.task_hosts(CANARY_BAKE) == [], again.log

        # 1. Nothing the runs wrote on the controller holds a secret: their outputs (the first
        #    at -vvv), the logs of every playbook (.sandbox/logs), the reports, the state dir
        #    (window record), the traffic generator's files. The restore point is not there: it
        #    is in the state store on the fleet (2. below).
        for name, needle in needles.items():
            for each in (busy, run, again):
                assert needle.decode() not in each.output, f"{name} in the output of {each.log}"
        written = written_since(started)
        names = {str(p.relative_to(ROOT)) for p in written}
        state = f".sandbox/{fleet.name}/state"
        reports = str(fleet.reports.relative_to(ROOT))
        for expected in (
            *(str(each.log.relative_to(ROOT)) for each in (busy, run, again)),
            f"{reports}/24.1.0/release-report.md",
            f"{reports}/24.1.0/release-report.json",
            f"{reports}/24.1.0/release-report.html",
            f"{reports}/24.1.0/data/migrate.json",
            f"{reports}/24.1.0/data/backfill.json",
            f"{reports}/run-timings.json",
            f".sandbox/{fleet.name}-traffic.json",
        ):
            assert expected in names, f"{expected} was not written, so it was not searched"
        # The window's record and the restore points are kept in the state store, not here.
        assert not [n for n in names if n.startswith((f"{state}/restore-points/", f"{state}/window/"))]
        assert holding(written, needles) == {}

        # 2. Nor any host's logs, journal or scratch space (Ansible modules log their arguments
        #    to the journal, with no_log options masked), nor what the services export, nor the
        #    state store (run lock, ledger, restore point), nor the Redis snapshot kept on the
        #    primary's host.
        stored = fleet.store_files()
        point = f"restore-points/{opened['window_id']}"
        assert f"{point}/manifest.json" in stored and any(p.startswith(f"{point}/env/") for p in stored), (
            stored
        )
        assert {"window/window.json", "window/announcements.log"} <= set(stored), stored
        for host in [h for group in fleet.groups.values() for h in group]:
            on_host = fleet.host(host)
            patterns = [f"-e{v}" for v in secret.values()]
            paths = HOST_PATHS + ([STATE_STORE] if host == fleet.groups["tools"][0] else [])
            paths += [snapshot["path"]] if host == snapshot["node"] else []
            grep = on_host.run("grep -rlaF" + " %s" * (len(patterns) + len(paths)), *patterns, *paths)
            assert grep.rc == 1 and grep.stdout == "", f"{host}: {grep.stdout} {grep.stderr}"
            journal = on_host.run("journalctl --no-pager -o cat").stdout
            assert "Invoked with" in journal, f"{host}: the journal holds no module invocation"
            assert [n for n, v in secret.items() if v in journal] == [], f"{host}: journal"
            if host in fleet.groups["tools"]:  # the migrate modules ran there, their password masked
                assert "login_password=NOT_LOGGING_PARAMETER" in journal
        for host in api + ingest:
            port = 8080 if host in api else 9101
            for path in ("/metrics", "/status" if host in ingest else "/version"):
                _, body = fleet.http(host, port, path)
                assert [n for n, v in secret.items() if v in str(body)] == [], f"{host}{path}"

        # 3. Redis AUTH, end to end: both nodes refuse a client without the password, accept
        #    the fleet's, and the replica follows its primary with it (masterauth).
        for host in fleet.groups["cache"]:
            anonymous = redis.Redis(host=fleet.address(host), port=6379, socket_timeout=5)
            with pytest.raises(redis.AuthenticationError):
                anonymous.ping()
            assert fleet.redis(host).ping() is True
        replica = fleet.groups["cache"][1]
        assert fleet.redis(replica).info("replication")["master_link_status"] == "up"
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(
                host=fleet.address(fleet.groups["db"][0]),
                dbname="intelgraph",
                user="intelgraph",
                password=defaults[1],
                connect_timeout=5,
            )
    finally:
        fleet.redis_password, fleet.db_password = defaults
