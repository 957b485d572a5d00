"""Checks shared by the end-to-end tests: what a run said, what HAProxy and the API hosts
served, and the accounting of every ingest event the traffic generator produced."""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import yaml

from sandbox import ROOT, Fleet, PlaybookRun

SERVICES = {"api": "intelgraph-api", "ingest": "intelgraph-ingest"}
# The streams the services and the traffic write while they serve: left out of a digest taken
# while the fleet serves (streams=False).
EVENT_STREAMS = ("intelgraph:ingest", "intelgraph:ingest:dlq", "intelgraph:changes")
ENV_FILES = {"api": ["/etc/intelgraph/api.env"], "ingest": ["/etc/intelgraph/ingest.env"]}
TOGGLES = "intelgraph:features:"  # the feature toggles' key prefix


def state_dir(fleet: Fleet) -> Path:
    """The fleet's state directory on this controller: where an earlier layout kept its runs'
    state (window, ledger, restore points). Runs write nothing there now; the tests check that."""
    return ROOT / ".sandbox" / fleet.name / "state"


def redis_digest(fleet: Fleet, streams: bool = True) -> dict[str, Any]:
    """Every key of the primary that does not expire, with a digest of its value (DUMP), and the
    feature toggles; cache entries (with a TTL) come and go and are left out, and so are the event
    streams with streams=False."""
    client = fleet.redis()
    raw = client.__class__(
        host=fleet.address(fleet.groups["cache"][0]),
        port=6379,
        password=fleet.redis_password,
        socket_timeout=5,
    )
    keys = {}
    for key in raw.scan_iter(count=1000):
        if raw.ttl(key) == -1 and (streams or key.decode() not in EVENT_STREAMS):
            keys[key.decode()] = hashlib.sha256(raw.dump(key) or b"").hexdigest()
    toggles = {k: client.get(k) for k in client.scan_iter("intelgraph:features:*")}
    return {"persistent_keys": len(keys), "digest": keys, "toggles": toggles}


def fleet_digest(fleet: Fleet, streams: bool = True) -> dict[str, Any]:
    """What a run may change, read from the hosts themselves: env files byte for byte, current
    links, unpacked releases, when each service started, the versions served, HAProxy's states,
    Redis (redis_digest), the migrations applied and the tables. Equal before and after a run
    that says "nothing was changed"."""
    env = {
        group: [f"/etc/intelgraph/{group}.env", "/etc/intelgraph/secrets.env"] for group in ("api", "ingest")
    }
    env["tools"] = ["/etc/intelgraph/workspace.env"]
    state: dict[str, Any] = {"files": {}, "links": {}, "releases": {}, "started": {}}
    for group, paths in env.items():
        for host in fleet.groups[group]:
            unit = SERVICES.get(group)
            seen = fleet.inspect(
                host, (*paths, "/opt/intelgraph/current", "/opt/intelgraph/releases"), (unit,) if unit else ()
            )
            state["files"].update({(host, path): seen.data(path) for path in paths})
            state["links"][host] = (seen.paths["/opt/intelgraph/current"] or {}).get("target")
            state["releases"][host] = (seen.paths["/opt/intelgraph/releases"] or {}).get("entries")
            if unit:
                state["started"][host] = seen.units[unit]
    state.update(
        {
            "versions": fleet.versions(),
            "haproxy": fleet.haproxy_states(),
            "redis": redis_digest(fleet, streams),
        }
    )
    with fleet.pg() as conn:
        state["migrations"] = conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
        state["tables"] = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        ).fetchall()
    return state


def env_files(fleet: Fleet) -> dict[tuple[str, str], tuple[bytes | None, int, str, str]]:
    """Every API and ingest env file: its bytes, mode, owner and group."""
    found = {}
    for group, paths in ENV_FILES.items():
        for host in fleet.groups[group]:
            seen = fleet.inspect(host, tuple(paths))
            for path in paths:
                info = seen.paths[path]
                found[host, path] = (
                    (seen.data(path), info["mode"], info["user"], info["group"]) if info else None
                )
    return found


def toggles(fleet: Fleet, prefix: str = TOGGLES, host: str | None = None) -> dict[str, str]:
    """The feature toggles on a cache host (the primary by default): {name without the prefix: value}."""
    client = fleet.redis(host)
    return {key[len(prefix) :]: client.get(key) for key in client.scan_iter(match=prefix + "*")}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Call predicate every `every` seconds (an OSError counts as not yet) until it gives a true
    value, and return that value; fail the test, naming what it waited for, after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)


@functools.cache
def slo_gates() -> list[tuple[str, str, float]]:
    """The SLO gates of roles/validate, as its defaults (which the sandbox keeps) make them: each
    gate's name, PromQL query and threshold."""
    defaults = yaml.safe_load((ROOT / "roles/validate/defaults/main.yml").read_text())
    return [
        (
            gate["name"],
            jinja2.Template(gate["query"]).render(defaults),
            float(jinja2.Template(gate["threshold"]).render(defaults)),
        )
        for gate in defaults["validate_gates"]
    ]


