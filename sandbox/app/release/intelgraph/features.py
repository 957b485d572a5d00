"""Feature toggles kept in Redis under one key prefix."""

from __future__ import annotations

import threading
import time

import redis

DEFAULT_TOGGLES: dict[str, str] = {"residency_guard": "on", "rps_limiter": "on"}
"""Toggles that v24.1 creates on its first start when they are absent."""

OFF_VALUES = frozenset({"off", "0", "false", "disabled"})


def toggle_enabled(value: str | None) -> bool:
    """A toggle is on unless it holds an explicit off value; an absent toggle is on."""
    return value is None or value.strip().lower() not in OFF_VALUES


class FeatureToggles:
    """Reads the toggles under ``prefix``; requests consult the copy a background loop refreshes."""

    def __init__(self, client: redis.Redis, prefix: str, refresh_seconds: float = 5.0) -> None:
        self.client = client
        self.prefix = prefix
        self.refresh_seconds = refresh_seconds
        self._cache: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def read(self) -> dict[str, str]:
        """Read every toggle from Redis now (name without prefix -> value)."""
        keys = sorted(self.client.scan_iter(match=self.prefix + "*", count=100))
        values = self.client.mget(keys) if keys else []
        toggles = {
            key[len(self.prefix) :]: value
            for key, value in zip(keys, values, strict=False)
            if value is not None
        }
        with self._lock:
            self._cache = toggles
            self._loaded_at = time.monotonic()
        return dict(toggles)

    def cached(self) -> dict[str, str]:
        """The toggles as last read by :meth:`read` (never touches Redis)."""
        with self._lock:
            return dict(self._cache)

    def enabled(self, name: str) -> bool:
        """Whether toggle ``name`` is on in the cached copy (absent counts as on)."""
        return toggle_enabled(self.cached().get(name))

    def ensure_defaults(self, defaults: dict[str, str] = DEFAULT_TOGGLES) -> list[str]:
        """Create the absent toggles of ``defaults`` (SETNX); return the names created."""
        created = [
            name for name, value in sorted(defaults.items()) if self.client.setnx(self.prefix + name, value)
        ]
        self._loaded_at = float("-inf")
        return created
