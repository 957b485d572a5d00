# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""How long the change of an upgrade takes inside its maintenance window, from what earlier runs
measured: the phases' times in the last release report (the phase_timer callback's rows, or the
window's phases) and the time each host took to move in the run ledgers; the expected times of
intelgraph_phase_seconds where nothing was measured. The post-upgrade observation follows the
window and is shown apart."""

from __future__ import annotations

import math
import re
import time
from typing import Any

# The plays of upgrade.yml inside the window that make up each phase outside the rollout batches
# (a report written without the phase_timer callback names the window's phases themselves).
PHASE_PLAYS = {
    "precheck": ("Upgrade | open the maintenance window", "Upgrade | restore point"),
    "config": ("Upgrade | config",),
    "migrate": ("Upgrade | migrate",),
    "backfill": ("Backfill |",),
    "verify": ("Upgrade | verify", "Upgrade | close the maintenance window"),
}
# The phases inside the window, in their order, the rollout's batches between migrate and backfill.
WINDOW_PHASES = ("precheck", "config", "migrate", "rollout", "backfill", "verify")
# The phases that visit every API and ingest host at once, `forks` at a time, and take longer the
# more hosts there are: the restore point (in precheck) reads each host's release and settings,
# config writes them.
PER_HOST_PHASES = ("precheck", "config")


HOSTS = re.compile(r"^\s*([0-9]+)\s*$")
PERCENT = re.compile(r"^\s*([0-9]+)\s*%\s*$")


def serial_hosts(value: Any, total: int) -> int:
    """A batch size as Ansible's serial reads it, before it makes 0 into 1: a number of hosts, or
    a percentage of the `total` hosts rounded down. ValueError for anything else."""
    text = str(value)
    percent = PERCENT.match(text)
    return int(total * int(percent.group(1)) / 100) if percent else int(text)


def batch_sizes(count: int, total: int, first: Any, rest: Any) -> list[int]:
    """The batches `count` moving hosts fall into: `first` hosts, then `rest` at a time (a number,
    or a percentage of the group's `total` hosts, as Ansible's serial takes it: at least 1)."""
    batches, left, current = [], count, max(1, serial_hosts(first, total))
    while left > 0:
        batches.append(min(current, left))
        left -= current
        current = max(1, serial_hosts(rest, total))
    return batches


def min_in_service_count(value: Any, total: int) -> int:
    """rollout_api_min_in_service as a number of hosts: a count, or a percentage of the `total`
    API hosts rounded up (at least that share stays in service)."""
    text = str(value)
    percent = PERCENT.match(text)
    if percent:
        return math.ceil(total * int(percent.group(1)) / 100)
    return int(text)


def rollout_batch_errors(total: int, canary: Any, batch_size: Any, min_in_service: Any) -> list[str]:
    """What is wrong with the API batches (rollout_api_canary, rollout_api_batch_size, each a
    number of hosts or a percentage of the `total` API hosts, as Ansible's serial takes them) and
    rollout_api_min_in_service (a number or a percentage, rounded up): a malformed value, a
    percentage that rounds down to 0 hosts, or a batch that leaves fewer hosts in service. Each
    names the variable, its value and the numbers; empty when all is well."""
    errors, largest = [], 0
    for name, value in (("rollout_api_canary", canary), ("rollout_api_batch_size", batch_size)):
        text = str(value)
        count, percent = HOSTS.match(text), PERCENT.match(text)
        if (count and int(count.group(1)) >= 1) or (percent and 1 <= int(percent.group(1)) <= 100):
            size = serial_hosts(text, total)
            if size == 0 and total > 0:
                errors.append(
                    f"{name}={text}: {text} of the {total} API hosts rounds down to 0 hosts; give at least "
                    f"{math.ceil(100 / total)}% or a number of hosts"
                )
                continue
        else:
            errors.append(
                f"{name}={text}: must be a number of hosts (1 or more) or a percentage (1% to 100%)"
            )
            continue
        largest = max(largest, min(size, total))
    text = str(min_in_service)
    if not (HOSTS.match(text) or (PERCENT.match(text) and int(PERCENT.match(text).group(1)) <= 100)):
        errors.append(
            f"rollout_api_min_in_service={text}: must be a number of hosts (0 or more) or a percentage (0% to 100%)"
        )
        return errors
    needed = min_in_service_count(text, total)
    if total - largest < needed:
        hosts = f" ({needed} of the {total})" if PERCENT.match(text) else ""
        errors.append(
            f"rollout_api_min_in_service={text}: a batch of {largest} of the {total} API hosts leaves "
            f"{total - largest} in service, fewer than rollout_api_min_in_service{hosts}; lower the batch sizes "
            "(rollout_api_canary, rollout_api_batch_size) or rollout_api_min_in_service"
        )
    return errors


def measured_phases(timings: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of each phase in the rows of a release report (phase rows have host null)."""
    phases: dict[str, float] = {}
    for row in timings:
        if row.get("host") is not None or row.get("seconds") is None:
            continue
        name = str(row.get("phase", ""))
        for phase, prefixes in PHASE_PLAYS.items():
            if name == phase or any(name.startswith(p) for p in prefixes):
                phases[phase] = phases.get(phase, 0.0) + float(row["seconds"])
    return phases


def host_move_seconds(ledgers: list[dict[str, Any]], hosts: list[str]) -> tuple[float, int, str] | None:
    """(longest move, hosts measured, ledger's release and time) of the newest ledger in which some
    of the hosts moved (rollout done, moved true); None when no ledger has one."""
    for ledger in sorted(ledgers, key=lambda item: item.get("updated") or 0, reverse=True):
        spans = []
        for host in hosts:
            entry = ledger.get("hosts", {}).get(host, {}).get("rollout", {})
            moved = str(entry.get("data", {}).get("moved", "")).lower() == "true"
            if (
                entry.get("status") == "done"
                and moved
                and None not in (entry.get("started"), entry.get("finished"))
            ):
                spans.append(float(entry["finished"]) - float(entry["started"]))
        if spans:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(ledger.get("updated") or 0)))
            return max(spans), len(spans), f"run ledger of {ledger.get('release')} written {when}"
    return None


