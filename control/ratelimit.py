"""Per-caller rate limits (token buckets), so that nobody holding a link can
keep its seats full with join tickets or flood the store with links.

Loopback callers (the operator, tests, a reverse proxy on the same box) are
not limited; behind a proxy, limit there.
"""

from __future__ import annotations

from dataclasses import dataclass

from control.auth import is_loopback
from control.errors import ApiError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None, max_callers: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, per_minute // 3))
        self.max_callers = max_callers
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, caller: str, now: float) -> bool:
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self.max_callers:
                self._forget_full(now)
            bucket = self._buckets[caller] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def retry_after(self, caller: str) -> float:
        bucket = self._buckets.get(caller)
        return 0.0 if bucket is None or self.rate <= 0 else max(0.0, (1.0 - bucket.tokens) / self.rate)

    def check(self, remote: str | None, now: float, what: str) -> None:
        if remote is not None and is_loopback(remote):
            return
        caller = remote or "unknown"
        if not self.allow(caller, now):
            raise ApiError(
                "rate_limited",
                f"Too many {what} from your address; try again in {max(1, round(self.retry_after(caller)))} seconds.",
            )

    def _forget_full(self, now: float) -> None:
        """Drop callers whose bucket has refilled: they are indistinguishable from new ones."""
        for caller in [c for c, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]:
            del self._buckets[caller]
        if len(self._buckets) >= self.max_callers:
            self._buckets.clear()
