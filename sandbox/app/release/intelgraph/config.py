"""Settings read from the environment (systemd ``EnvironmentFile=``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

RESIDENCY_MODES = ("off", "permissive", "strict")


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def parse_listen(value: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::]:port`` for IPv6) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen address must be host:port, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value if value else default


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class CommonSettings:
    """Settings every process uses."""

    redis_url: str
    database_url: str
    feature_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CommonSettings:
        """Read the shared settings."""
        return cls(
            redis_url=_get(env, "REDIS_URL", "redis://localhost:6379/0"),
            database_url=_get(env, "DATABASE_URL", "postgresql://intelgraph@localhost:5432/intelgraph"),
            feature_prefix=_get(env, "FEATURE_TOGGLE_PREFIX", "intelgraph:features:"),
        )


@dataclass(frozen=True)
class HardeningSettings:
    """v24.1 settings: rate limiter, residency guard, trace sampling."""

    rps_limit: int
    rps_burst: int
    residency_mode: str
    trace_sampling_ratio: float
    slow_host: str = ""
    """Sandbox only: the API on the host of this name answers SLOW_HOST_SECONDS later (a bad canary)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> HardeningSettings:
        """Read and check the v24.1 settings.

        ``RPS_LIMIT`` of 0 (the default) leaves the limiter off; ``RPS_BURST``
        defaults to ``RPS_LIMIT`` and may not be smaller than it.
        """
        limit = _int(env, "RPS_LIMIT", 0)
        burst = _int(env, "RPS_BURST", limit)
        if limit and burst < limit:
            raise ConfigError(f"RPS_BURST ({burst}) must be >= RPS_LIMIT ({limit})")
        mode = _get(env, "TENANT_RESIDENCY_MODE", "off").lower()
        if mode not in RESIDENCY_MODES:
            raise ConfigError(
                f"TENANT_RESIDENCY_MODE must be one of {', '.join(RESIDENCY_MODES)}, got {mode!r}"
            )
        ratio = _float(env, "TRACE_SAMPLING_RATIO", 0.0, 0.0, 1.0)
        return cls(
            rps_limit=limit,
            rps_burst=burst,
            residency_mode=mode,
            trace_sampling_ratio=ratio,
            slow_host=_get(env, "SANDBOX_SLOW_HOST", "").strip(),
        )


@dataclass(frozen=True)
class ApiSettings:
    """Settings of the API server."""

    common: CommonSettings
    host: str
    port: int
    cache_ttl_seconds: int
    shutdown_grace_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ApiSettings:
        """Read the API settings."""
        host, port = parse_listen(_get(env, "INTELGRAPH_LISTEN", "0.0.0.0:8080"))
        return cls(
            common=CommonSettings.from_env(env),
            host=host,
            port=port,
            cache_ttl_seconds=_int(env, "CACHE_TTL_SECONDS", 300, minimum=1),
            shutdown_grace_seconds=_float(env, "SHUTDOWN_GRACE_SECONDS", 5.0, 0.0, 3600.0),
        )


@dataclass(frozen=True)
class IngestSettings:
    """Settings of the ingest worker."""

    common: CommonSettings
    host: str
    port: int
    stream: str
    group: str
    dlq_stream: str
    consumer: str
    max_deliveries: int
    claim_idle_ms: int
    trace_sampling_ratio: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestSettings:
        """Read the ingest worker settings."""
        host, port = parse_listen(_get(env, "INGEST_METRICS_LISTEN", "0.0.0.0:9101"))
        return cls(
            common=CommonSettings.from_env(env),
            host=host,
            port=port,
            stream=_get(env, "INGEST_STREAM", "intelgraph:ingest"),
            group=_get(env, "INGEST_GROUP", "ingest-workers"),
            dlq_stream=_get(env, "INGEST_DLQ_STREAM", "intelgraph:ingest:dlq"),
            consumer=_get(env, "INGEST_CONSUMER", socket.gethostname()),
            max_deliveries=_int(env, "INGEST_MAX_DELIVERIES", 5, minimum=1),
            claim_idle_ms=_int(env, "INGEST_CLAIM_IDLE_MS", 15000, minimum=100),
            trace_sampling_ratio=_float(env, "TRACE_SAMPLING_RATIO", 0.0, 0.0, 1.0),
        )
