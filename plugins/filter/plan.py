# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""The window an upgrade needs, estimated from what earlier runs measured (playbooks/plan.yml)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.module_utils._plan import estimate


def upgrade_estimate(plans: list[dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """See plugins/filter/upgrade_estimate.yml; the arguments are those of _plan.estimate."""
    try:
        return estimate(plans, *args, **kwargs)
    except (KeyError, ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"upgrade_estimate: cannot estimate from these inputs: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"upgrade_estimate": upgrade_estimate}
