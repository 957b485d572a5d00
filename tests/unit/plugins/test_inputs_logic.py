"""intelgraph.ops input checks: a bad input names the variable and its value."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.intelgraph.ops.plugins.filter.inputs import input_errors as input_errors_filter
from ansible_collections.intelgraph.ops.plugins.filter.inputs import option_errors as option_errors_filter
from ansible_collections.intelgraph.ops.plugins.module_utils._inputs import input_errors

ROOT = Path(__file__).resolve().parents[3]
GOOD: dict[str, Any] = {
    "intelgraph_previous_version": "24.0.0",
    "intelgraph_target_version": "24.1.0",
    "intelgraph_rps_limit": 100,
    "intelgraph_rps_burst": 200,
    "intelgraph_tenant_residency_mode": "strict",
    "intelgraph_cache_ttl_seconds": 300,
    "intelgraph_trace_sampling_ratio": 0.1,
    "intelgraph_window_minutes": 15,
    "intelgraph_restore_point_keep": 5,
    "intelgraph_window_deadline": "",
    "intelgraph_window_webhook_url": "",
    "intelgraph_window_webhook_token": "",
    "intelgraph_window_links": {},
    "intelgraph_phase_seconds": {"precheck": 60, "config": 60, "migrate": 120, "rollout": 300, "verify": 240},
    "intelgraph_traffic_max_rps": 200,
    "intelgraph_traffic_force": False,
    "intelgraph_runtime": "systemd",
    "intelgraph_registry": "",
}


def errors_with(**changes: Any) -> list[str]:
    return input_errors(dict(GOOD, **changes))


def test_the_defaults_are_good() -> None:
    assert input_errors(GOOD) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"intelgraph_rps_limit": "abc"}, "intelgraph_rps_limit=abc: RPS_LIMIT must be a positive integer"),
        ({"intelgraph_rps_limit": 0}, "intelgraph_rps_limit=0: RPS_LIMIT must be a positive integer"),
        ({"intelgraph_rps_limit": -5}, "intelgraph_rps_limit=-5: RPS_LIMIT must be a positive integer"),
        ({"intelgraph_rps_limit": 1.5}, "intelgraph_rps_limit=1.5: RPS_LIMIT must be a positive integer"),
        ({"intelgraph_rps_limit": True}, "intelgraph_rps_limit=True: RPS_LIMIT must be a positive integer"),
        ({"intelgraph_rps_burst": "x"}, "intelgraph_rps_burst=x: RPS_BURST must be a positive integer"),
        (
            {"intelgraph_rps_limit": 100, "intelgraph_rps_burst": 50},
            "intelgraph_rps_burst=50: RPS_BURST must be at least RPS_LIMIT (intelgraph_rps_limit=100)",
        ),
        (
            {"intelgraph_tenant_residency_mode": "strcit"},
            "intelgraph_tenant_residency_mode=strcit: TENANT_RESIDENCY_MODE must be one of off, permissive,",
        ),
        ({"intelgraph_tenant_residency_mode": False}, "in YAML write 'off' in quotes"),
        (
            {"intelgraph_target_version": "24.1"},
            "intelgraph_target_version=24.1: must be a version MAJOR.MINOR.PATCH",
        ),
        (
            {"intelgraph_previous_version": "v24.0.0"},
            "intelgraph_previous_version=v24.0.0: must be a version",
        ),
        ({"intelgraph_cache_ttl_seconds": "0"}, "intelgraph_cache_ttl_seconds=0: CACHE_TTL_SECONDS must be"),
        (
            {"intelgraph_trace_sampling_ratio": 1.5},
            "intelgraph_trace_sampling_ratio=1.5: TRACE_SAMPLING_RATIO",
        ),
        (
            {"intelgraph_trace_sampling_ratio": "nan"},
            "intelgraph_trace_sampling_ratio=nan: TRACE_SAMPLING_RATIO",
        ),
        ({"intelgraph_window_minutes": "quarter"}, "intelgraph_window_minutes=quarter: the window length"),
        (
            {"intelgraph_window_deadline": "19:15"},
            "intelgraph_window_deadline=19:15: must be empty or an ISO",
        ),
        ({"intelgraph_window_deadline": "2026-11-27T19:15:00"}, "needs a time zone"),
        (
            {"intelgraph_window_webhook_url": "ftp://hooks.example.net/T0/B1/secret"},
            "intelgraph_window_webhook_url=ftp://hooks.example.net/…: must be empty",
        ),
        ({"intelgraph_window_links": {"dash": "grafana"}}, "intelgraph_window_links={'dash': 'grafana'}"),
        ({"intelgraph_phase_seconds": {"config": -1}}, "(not so for: config)"),
        ({"intelgraph_phase_seconds": [60]}, "intelgraph_phase_seconds=[60]: must map phase names"),
        (
            {"intelgraph_plan_batch_seconds": -5},
            "intelgraph_plan_batch_seconds=-5: the estimate's seconds for a rollout batch must be a number 0 or more",
        ),
        (
            {"intelgraph_plan_host_seconds": "fast"},
            "intelgraph_plan_host_seconds=fast: the estimate's seconds for each host to change must be a number",
        ),
        ({"intelgraph_traffic_max_rps": "lots"}, "intelgraph_traffic_max_rps=lots: the request rate ceiling"),
        ({"intelgraph_traffic_force": "maybe"}, "intelgraph_traffic_force=maybe: must be true or false"),
        # Written whole or not at all: spaces or a line break around a value are refused, and
        # shown quoted so that they can be seen.
        (
            {"intelgraph_rps_limit": " 100 "},
            "intelgraph_rps_limit=' 100 ': RPS_LIMIT must be a positive integer",
        ),
        (
            {"intelgraph_cache_ttl_seconds": "300\n"},
            "intelgraph_cache_ttl_seconds='300\\n': CACHE_TTL_SECONDS",
        ),
        (
            {"intelgraph_target_version": "24.1.0\n"},
            "intelgraph_target_version='24.1.0\\n': must be a version",
        ),
        (
            {"intelgraph_trace_sampling_ratio": " 0.5"},
            "intelgraph_trace_sampling_ratio=' 0.5': TRACE_SAMPLING",
        ),
        ({"intelgraph_traffic_force": "true "}, "intelgraph_traffic_force='true ': must be true or false"),
        ({"intelgraph_window_deadline": "2026-11-27T19:15:00Z\n"}, "must be empty or an ISO 8601 time"),
        (
            {"intelgraph_window_webhook_url": "https://hooks.example.net/services/T0\n"},
            "intelgraph_window_webhook_url=https://hooks.example.net/…: must be empty",
        ),
        (
            {"intelgraph_window_links": {"dash": "https://grafana.example.net/d\n"}},
            "must map names to http://",
        ),
        # A window longer than four hours would let every budget check pass.
        (
            {"intelgraph_window_minutes": 10000},
            "intelgraph_window_minutes=10000: the window length in minutes must be an integer from 1 to 240",
        ),
        (
            {"intelgraph_window_minutes": 0},
            "intelgraph_window_minutes=0: the window length in minutes must be",
        ),
        # Keeping no restore point would delete the one a rollback needs.
        (
            {"intelgraph_restore_point_keep": 0},
            "intelgraph_restore_point_keep=0: the number of restore points to keep must be a positive integer",
        ),
    ],
)
def test_each_bad_input_is_named_with_its_value(changes: dict[str, Any], expected: str) -> None:
    errors = errors_with(**changes)
    assert len(errors) == 1, errors
    assert expected in errors[0]


@pytest.mark.parametrize(
    "changes",
    [
        {"intelgraph_rps_limit": "100", "intelgraph_rps_burst": "100"},  # from the command line
        {"intelgraph_tenant_residency_mode": "off"},
        {"intelgraph_tenant_residency_mode": "permissive"},
        {"intelgraph_trace_sampling_ratio": "0"},
        {"intelgraph_window_minutes": "1"},
        {"intelgraph_window_minutes": 240},
        {"intelgraph_plan_batch_seconds": "3.3", "intelgraph_plan_host_seconds": 0},
        {"intelgraph_window_deadline": "2026-11-27T19:15:00+01:00"},
        {"intelgraph_window_webhook_url": "https://hooks.example.net/services/T0"},
        {"intelgraph_window_links": {"dashboard": "https://grafana.example.net/d/ig"}},
        {"intelgraph_phase_seconds": {"config": "0", "migrate": 1.5}},
        {"intelgraph_traffic_max_rps": "0.5", "intelgraph_traffic_force": "true"},
    ],
)
def test_good_inputs_in_their_other_forms(changes: dict[str, Any]) -> None:
    assert errors_with(**changes) == []


def test_every_problem_is_reported_at_once() -> None:
    errors = errors_with(intelgraph_rps_limit="abc", intelgraph_tenant_residency_mode="strcit")
    assert [e.split("=")[0] for e in errors] == ["intelgraph_rps_limit", "intelgraph_tenant_residency_mode"]


def test_burst_is_compared_only_when_both_are_numbers() -> None:
    assert len(errors_with(intelgraph_rps_limit="abc", intelgraph_rps_burst=1)) == 1


def test_the_webhook_token_is_never_shown() -> None:
    errors = errors_with(intelgraph_window_webhook_token="line1\nline2-s3cret")
    assert errors == [
        "intelgraph_window_webhook_token=(hidden): must be one line of text (it is sent in an HTTP header)"
    ]


def test_only_the_inputs_given_are_checked() -> None:
    assert input_errors({"intelgraph_rps_limit": 5}) == []


def test_the_filter_refuses_anything_but_a_dict() -> None:
    from ansible.errors import AnsibleFilterError

    assert input_errors_filter({"intelgraph_rps_limit": "abc"}) == [
        "intelgraph_rps_limit=abc: RPS_LIMIT must be a positive integer"
    ]
    with pytest.raises(AnsibleFilterError):
        input_errors_filter(["intelgraph_rps_limit"])


# --- every host from its own variables ---------------------------------------------------------


class HostVars(Mapping):
    """hostvars as a filter sees it: each host's own variables, templated when read; reading
    one that cannot be templated raises."""

    def __init__(self, hosts: dict[str, dict[str, Any]]) -> None:
        self.hosts = hosts

    def __getitem__(self, host: str) -> Mapping[str, Any]:
        return Vars(self.hosts[host])

    def __iter__(self) -> Iterator[str]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)


class Vars(HostVars):
    def __getitem__(self, name: str) -> Any:
        value = self.hosts[name]
        if isinstance(value, Exception):
            raise value
        return value


FLEET = ["localhost", "lb1", "api1", "api2", "ingest1"]


def fleet_errors(**own: dict[str, Any]) -> list[str]:
    hostvars = HostVars({host: own.get(host, {}) for host in FLEET})
    return input_errors_filter(GOOD, hostvars, FLEET)


def test_a_value_only_one_host_has_is_found_and_named_with_its_host() -> None:
    assert fleet_errors() == []
    assert fleet_errors(
        api2={"intelgraph_rps_limit": 0}, ingest1={"intelgraph_tenant_residency_mode": "bogus"}
    ) == [
        "intelgraph_rps_limit=0: RPS_LIMIT must be a positive integer (api2)",
        "intelgraph_tenant_residency_mode=bogus: TENANT_RESIDENCY_MODE must be one of off, permissive, strict "
        "(ingest1)",
    ]
    # A value that is good only together with another (the burst) is checked with the host's own.
    assert fleet_errors(api1={"intelgraph_rps_burst": 50}) == [
        "intelgraph_rps_burst=50: RPS_BURST must be at least RPS_LIMIT (intelgraph_rps_limit=100) (api1)"
    ]


def test_a_value_every_host_has_is_named_once_for_every_host() -> None:
    bad = {"intelgraph_window_minutes": 10000}
    assert fleet_errors(**{host: bad for host in FLEET}) == [
        "intelgraph_window_minutes=10000: the window length in minutes must be an integer from 1 to 240 (every host)"
    ]
    assert fleet_errors(api1=bad, api2=bad) == [
        "intelgraph_window_minutes=10000: the window length in minutes must be an integer from 1 to 240 (api1, api2)"
    ]


def test_how_a_host_runs_intelgraph_is_an_input_of_that_host() -> None:
    assert fleet_errors(api1={"intelgraph_runtime": "podman"}) == [
        "intelgraph_runtime=podman: must be one of systemd, docker (api1)"
    ]
    assert fleet_errors(api2={"intelgraph_runtime": "docker"}) == [
        "intelgraph_registry=: a host of the docker runtime needs the registry of the intelgraph-server images (api2)"
    ]
    assert (
        fleet_errors(api2={"intelgraph_runtime": "docker", "intelgraph_registry": "registry.example"}) == []
    )


def test_a_host_variable_that_cannot_be_evaluated_is_named_with_its_host() -> None:
    from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable

    undefined = AnsibleUndefinedVariable("'base_limit' is undefined")
    with pytest.raises(
        AnsibleFilterError, match="api2: intelgraph_rps_limit cannot be evaluated: 'base_limit' is"
    ):
        fleet_errors(api2={"intelgraph_rps_limit": undefined})
    with pytest.raises(AnsibleFilterError, match="hostvars and a list of hosts together"):
        input_errors_filter(GOOD, None, FLEET)


# --- a role's options on every host, against its argument spec ---------------------------------

ROLLOUT_OPTIONS = yaml.safe_load((ROOT / "roles/rollout/meta/argument_specs.yml").read_text())[
    "argument_specs"
]["api"]["options"]
MOVED = ["api1", "api2", "api3", "ingest1"]


def rollout_errors(**own: dict[str, Any]) -> list[str]:
    return option_errors_filter(ROLLOUT_OPTIONS, HostVars({host: own.get(host, {}) for host in MOVED}), MOVED)


def test_a_rollout_option_only_one_host_has_is_checked_against_the_role_s_spec() -> None:
    assert rollout_errors() == []
    assert rollout_errors(api3={"rollout_drain_timeout": "30", "rollout_api_order": "sorted"}) == []
    assert rollout_errors(api3={"rollout_drain_timeout": "soon"}) == [
        "rollout_drain_timeout=soon: argument 'rollout_drain_timeout' is of type str and we were unable to "
        "convert to int: \"'soon'\" cannot be converted to an int (api3)"
    ]
    assert rollout_errors(**{host: {"rollout_ingest_order": "random"} for host in MOVED}) == [
        "rollout_ingest_order=random: value of rollout_ingest_order must be one of: inventory, "
        "reverse_inventory, sorted, reverse_sorted, shuffle, got: random (every host)"
    ]


def test_the_canary_s_limits_are_checked_in_range_on_every_host() -> None:
    assert rollout_errors(api1={"rollout_canary_bake": "0", "rollout_canary_max_ratio": 1.2}) == []
    assert rollout_errors(
        api2={"rollout_canary_bake": -5, "rollout_canary_max_ratio": 0.5},
        api3={"rollout_canary_max_error_delta": 2, "rollout_canary_min_p95": "-0.1"},
    ) == [
        "rollout_canary_bake=-5: the canary's bake (seconds) must be a number 0 or more (api2)",
        "rollout_canary_max_ratio=0.5: the canary's p95 limit (times the previous release's) must be "
        "a number 1 or more (api2)",
        "rollout_canary_max_error_delta=2: the canary's error rate limit (above the previous release's) must be "
        "a number from 0 to 1 (api3)",
        "rollout_canary_min_p95=-0.1: the p95 under which values count as equal (seconds) must be a number "
        "0 or more (api3)",
    ]


def test_a_variable_the_spec_does_not_describe_or_no_host_sets_is_not_checked() -> None:
    assert rollout_errors(api1={"rollout_bogus": "x", "intelgraph_rps_limit": "abc"}) == []


def test_a_no_log_option_is_named_without_its_value() -> None:
    secret = "s3cret-value"
    spec = dict(ROLLOUT_OPTIONS, rollout_redis_password={"type": "int", "no_log": True})
    errors = option_errors_filter(spec, HostVars({"api1": {"rollout_redis_password": secret}}), ["api1"])
    assert errors == ["rollout_redis_password=(hidden): not a valid int value (api1)"]


def test_the_option_filter_refuses_what_is_not_a_spec_or_a_host_list() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="argument spec options"):
        option_errors_filter(["rollout_drain_timeout"], HostVars({}), [])
    with pytest.raises(AnsibleFilterError, match="hostvars and a list of hosts"):
        option_errors_filter(ROLLOUT_OPTIONS, HostVars({}), "api1")
