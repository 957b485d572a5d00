"""Per-tenant token-bucket rate limiter (v24.1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """A bucket of ``capacity`` tokens refilled at ``rate`` tokens per second.

    Not thread-safe on its own; :class:`TenantLimiter` serialises access.
    """

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update, up to ``capacity``."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; return whether the request may pass."""
        self.refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available."""
        missing = max(0.0, cost - self.tokens)
        return missing / self.rate


class TenantLimiter:
    """One :class:`TokenBucket` per tenant, created on first use.

    ``limit`` is the refill rate (``RPS_LIMIT``) and ``burst`` the capacity (``RPS_BURST``).
    A ``limit`` of 0 disables limiting.
    """

    def __init__(
        self, limit: int, burst: int, clock: Clock = time.monotonic, max_tenants: int = 10000
    ) -> None:
        self.limit = limit
        self.burst = max(burst, limit)
        self._clock = clock
        self._max_tenants = max_tenants
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether requests are limited at all."""
        return self.limit > 0

    def allow(self, tenant: str) -> tuple[bool, float]:
        """Take a token for ``tenant``; return (allowed, seconds until the next token)."""
        if not self.enabled:
            return True, 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(tenant)
            if bucket is None:
                if len(self._buckets) >= self._max_tenants:
                    self._evict_full(now)
                bucket = self._buckets[tenant] = TokenBucket(self.limit, self.burst, now)
            allowed = bucket.take(now)
            return allowed, 0.0 if allowed else bucket.retry_after()

    def _evict_full(self, now: float) -> None:
        """Forget buckets that have refilled completely (they hold no state worth keeping)."""
        for tenant, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[tenant]
