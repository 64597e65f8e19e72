"""Rate limits on joins and link creation (token buckets, injected time)."""

from __future__ import annotations

import pytest

from control.errors import ApiError
from control.ratelimit import RateLimiter, caller_key


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
    assert info.value.headers == {"Retry-After": "10"}
    for _ in range(50):
        limiter.check("127.0.0.1", 0.0, "joins")
        limiter.check("::1", 0.0, "joins")


def test_zero_turns_it_off_and_memory_stays_bounded() -> None:
    assert all(RateLimiter(0).allow("x", 0.0) for _ in range(1000))
    limiter = RateLimiter(per_minute=60, burst=2, max_callers=100)
    for i in range(1000):
        limiter.allow(f"10.0.{i // 250}.{i % 250}", float(i))
    assert len(limiter._buckets) <= 100


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.9", "192.0.2.9"),  # an IPv4 caller on a dual-stack socket
        ("192.0.2.9", "192.0.2.9"),
        (None, "unknown"),
    ],
)
def test_ipv6_callers_are_keyed_by_their_64(remote: str | None, key: str) -> None:
    assert caller_key(remote) == key


def test_one_64_is_one_caller_however_many_addresses_it_uses() -> None:
    limiter = RateLimiter(per_minute=6, burst=2)
    limiter.check("2001:db8:0:1::1", 0.0, "joins")
    limiter.check("2001:db8:0:1::2", 0.0, "joins")
    with pytest.raises(ApiError):
        limiter.check("2001:db8:0:1:dead:beef:0:1", 0.0, "joins")  # same /64, fresh address
    limiter.check("2001:db8:0:2::1", 0.0, "joins")  # the next /64 is someone else


def test_a_flood_of_fresh_callers_cannot_wipe_established_buckets() -> None:
    limiter = RateLimiter(per_minute=6, burst=2)  # the default table: 100,000 callers
    established = [f"10.1.{i // 250}.{i % 250}" for i in range(1000)]
    for caller in established:  # each used its burst: limited for the next ~10 s
        assert limiter.allow(caller, 0.0) and limiter.allow(caller, 0.0)
    flood = [f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::1" for i in range(150_000)]  # 150,000 /64s
    admitted = sum(limiter.allow(caller, 1.0) for caller in flood)
    assert len(limiter._buckets) <= limiter.max_callers
    # every established caller is still limited: nobody's bucket was reset
    assert not any(limiter.allow(caller, 2.0) for caller in established)
    # the flood got the free places, then shared one overflow bucket (its burst)
    assert admitted == limiter.max_callers - len(established) + 2
    # once the buckets refill, they are forgotten and newcomers get their own again
    assert limiter.allow("192.0.2.200", 60.0) and limiter.allow("192.0.2.200", 60.0)
    assert not limiter.allow("192.0.2.200", 60.0)