def minutes(seconds: float) -> str:
    whole = math.ceil(seconds)
    return f"{whole // 60}m {whole % 60:02d}s"


def estimate(
    plans: list[dict[str, Any]],
    groups: dict[str, list[str]],
    serial: dict[str, Any],
    expected: dict[str, Any],
    window_minutes: Any,
    timings: list[dict[str, Any]] | None = None,
    ledgers: list[dict[str, Any]] | None = None,
    batch_seconds: Any = 60,
    observation_seconds: Any = 0,
    host_seconds: Any = 0,
) -> dict[str, Any]:
    """The time the change needs inside the window, and the observation after it. plans: the
    pre-check's plan per host ({host, moves, settings}); groups: {api: [...], ingest: [...]};
    serial: rollout_api_canary, rollout_api_batch_size, rollout_ingest_batch_size and
    rollout_canary_bake; expected: intelgraph_phase_seconds; observation_seconds: validate_window;
    host_seconds: intelgraph_plan_host_seconds, what each host to change adds to the phases that
    visit them all at once (PER_HOST_PHASES, and the install of the API hosts after the canary)
    where no report measured them."""
    measured = measured_phases(timings or [])
    touched = {p["host"] for p in plans if str(p.get("moves")).lower() == "true" or p.get("settings")}
    per_host = float(host_seconds)
    phases = []
    if touched:
        for phase in WINDOW_PHASES:
            if phase == "rollout":
                phases.extend(
                    rollout_phases(groups, serial, touched, ledgers or [], float(batch_seconds), per_host)
                )
                continue
            if phase in measured:
                phases.append(
                    {"phase": phase, "seconds": measured[phase], "source": "measured (last release report)"}
                )
                continue
            seconds, source = float(expected.get(phase, 0)), "intelgraph_phase_seconds"
            if phase in PER_HOST_PHASES and per_host:
                seconds += per_host * len(touched)
                source += f", and {per_host:g}s for each of the {len(touched)} hosts to change (intelgraph_plan_host_seconds)"
            phases.append({"phase": phase, "seconds": seconds, "source": source})
    total = sum(p["seconds"] for p in phases)
    window = float(window_minutes) * 60
    observation = float(observation_seconds) if touched else 0.0
    fits = total <= window
    lines = [f"{p['phase']}: {minutes(p['seconds'])} ({p['source']})" for p in phases]
    if not touched:
        summary = "Nothing to change: no window is opened and no observation follows."
    else:
        verdict = "fits in" if fits else "does NOT fit in"
        summary = (
            f"Estimated {minutes(total)} inside the maintenance window: the change {verdict} the "
            f"{float(window_minutes):g}-minute window ({'margin' if fits else 'over by'} "
            f"{minutes(abs(window - total))})."
        )
        if observation:
            summary += (
                f" The window closes once the change is done; the post-upgrade observation "
                f"(validate_window) follows it for {minutes(observation)}."
            )
    problem = None
    if not fits:
        problem = (
            f"the change needs about {minutes(total)} inside the maintenance window "
            f"({', '.join(p['phase'] + ' ' + minutes(p['seconds']) for p in phases)}), more than the "
            f"{float(window_minutes):g}-minute window (intelgraph_window_minutes={window_minutes}): over by "
            f"{minutes(total - window)}. Plan a longer window, or lower the estimates "
            "(intelgraph_phase_seconds, intelgraph_plan_batch_seconds) if they are too high"
        )
    return {
        "problem": problem,
        "total_seconds": round(total, 1),
        "window_seconds": window,
        "over_seconds": round(max(0.0, total - window), 1),
        "observation_seconds": observation,
        "fits": fits,
        "phases": [{**p, "seconds": round(p["seconds"], 1)} for p in phases],
        "lines": [*lines, summary],
        "summary": summary,
    }