def slo_gates_missed(fleet: Fleet) -> list[str]:
    """The SLO gates (slo_gates) that Prometheus measures above their threshold now, as
    `name=value`; a gate with no data is not missed (24.0.0 exports no subscription latency). A
    test waits for none before it starts a run whose validation is to pass, as an operator waits
    for a fleet to recover before running again."""
    missed = []
    for name, query, threshold in slo_gates():
        value = fleet.prometheus_value(query)
        if value is not None and value > threshold:
            missed.append(f"{name}={value}")
    return missed


def said(run: PlaybookRun) -> str:
    """What a run printed, with line breaks and indentation folded to single spaces."""
    return " ".join(run.output.split())


def in_service(states: dict[str, str]) -> list[str]:
    return sorted(server for server, status in states.items() if status.startswith("UP"))


def lb_states(samples: list[tuple[float, Any]]) -> list[dict[str, str]]:
    """The HAProxy states the watch read (leaving out the reads that failed)."""
    return [value for _, value in samples if isinstance(value, dict) and value]


def served_by(fleet: Fleet, requests: int = 12) -> set[str]:
    """The API hosts that answer /version through the load balancer."""
    hosts = set()
    for _ in range(requests):
        status, body = fleet.http(fleet.groups["lb"][0], 80, "/version")
        assert status == 200, body
        hosts.add(body["host"])
    return hosts


def produce_poison(fleet: Fleet, count: int = 3) -> list[str]:
    """Ingest events no worker can apply: each must end in the dead-letter queue, once."""
    ids = []
    client = fleet.redis()
    for _ in range(count):
        event_id = f"e2e-poison-{uuid.uuid4().hex}"
        client.xadd(
            fleet.INGEST_STREAM,
            {
                "event_id": event_id,
                "tenant": "acme",
                "batch_id": "e2e-poison",
                "payload": '{"poison": true}',
                "produced_at": repr(time.time()),
            },
        )
        ids.append(event_id)
    return ids


def assert_every_event_applied_once_or_dead_lettered(
    fleet: Fleet, stats: dict[str, Any], poison: list[str]
) -> None:
    """produced == applied + dead-lettered, event by event, counted in PostgreSQL and the DLQ."""
    fleet.wait_ingest_settled(timeout=300)
    produced = fleet.traffic_ingest_events()
    assert stats["ingest_errors"] == 0, stats["failures"]
    assert len(produced) == stats["ingest_events_produced"] > 0
    events = [*produced, *poison]
    applied, dead = fleet.ingest_outcomes(events)
    assert {e: n for e, n in applied.items() if n != 1} == {}, "events applied more than once"
    assert {e: n for e, n in dead.items() if n != 1} == {}, "events dead-lettered more than once"
    assert set(applied) & set(dead) == set(), "events both applied and dead-lettered"
    assert set(events) - set(applied) - set(dead) == set(), "events lost"
    assert set(dead) == set(poison) | {e for e, is_poison in produced.items() if is_poison}
    assert len(events) == len(applied) + len(dead)


def services(fleet: Fleet) -> dict[str, tuple[str | None, str, str]]:
    """(version answered, `current` link, ActiveEnterTimestamp) of every API and ingest host."""
    found = {}
    for host in fleet.groups["api"] + fleet.groups["ingest"]:
        unit = SERVICES["api" if host in fleet.groups["api"] else "ingest"]
        seen = fleet.inspect(host, ("/opt/intelgraph/current",), (unit,))
        found[host] = (
            fleet.version(host),
            (seen.paths["/opt/intelgraph/current"] or {}).get("target"),
            seen.units[unit],
        )
    return found


def ledger(fleet: Fleet) -> list[str]:
    with fleet.pg() as conn:
        return [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]


def assert_served_throughout(
    fleet: Fleet, stats: dict[str, Any], samples: list[tuple[float, Any]], poison: list[str]
) -> list[dict[str, str]]:
    """Under the traffic of `stats` (Fleet.traffic) and HAProxy sampled in `samples`
    (Fleet.watch(fleet.haproxy_states)): requests were sent and none failed, at least two API
    hosts were in service at every sample, and every ingest event was applied once or
    dead-lettered. Returns the HAProxy states it judged (lb_states)."""
    assert stats["requests_sent"] > 100
    assert stats["requests_failed"] == 0, stats["failures"]
    seen = lb_states(samples)
    assert len(seen) > 20
    assert min(len(in_service(states)) for states in seen) >= 2
    assert_every_event_applied_once_or_dead_lettered(fleet, stats, poison)
    return seen


def canary_moved_and_next_drained(fleet: Fleet, release: str) -> bool:
    """Whether the run ledger of the upgrade to release has the canary api1's rollout done and
    HAProxy has the next host, api2, out of service: the moment the tests lose a run's controller.
    HAProxy first (one HTTP request): the ledger is read on the state host (a command there) only
    while api2 is out, not at every poll of the minute or two before."""
    if fleet.haproxy_states()["api2"].startswith("UP"):
        return False
    try:
        ledger = fleet.store_json(f"ledger/{release}.json") or {}
    except ValueError:  # being written
        return False
    return ledger.get("hosts", {}).get("api1", {}).get("rollout", {}).get("status") == "done"
