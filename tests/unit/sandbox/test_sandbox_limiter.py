"""The per-tenant token bucket of v24.1."""

from __future__ import annotations

import pytest
from intelgraph.limiter import TenantLimiter, TokenBucket


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("rate", "capacity"), [(1, 1), (5, 10), (50, 100), (2, 7)])
def test_bucket_allows_burst_then_refuses(rate: int, capacity: int) -> None:
    bucket = TokenBucket(rate, capacity, now=0.0)
    assert all(bucket.take(0.0) for _ in range(capacity))
    assert not bucket.take(0.0)
    assert bucket.retry_after() == pytest.approx(1.0 / rate)


@pytest.mark.parametrize(
    ("rate", "elapsed", "expected"), [(10, 0.5, 5), (10, 0.05, 0), (2, 1.0, 2), (4, 100.0, 8)]
)
def test_bucket_refills_at_rate_up_to_capacity(rate: int, elapsed: float, expected: int) -> None:
    bucket = TokenBucket(rate, 8, now=0.0)
    while bucket.take(0.0):
        pass
    granted = 0
    while bucket.take(elapsed):
        granted += 1
    assert granted == expected


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (1, 0), (-1, 5)])
def test_bucket_rejects_bad_parameters(rate: int, capacity: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, capacity, now=0.0)


def test_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(10, 1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)


def test_tenants_have_separate_buckets() -> None:
    clock = FakeClock()
    limiter = TenantLimiter(limit=2, burst=3, clock=clock)
    assert [limiter.allow("acme")[0] for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("globex")[0]
    allowed, wait = limiter.allow("acme")
    assert not allowed and wait == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.allow("acme")[0]


def test_sustained_rate_matches_limit() -> None:
    clock = FakeClock()
    limiter = TenantLimiter(limit=10, burst=10, clock=clock)
    granted = 0
    for _ in range(1000):  # 100 requests per second for 10 seconds
        clock.now += 0.01
        granted += limiter.allow("acme")[0]
    assert 100 <= granted <= 111


def test_zero_limit_disables() -> None:
    limiter = TenantLimiter(limit=0, burst=0)
    assert not limiter.enabled
    assert all(limiter.allow("acme")[0] for _ in range(1000))


def test_burst_never_below_limit() -> None:
    assert TenantLimiter(limit=20, burst=5).burst == 20


def test_full_buckets_are_evicted_when_the_table_is_full() -> None:
    clock = FakeClock()
    limiter = TenantLimiter(limit=1, burst=1, clock=clock, max_tenants=2)
    limiter.allow("a")
    limiter.allow("b")
    clock.now += 5
    limiter.allow("c")
    assert "c" in limiter._buckets and len(limiter._buckets) == 1