def rollout_phases(
    groups: dict[str, list[str]],
    serial: dict[str, Any],
    touched: set[str],
    ledgers: list[dict[str, Any]],
    batch_seconds: float,
    host_seconds: float = 0.0,
) -> list[dict[str, Any]]:
    """The rollout of the API hosts, then the ingest workers: each batch costs the longest move the
    newest ledger measured in the group, else batch_seconds. The API hosts after the canary
    install their release at once before their batches (upgrade.yml): host_seconds each."""
    phases = []
    for group, first, rest in (
        ("api", serial.get("rollout_api_canary", 1), serial.get("rollout_api_batch_size", 1)),
        (
            "ingest",
            serial.get("rollout_ingest_batch_size", 1),
            serial.get("rollout_ingest_batch_size", 1),
        ),
    ):
        hosts = groups.get(group, [])
        moving = [h for h in hosts if h in touched]
        batches = batch_sizes(len(moving), len(hosts), first, rest)
        found = host_move_seconds(ledgers, hosts)
        if found:
            cost, count, where = found
            source = f"measured: the longest of {count} {group} host moves in the {where}"
        else:
            cost, source = batch_seconds, "no measured move; intelgraph_plan_batch_seconds"
        # The canary is held before the next batch, when there is one to compare it with; its
        # comparison is seen at the wait's next check, which comes every min(bake, 5) seconds
        # (roles/rollout, __rollout_canary_delay).
        bake = float(serial.get("rollout_canary_bake", 0)) if group == "api" and len(batches) > 1 else 0.0
        check = max(min(bake, 5.0), 1.0) if bake else 0.0
        # The API hosts after the canary install their release at once, before their batches.
        installed = sum(batches[1:]) if group == "api" else 0
        install = host_seconds * installed
        besides = (
            f", and the canary's bake of {bake:.0f}s (rollout_canary_bake) and up to {check:.0f}s until its comparison is seen"
            if bake
            else ""
        ) + (
            f", and {host_seconds:g}s for each of the {installed} hosts after the canary that install their "
            "release at once (intelgraph_plan_host_seconds)"
            if install
            else ""
        )
        phases.append(
            {
                "phase": f"rollout {group}",
                "seconds": cost * len(batches) + bake + check + install,
                "source": f"{len(batches)} batches ({', '.join(moving) or 'none'}) x {cost:.0f}s a batch, {source}{besides}",
            }
        )
    return phases
