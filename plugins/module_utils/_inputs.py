# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers: the checks of the upgrade's inputs, each failure naming the variable and
the value it holds, so that a bad input stops the run before anything changes."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_text, redact_url

# Matched whole (re.fullmatch): "24.1.0\n" is not a version, nor a URL with a newline a URL.
VERSION = re.compile(r"\d+\.\d+\.\d+")
URL = re.compile(r"https?://[^\s/?#@]+(:\d+)?([/?#]\S*)?", re.IGNORECASE)
# The longest maintenance window the checks accept, in minutes: a longer one would let every
# budget check pass.
WINDOW_MINUTES_MAX = 240
RESIDENCY_MODES = ("off", "permissive", "strict")
RUNTIMES = ("systemd", "docker")
BOOLEANS = {"true", "false", "yes", "no", "on", "off", "1", "0"}
# Inputs whose value is a secret, never shown; and URLs, shown without their path (chat
# webhooks carry their token in it). Any other value is shown with the URLs in it redacted
# (no `user:password@`, no token in a query string).
SECRET = ("intelgraph_window_webhook_token",)
URLS = ("intelgraph_window_webhook_url",)


def shown(name: str, value: Any) -> str:
    """`name=value` as an error message shows it."""
    if name in SECRET:
        return f"{name}=(hidden)"
    if name in URLS and isinstance(value, str):
        return f"{name}={redact_url(value, keep_path=False)}"
    if isinstance(value, str) and (value != value.strip() or "\n" in value):
        # Spaces or line breaks that are part of the value: quoted, so that they can be seen.
        return f"{name}={redact_text(repr(value))}"
    return f"{name}={redact_text(str(value))}"


def padded(value: Any) -> bool:
    """A string with spaces or line breaks around it: written so, it would be written so into
    the env files too."""
    return isinstance(value, str) and value != value.strip()


