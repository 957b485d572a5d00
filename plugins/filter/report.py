# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Filters of the release report: a gate's value as the release note prints it, the report's
link templates filled in, and the run's phase timings."""

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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "format_gate_value": format_gate_value,
            "url_template": url_template,
            "awx_signoff": awx_signoff,
            "run_timings": run_timings,
        }
