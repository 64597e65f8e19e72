"""Rate limits on joins and link creation (token buckets, injected time)."""

from __future__ import annotations

import pytest

from control.errors import ApiError
from control.ratelimit import RateLimiter


def test_bucket_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=5)
    assert [limiter.allow("10.0.0.1", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow("10.0.0.2", 0.0)  # another caller has its own bucket
    assert not limiter.allow("10.0.0.1", 0.5)
    assert limiter.allow("10.0.0.1", 1.01)  # one token a second
    assert not limiter.allow("10.0.0.1", 1.02)


def test_check_raises_rate_limited_with_a_retry_hint_and_spares_loopback() -> None:
    limiter = RateLimiter(per_minute=6, burst=1)
    limiter.check("192.0.2.7", 0.0, "joins")
    with pytest.raises(ApiError) as info:
        limiter.check("192.0.2.7", 0.0, "joins")
    assert info.value.code == "rate_limited" and info.value.status == 429
    assert "try again in 10 seconds" in info.value.message
    for _ in range(50):
        limiter.check("127.0.0.1", 0.0, "joins")
        limiter.check("::1", 0.0, "joins")


def test_zero_turns_it_off_and_memory_stays_bounded() -> None:
    assert all(RateLimiter(0).allow("x", 0.0) for _ in range(1000))
    limiter = RateLimiter(per_minute=60, burst=2, max_callers=100)
    for i in range(1000):
        limiter.allow(f"10.0.{i // 250}.{i % 250}", float(i))
    assert len(limiter._buckets) <= 100
