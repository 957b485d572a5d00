# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Filters checking the upgrade's inputs."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.module_utils._inputs import input_errors as _input_errors


def input_errors(values: Any) -> list[str]:
    """Every problem with the inputs given, each naming the variable and its value."""
    if not isinstance(values, dict):
        raise AnsibleFilterError(f"input_errors expects a dict of variables, got {type(values).__name__}")
    return _input_errors(dict(values))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"input_errors": input_errors}
