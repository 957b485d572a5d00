# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Filters of the release report: a gate's value as the release note prints it, and the
report's link templates filled in."""

from __future__ import annotations

import string
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_url


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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "format_gate_value": format_gate_value,
            "url_template": url_template,
            "awx_signoff": awx_signoff,
        }
