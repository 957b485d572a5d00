# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""The window an upgrade needs, estimated from what earlier runs measured (playbooks/plan.yml), and
the API batches checked against the hosts that must stay in service."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.module_utils._plan import (
    estimate,
    min_in_service_count,
    rollout_batch_errors,
)


def upgrade_estimate(plans: list[dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """See plugins/filter/upgrade_estimate.yml; the arguments are those of _plan.estimate."""
    try:
        return estimate(plans, *args, **kwargs)
    except (KeyError, ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"upgrade_estimate: cannot estimate from these inputs: {exc}") from exc


def api_batch_errors(total: Any, canary: Any, batch_size: Any, min_in_service: Any) -> list[str]:
    """See plugins/filter/api_batch_errors.yml."""
    try:
        return rollout_batch_errors(int(total), canary, batch_size, min_in_service)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"api_batch_errors: cannot check these batches: {exc}") from exc


def min_in_service(value: Any, total: Any) -> int:
    """See plugins/filter/min_in_service.yml."""
    try:
        return min_in_service_count(value, int(total))
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(
            f"min_in_service: rollout_api_min_in_service={value} is not a number of hosts or a percentage"
        ) from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "upgrade_estimate": upgrade_estimate,
            "api_batch_errors": api_batch_errors,
            "min_in_service": min_in_service,
        }
