"""Settings read from the environment."""

from __future__ import annotations

import pytest
from intelgraph.config import ApiSettings, ConfigError, HardeningSettings, IngestSettings, parse_listen


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:9101", ("127.0.0.1", 9101)),
        (":8080", ("0.0.0.0", 8080)),
        ("[::]:8080", ("::", 8080)),
    ],
)
def test_parse_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["8080", "host:", "host:http", "host:70000"])
def test_parse_listen_rejects(value: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen(value)


def test_api_defaults() -> None:
    settings = ApiSettings.from_env({})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.cache_ttl_seconds == 300
    assert settings.shutdown_grace_seconds == 5.0
    assert settings.common.feature_prefix == "intelgraph:features:"


def test_hardening_defaults_leave_guards_off() -> None:
    settings = HardeningSettings.from_env({})
    assert (settings.rps_limit, settings.rps_burst, settings.residency_mode) == (0, 0, "off")
    assert settings.trace_sampling_ratio == 0.0


def test_hardening_values() -> None:
    env = {
        "RPS_LIMIT": "50",
        "RPS_BURST": "100",
        "TENANT_RESIDENCY_MODE": "Strict",
        "TRACE_SAMPLING_RATIO": "0.1",
    }
    settings = HardeningSettings.from_env(env)
    assert (settings.rps_limit, settings.rps_burst, settings.residency_mode) == (50, 100, "strict")
    assert settings.trace_sampling_ratio == 0.1
    assert HardeningSettings.from_env({"RPS_LIMIT": "7"}).rps_burst == 7


@pytest.mark.parametrize(
    "env",
    [
        {"RPS_LIMIT": "-1"},
        {"RPS_LIMIT": "ten"},
        {"RPS_LIMIT": "50", "RPS_BURST": "10"},
        {"TENANT_RESIDENCY_MODE": "enforce"},
        {"TRACE_SAMPLING_RATIO": "1.5"},
        {"TRACE_SAMPLING_RATIO": "x"},
    ],
)
def test_hardening_rejects(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        HardeningSettings.from_env(env)


def test_ingest_settings() -> None:
    settings = IngestSettings.from_env({"INGEST_CONSUMER": "w1", "INGEST_MAX_DELIVERIES": "3"})
    assert (settings.stream, settings.group, settings.dlq_stream) == (
        "intelgraph:ingest",
        "ingest-workers",
        "intelgraph:ingest:dlq",
    )
    assert (settings.consumer, settings.max_deliveries, settings.claim_idle_ms) == ("w1", 3, 15000)
    assert (settings.host, settings.port) == ("0.0.0.0", 9101)
    with pytest.raises(ConfigError):
        IngestSettings.from_env({"INGEST_MAX_DELIVERIES": "0"})
