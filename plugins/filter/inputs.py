# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Filters checking the upgrade's inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleError, AnsibleFilterError
from ansible_collections.intelgraph.ops.plugins.module_utils._cache_restore import prefix_errors
from ansible_collections.intelgraph.ops.plugins.module_utils._inputs import (
    host_input_errors as _host_input_errors,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._inputs import (
    input_errors as _input_errors,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._inputs import (
    option_errors as _option_errors,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_text


def host_values(hostvars: Mapping[str, Any], host: str, values: dict[str, Any]) -> dict[str, Any]:
    """The inputs as `host` has them: each variable its inventory, the command line or its
    facts define for it (hostvars), else the value given (the play's, e.g. a role default)."""
    own = hostvars[host]
    found = {}
    for name, value in values.items():
        try:
            found[name] = own.get(name, value)
        except AnsibleError as exc:
            reason = redact_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise AnsibleFilterError(f"{host}: {name} cannot be evaluated: {reason}") from None
    return found


def input_errors(values: Any, hostvars: Mapping[str, Any] | None = None, hosts: Any = None) -> list[str]:
    """Every problem with the inputs given, each naming the variable and its value. Given
    hostvars and hosts, the inputs of each of those hosts, from its own variables, each
    problem naming the hosts that have it."""
    if not isinstance(values, dict):
        raise AnsibleFilterError(f"input_errors expects a dict of variables, got {type(values).__name__}")
    if hosts is None:
        return _input_errors(dict(values))
    if hostvars is None or isinstance(hosts, (str, bytes)):
        raise AnsibleFilterError("input_errors takes hostvars and a list of hosts together")
    return _host_input_errors({host: host_values(hostvars, host, dict(values)) for host in hosts})


def option_errors(options: Any, hostvars: Any, hosts: Any) -> list[str]:
    """Every problem with the variables each of `hosts` defines (its inventory, the command
    line, its facts) that `options`, the options of a role's argument spec, describe: checked
    against that spec before the role runs, each problem naming the variable, its value and the
    hosts that have it."""
    if not isinstance(options, Mapping):
        raise AnsibleFilterError(
            f"option_errors expects a role's argument spec options, got {type(options).__name__}"
        )
    if not isinstance(hostvars, Mapping) or isinstance(hosts, (str, bytes)) or not isinstance(hosts, list):
        raise AnsibleFilterError("option_errors takes hostvars and a list of hosts")
    missing = object()
    values_by_host = {}
    for host in hosts:
        values = host_values(hostvars, host, dict.fromkeys(options, missing))
        values_by_host[host] = {name: value for name, value in values.items() if value is not missing}
    return _host_input_errors(values_by_host, lambda values: _option_errors(dict(options), values))


def cache_prefix_errors(prefix: Any, protected: Any = None) -> list[str]:
    """Why `prefix` cannot name the cache keys of a rollback (redis_cache_restore's own check,
    made before anything changes): each problem names the prefix and the key it would touch."""
    if not isinstance(prefix, str):
        raise AnsibleFilterError(f"cache_prefix_errors expects a string, got {type(prefix).__name__}")
    if protected is not None and (isinstance(protected, (str, bytes)) or not isinstance(protected, list)):
        raise AnsibleFilterError("cache_prefix_errors expects a list of protected keys and prefixes")
    return prefix_errors(prefix, [str(name) for name in protected or []])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "input_errors": input_errors,
            "option_errors": option_errors,
            "cache_prefix_errors": cache_prefix_errors,
        }
