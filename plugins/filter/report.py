# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Filters of the release report: a gate's value as the release note prints it, the report's
link templates filled in, the run's phase timings, its timeline and its outcome."""

from __future__ import annotations

import string
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_url
from ansible_collections.intelgraph.ops.plugins.module_utils._window import phase_timings


def format_gate_value(spec: dict[str, Any], gates: dict[str, Any]) -> str:
    """The measured (worst) value of the gate spec['gate'] in spec['unit'] (ms, s, percent,
    or none). A gate without a value says so, rather than inventing one."""
    name = spec.get("gate")
    if name not in gates:
        raise AnsibleFilterError(f"format_gate_value: no gate {name!r} in the validation results")
    value = gates[name]
    if value is None:
        return "no data (inconclusive)"
    unit = spec.get("unit", "")
    value = float(value)
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "percent":
        return f"{value * 100:.3f}%"
    return f"{value:g}"


def url_template(template: str, values: dict[str, Any]) -> str:
    """Fill `{name}` fields of a link template; a field without a value is an error naming it.
    The link is returned, and the template shown, without secrets (the report is shared)."""
    fields = {part[1] for part in string.Formatter().parse(template) if part[1]}
    missing = sorted(fields - set(values))
    if missing:
        raise AnsibleFilterError(
            f"url_template: no value for {', '.join(missing)} in {redact_url(template)!r}"
        )
    return redact_url(template.format_map(values))


def awx_signoff(approval: dict[str, Any], workflow_job_id: Any = "") -> dict[str, Any]:
    """A sign-off from an approved AWX workflow approval: node `<role> sign-off` signs for
    <role>, by whoever approved it, when it finished."""
    name = str(approval.get("name", ""))
    role = name[: -len(" sign-off")] if name.lower().endswith(" sign-off") else name
    approver = (approval.get("summary_fields") or {}).get("approved_or_denied_by") or {}
    return {
        "role": role,
        "name": approver.get("username", "unknown"),
        "at": approval.get("finished"),
        "ticket": f"AWX workflow job {workflow_job_id}" if workflow_job_id else "AWX",
    }


def run_timings(
    recorded: dict[str, Any] | None,
    window: dict[str, Any] | None,
    now: float,
) -> list[dict[str, Any]]:
    """The rows of the report's timings: the phase_timer callback's (every play, and every host in
    it) when it recorded this run (it wrote its file after the window opened), else the window's own
    phases, each from its start to the next one's (the last to the window's close, or now), for a run
    without the callback (an installed collection run without the project's ansible.cfg); then the
    post-upgrade observation after the window, from its start to its end (or now)."""
    recorded = recorded or {}
    window = window or {}
    opened = window.get("started_at")
    if recorded.get("rows") and (opened is None or float(recorded.get("updated", 0)) >= float(opened)):
        return list(recorded["rows"])
    rows = [
        {"phase": row["phase"], "host": None, "seconds": row["seconds"]}
        for row in phase_timings(window, window.get("closed_at", now))
    ]
    observation = window.get("observation") or {}
    if observation.get("state") in ("running", "ended"):
        end = float(observation.get("ended_at", now))
        rows.append(
            {
                "phase": "observation",
                "host": None,
                "seconds": round(end - float(observation["started_at"]), 1),
            }
        )
    return rows


def report_timeline(
    window: dict[str, Any] | None, ledger: dict[str, Any] | None, now: float
) -> dict[str, Any]:
    """The timeline the report draws: the window (opened, closed, deadline), the observation after
    it, and bars on one time axis - each phase the window started, from its start to the next
    one's (the last to the close, or now), and each host the run ledger saw move in the rollout,
    from its start to its end (or now)."""
    window = window or {}
    if "started_at" not in window:
        return {"window": None, "observation": None, "bars": []}
    closed = window.get("closed_at")
    started = [p for p in window.get("phases", []) if p.get("started")]
    bars = []
    for index, phase in enumerate(started):
        last = index + 1 == len(started)
        end = closed if last else started[index + 1]["at_ts"]
        bars.append(
            {
                "label": phase["phase"],
                "kind": "phase",
                "start": float(phase["at_ts"]),
                "end": float(end if end is not None else now),
                "outcome": "failed" if last and window.get("outcome") == "failed" else "ok",
            }
        )
    hosts = []
    for host, entry in sorted(((ledger or {}).get("hosts") or {}).items()):
        rollout = entry.get("rollout") or {}
        if (
            rollout.get("started") is None
            or str(rollout.get("data", {}).get("moved", "true")).lower() == "false"
        ):
            continue
        done = rollout.get("status") == "done"
        end = rollout.get("finished") if done else None
        hosts.append(
            {
                "label": host,
                "kind": "host",
                "start": float(rollout["started"]),
                "end": float(end if end is not None else (closed or now)),
                "outcome": "ok" if done else "failed",
            }
        )
    observation = window.get("observation") or {}
    return {
        "window": {
            "opened": float(window["started_at"]),
            "closed": closed,
            "deadline": window.get("deadline_at"),
        },
        "observation": (
            {"start": observation["started_at"], "end": observation.get("ended_at")}
            if observation.get("state") in ("running", "ended")
            else None
        ),
        "bars": bars + sorted(hosts, key=lambda bar: bar["start"]),
    }


def report_outcome(
    window: dict[str, Any] | None, validation: dict[str, Any] | None, failure: dict[str, Any] | None = None
) -> dict[str, str]:
    """How the release went, first on the report: failed (a phase inside the window, or the
    observation after it, and why), or succeeded."""
    window = window or {}
    validation = validation or {}
    if failure:
        return {
            "status": "failed",
            "reason": f"{failure.get('host', '')}: {failure.get('message', '')}".strip(": "),
        }
    if window.get("outcome") == "failed":
        return {"status": "failed", "reason": window.get("reason") or "the window closed as failed"}
    if validation and not validation.get("passed", False):
        return {
            "status": "failed",
            "reason": "the post-upgrade observation failed: " + "; ".join(validation.get("failures") or []),
        }
    if not validation.get("gates"):
        return {"status": "succeeded", "reason": "the change is done and checked; no observation has run yet"}
    return {
        "status": "succeeded",
        "reason": "the change is done and checked, and the SLO gates held over the post-upgrade observation",
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "format_gate_value": format_gate_value,
            "url_template": url_template,
            "awx_signoff": awx_signoff,
            "run_timings": run_timings,
            "report_timeline": report_timeline,
            "report_outcome": report_outcome,
        }
