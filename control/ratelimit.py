"""Per-caller rate limits (token buckets), so that nobody holding a link can
keep its seats full with join tickets or flood the store with links.

A caller is an IPv4 address, or an IPv6 /64 (one customer's prefix: a single
host may pick any of its 2^64 addresses). The table of buckets is bounded:
when it is full, buckets that have refilled (indistinguishable from a caller
never seen) are dropped, oldest first; if every bucket is still in use, the
newcomers share one overflow bucket, so a flood of fresh addresses is limited
as one caller and never wipes the established callers' buckets.

Loopback callers (the operator, tests, a reverse proxy on the same box) are
not limited; behind a proxy, limit there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from control.auth import is_loopback
from control.errors import ApiError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


def caller_key(remote: str | None) -> str:
    """The key a caller is limited under: IPv4 as it is, IPv6 by its /64."""
    if not remote:
        return "unknown"
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None, max_callers: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, per_minute // 3))
        self.max_callers = max_callers
        # insertion order = order of last use (a used bucket moves to the end),
        # so the front holds the buckets most likely to have refilled
        self._buckets: dict[str, _Bucket] = {}
        self._overflow = _Bucket(self.burst, 0.0)

    def _bucket(self, caller: str, now: float) -> _Bucket:
        bucket = self._buckets.pop(caller, None)
        if bucket is None:
            self._forget_refilled(now)
            if len(self._buckets) >= self.max_callers:
                bucket = self._overflow  # every bucket is in use: newcomers share one
            else:
                bucket = _Bucket(self.burst, now)
        if bucket is not self._overflow:
            self._buckets[caller] = bucket
        bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.stamp) * self.rate)
        bucket.stamp = max(now, bucket.stamp)
        return bucket

    def allow(self, caller: str, now: float) -> bool:
        return self._take(caller, now) is None

    def _take(self, caller: str, now: float) -> _Bucket | None:
        """None when allowed; else the refusing bucket (for its retry hint)."""
        if self.rate <= 0:
            return None
        bucket = self._bucket(caller, now)
        if bucket.tokens < 1.0:
            return bucket
        bucket.tokens -= 1.0
        return None

    def _retry_after(self, bucket: _Bucket) -> float:
        return max(0.0, (1.0 - bucket.tokens) / self.rate)

    def check(self, remote: str | None, now: float, what: str) -> None:
        if remote is not None and is_loopback(remote):
            return
        refused = self._take(caller_key(remote), now)
        if refused is not None:
            seconds = max(1, round(self._retry_after(refused)))
            raise ApiError(
                "rate_limited",
                f"Too many {what} from your address; try again in {seconds} seconds.",
                {"Retry-After": str(seconds)},
            )

    def _forget_refilled(self, now: float) -> None:
        """Drop the oldest buckets while they have refilled (amortised O(1))."""
        while len(self._buckets) >= self.max_callers:
            caller, bucket = next(iter(self._buckets.items()))
            if bucket.tokens + (now - bucket.stamp) * self.rate < self.burst:
                return
            del self._buckets[caller]
