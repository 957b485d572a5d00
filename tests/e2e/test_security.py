"""Secrets and hardening, end to end: a fleet deployed with secrets of its own (Redis password,
PostgreSQL password, webhook token) is upgraded at -vvv under traffic; none of them is written
anywhere but where it must be. Redis AUTH is on, env files are 0640 root:<service group>, and a
24.1 API host refuses a request without a tenant region claim."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import psycopg
import pytest
import redis
import yaml
from webhook import webhook_receiver

from sandbox import ROOT, Fleet

# Where a run of this project may write on the controller: everything below the checkout that
# changed during the test is read (.collections and .venv are links and not followed).
SKIPPED_DIRS = {".git", "node_modules", "__pycache__"}
# On the fleet's hosts: logs and scratch space (the config files are meant to hold the secrets).
HOST_PATHS = ["/var/log", "/tmp", "/var/tmp", "/root"]
SERVICES = {"api": "intelgraph-api", "ingest": "intelgraph-ingest"}


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


def test_no_secret_is_written_and_the_fleet_is_hardened(fleet: Fleet, tmp_path: Path) -> None:
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

        with (
            fleet.traffic(*with_secrets) as stats,
            webhook_receiver() as receiver,
        ):
            run = fleet.playbook(
                "playbooks/upgrade.yml",
                "-vvv",
                *with_secrets,
                extra_vars={"intelgraph_window_webhook_url": receiver.url},
            )
        assert run.ok, f"upgrade failed, see {run.log}"
        assert "ESTABLISH SSH CONNECTION" in run.output  # -vvv was in force
        assert stats["requests_sent"] > 100 and stats["requests_failed"] == 0, stats["failures"]
        assert set(fleet.versions().values()) == {"24.1.0"}

        # The token was used: both announcements carried it.
        assert [m.body["event"] for m in receiver.messages] == ["window_opened", "window_closed"]
        bearer = f"Bearer {secret['intelgraph_window_webhook_token']}"
        assert all(m.headers["Authorization"] == bearer for m in receiver.messages)

        # 1. Nothing the run wrote on the controller holds a secret: its -vvv output, the logs of
        #    every playbook (.sandbox/logs), the reports, the state dir (window record,
        #    restore point with its Redis snapshot), the traffic generator's files.
        for name, needle in needles.items():
            assert needle.decode() not in run.output, f"{name} in the output of {run.log}"
        written = written_since(started)
        names = {str(p.relative_to(ROOT)) for p in written}
        state = f".sandbox/{fleet.name}/state"
        reports = str(fleet.reports.relative_to(ROOT))
        for expected in (
            str(run.log.relative_to(ROOT)),
            f"{reports}/24.1.0/release-report.md",
            f"{reports}/24.1.0/release-report.json",
            f"{reports}/24.1.0/data/migrate.json",
            f"{reports}/24.1.0/data/backfill.json",
            f"{reports}/run-timings.json",
            f"{state}/window/window.json",
            f"{state}/window/announcements.log",
            f".sandbox/{fleet.name}-traffic.json",
        ):
            assert expected in names, f"{expected} was not written, so it was not searched"
        restore_point = [n for n in names if n.startswith(f"{state}/restore-points/")]
        assert any(n.endswith("manifest.json") for n in restore_point)
        assert any(n.endswith(".rdb") for n in restore_point)
        assert any(n.endswith(".env") for n in restore_point)
        assert holding(written, needles) == {}

        # 2. Nor any host's logs, journal or scratch space (Ansible modules log their arguments
        #    to the journal, with no_log options masked), nor what the services export.
        for host in [h for group in fleet.groups.values() for h in group]:
            on_host = fleet.host(host)
            patterns = [f"-e{v}" for v in secret.values()]
            grep = on_host.run(
                "grep -rlaF" + " %s" * (len(patterns) + len(HOST_PATHS)), *patterns, *HOST_PATHS
            )
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

        # 4. Env files: 0640, root, the group the service runs as, on every API and ingest host.
        for host in api + ingest:
            service = "api" if host in api else "ingest"
            group = fleet.host(host).service(SERVICES[service]).systemd_properties.get("Group")
            assert group
            for path in (f"/etc/intelgraph/{service}.env", "/etc/intelgraph/secrets.env"):
                env_file = fleet.host(host).file(path)
                assert (env_file.mode, env_file.user, env_file.group) == (0o640, "root", group), (host, path)

        # 5. The residency guard on every 24.1 API host: no region claim, 403; with one, served.
        assert status_before != 403
        for host in api:
            status, body = fleet.http(host, 8080, "/api/v1/entities/e2e-sec", {"X-Tenant-Id": "acme"})
            assert status == 403, (host, status, body)
            claimed, _ = fleet.http(
                host, 8080, "/api/v1/entities/e2e-sec", {"X-Tenant-Id": "acme", "X-Tenant-Region": "eu-west"}
            )
            assert claimed in (200, 404), (host, claimed)
    finally:
        fleet.redis_password, fleet.db_password = defaults
