# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Filters that turn two samples of counters into the release's operational ratios."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.module_utils._slo import describe
from ansible_collections.intelgraph.ops.plugins.module_utils._slo import dlq_growth as _dlq_growth
from ansible_collections.intelgraph.ops.plugins.module_utils._slo import hit_ratio as _hit_ratio


def hit_ratio(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        return _hit_ratio(before, after)
    except (KeyError, ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"hit_ratio: the samples do not match: {exc}") from exc


def dlq_growth(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    try:
        return _dlq_growth(before, after)
    except (KeyError, ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"dlq_growth: the samples do not match: {exc}") from exc


def describe_gate(result: dict[str, Any]) -> str:
    try:
        return describe(result)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(
            f"describe_gate: not a gate result of intelgraph.ops.slo_gate: {exc}"
        ) from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hit_ratio": hit_ratio, "dlq_growth": dlq_growth, "describe_gate": describe_gate}