def as_int(value: Any) -> int | None:
    """An integer input as written in YAML (int) or on the command line (digits, nothing
    around them)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and not padded(value):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def positive_int(what: str, high: int | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        number = as_int(value)
        if high is not None and (number is None or not 0 < number <= high):
            return f"{what} must be an integer from 1 to {high}"
        if number is None or number <= 0:
            return f"{what} must be a positive integer"
        return None

    return check


def number_between(what: str, low: float, high: float | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        number = as_number(value)
        if number is None or number < low or (high is not None and number > high):
            span = f"from {low:g} to {high:g}" if high is not None else f"{low:g} or more"
            return f"{what} must be a number {span}"
        return None

    return check


def version(value: Any) -> str | None:
    if not isinstance(value, str) or not VERSION.fullmatch(value):
        return "must be a version MAJOR.MINOR.PATCH, such as 24.1.0"
    return None


def residency_mode(value: Any) -> str | None:
    if isinstance(value, bool):
        return (
            f"TENANT_RESIDENCY_MODE must be one of {', '.join(RESIDENCY_MODES)}; in YAML write 'off' "
            "in quotes, unquoted it reads as false"
        )
    if value not in RESIDENCY_MODES:
        return f"TENANT_RESIDENCY_MODE must be one of {', '.join(RESIDENCY_MODES)}"
    return None


def webhook_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not URL.fullmatch(value):
        return "must be empty (announcements only logged) or an http:// or https:// URL with a host"
    return None


def webhook_token(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or any(ch in value for ch in "\r\n"):
        return "must be one line of text (it is sent in an HTTP header)"
    return None


def deadline(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        if padded(value):
            raise ValueError(value)
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return "must be empty or an ISO 8601 time with a time zone, such as 2026-11-27T19:15:00Z"
    if moment.tzinfo is None:
        return "needs a time zone (Z or an offset such as +01:00)"
    return None


def links(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(v, str) and URL.fullmatch(v) for v in value.values()
    ):
        return "must map names to http:// or https:// URLs"
    return None


def phase_seconds(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must map phase names (precheck, config, migrate, rollout, backfill, verify) to seconds"
    bad = sorted(str(k) for k, v in value.items() if (n := as_number(v)) is None or n < 0)
    if bad:
        return f"must give every phase a number of seconds, 0 or more (not so for: {', '.join(bad)})"
    return None


def runtime(value: Any) -> str | None:
    return None if value in RUNTIMES else f"must be one of {', '.join(RUNTIMES)}"


def boolean(value: Any) -> str | None:
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in BOOLEANS):
        return None
    return "must be true or false"


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "intelgraph_previous_version": version,
    "intelgraph_target_version": version,
    "intelgraph_rps_limit": positive_int("RPS_LIMIT"),
    "intelgraph_rps_burst": positive_int("RPS_BURST"),
    "intelgraph_tenant_residency_mode": residency_mode,
    "intelgraph_cache_ttl_seconds": positive_int("CACHE_TTL_SECONDS"),
    "intelgraph_trace_sampling_ratio": number_between("TRACE_SAMPLING_RATIO", 0.0, 1.0),
    "intelgraph_window_minutes": positive_int("the window length in minutes", WINDOW_MINUTES_MAX),
    "intelgraph_restore_point_keep": positive_int("the number of restore points to keep"),
    "intelgraph_window_deadline": deadline,
    "intelgraph_window_webhook_url": webhook_url,
    "intelgraph_window_webhook_token": webhook_token,
    "intelgraph_window_links": links,
    "intelgraph_phase_seconds": phase_seconds,
    "intelgraph_plan_batch_seconds": number_between("the estimate's seconds for a rollout batch", 0.0),
    "intelgraph_plan_host_seconds": number_between("the estimate's seconds for each host to change", 0.0),
    "intelgraph_traffic_max_rps": number_between("the request rate ceiling", 0.0),
    "intelgraph_traffic_force": boolean,
    "intelgraph_runtime": runtime,
}

# Ranges the rollout role's argument spec cannot say (its types it checks itself), applied by
# option_errors to the values the inventory or the command line give.
OPTION_RANGES: dict[str, Callable[[Any], str | None]] = {
    "rollout_canary_bake": number_between("the canary's bake (seconds)", 0.0),
    "rollout_canary_max_ratio": number_between("the canary's p95 limit (times the previous release's)", 1.0),
    "rollout_canary_max_error_delta": number_between(
        "the canary's error rate limit (above the previous release's)", 0.0, 1.0
    ),
    "rollout_canary_min_p95": number_between("the p95 under which values count as equal (seconds)", 0.0),
}


def input_errors(values: dict[str, Any]) -> list[str]:
    """Every problem with the inputs given (only those present are checked), each as
    `name=value: what it must be`. Empty when all is well."""
    errors = []
    for name, check in CHECKS.items():
        if name not in values:
            continue
        problem = check(values[name])
        if problem:
            errors.append(f"{shown(name, values[name])}: {problem}")
    limit = as_int(values.get("intelgraph_rps_limit"))
    burst = as_int(values.get("intelgraph_rps_burst"))
    if limit is not None and burst is not None and limit > 0 and burst > 0 and burst < limit:
        errors.append(
            f"intelgraph_rps_burst={values['intelgraph_rps_burst']}: RPS_BURST must be at least "
            f"RPS_LIMIT (intelgraph_rps_limit={values['intelgraph_rps_limit']})"
        )
    registry = values.get("intelgraph_registry")
    if (
        values.get("intelgraph_runtime") == "docker"
        and "intelgraph_registry" in values
        and not str(registry).strip()
    ):
        errors.append(
            f"{shown('intelgraph_registry', registry)}: a host of the docker runtime needs the registry "
            "of the intelgraph-server images"
        )
    return errors


def option_errors(options: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Every problem with `values` (variables by name) against `options`, the options of a role's
    argument spec (meta/argument_specs.yml): one per variable, naming it and its value (hidden
    for a no_log option), then why, as the role's own check would say. A variable the spec does
    not define is not checked."""
    errors = []
    for name, value in values.items():
        spec = options.get(name)
        if not isinstance(spec, dict):
            continue
        result = ArgumentSpecValidator({name: spec}).validate({name: value})
        if not result.error_messages:
            problem = OPTION_RANGES[name](value) if name in OPTION_RANGES else None
            if problem:
                errors.append(f"{shown(name, value)}: {problem}")
            continue
        if spec.get("no_log"):
            # The validator's messages quote the value: a secret's problem is said without them.
            errors.append(f"{name}=(hidden): not a valid {spec.get('type', 'str')} value")
        else:
            errors.append(f"{shown(name, value)}: {redact_text('; '.join(result.error_messages))}")
    return errors


def host_input_errors(
    values_by_host: dict[str, dict[str, Any]],
    check: Callable[[dict[str, Any]], list[str]] = input_errors,
) -> list[str]:
    """Every problem `check` (by default input_errors) finds with the inputs of each host,
    checked from that host's own values: each problem once, followed by the hosts that have it,
    or by `every host` when all of them do (`intelgraph_rps_limit=0: RPS_LIMIT must be ...
    (api2)`). Empty when all is well."""
    hosts_of: dict[str, list[str]] = {}
    for host, values in values_by_host.items():
        for error in check(values):
            hosts_of.setdefault(error, []).append(host)
    every = len(values_by_host) > 1
    return [
        f"{error} ({'every host' if every and len(hosts) == len(values_by_host) else ', '.join(hosts)})"
        for error, hosts in hosts_of.items()
    ]
