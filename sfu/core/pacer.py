"""Pacing of bursts towards one subscriber stream (sans-IO, time passed in).

A late joiner's cache replay (up to 512 packets since the last keyframe) and
a burst of retransmissions, sent in one tight loop, arrive faster than some
receivers read their socket: Firefox keeps Linux's default 208 KiB receive
buffer and drops the rest. Each subscriber stream (an outlet) therefore has a
:class:`Lane`: a token bucket that lets such *paced* packets out at a few
times the stream's rate, and a queue where they wait.

While a lane has a backlog, the stream's live packets queue behind it (so
nothing is reordered) without spending tokens: the backlog drains at the
bucket's rate on top of the live rate, and once it is empty the stream goes
back to direct forwarding. The :class:`Pacer` (one per call) knows the lanes
with a backlog, releases what their buckets allow, and says when to call it
again; the glue runs a timer only while something is queued.

Lanes of one connection (the same ``group``, e.g. the subscriber's
transport: its socket buffer is what overflows) also share a bucket of
``CONNECTION_RATE`` and ``CONNECTION_BURST``: a late joiner getting seven
replays at once gets at most one burst at once, not seven. It exists only
while needed (one of its lanes is busy, or it has not refilled yet).

Bounds: a lane holds at most ``MAX_PACED_BYTES`` of paced packets (more are
dropped and counted) and at most ``MAX_LANE_PACKETS`` in all; past that the
paced packets still queued are shed (a receiver asks again for what it
misses), so live packets never wait behind an unbounded queue (and, should
live packets alone fill it, the oldest goes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = [
    "CONNECTION_BURST",
    "CONNECTION_RATE",
    "MAX_LANE_PACKETS",
    "MAX_PACED_BYTES",
    "PACE_INTERVAL",
    "Lane",
    "Pacer",
    "TokenBucket",
]

K = TypeVar("K")

PACE_INTERVAL = 0.005  # seconds: the shortest wait between two releases (a batch each)
MAX_PACED_BYTES = 1 << 20  # paced bytes one lane may hold (a full replay is ~600 KB)
MAX_LANE_PACKETS = 1024  # packets one lane may hold, live ones included
CONNECTION_RATE = 6_000_000.0  # paced bytes/s all lanes of one group may send together...
CONNECTION_BURST = 24_576  # ...and at once


class TokenBucket:
    """``rate`` bytes per second, at most ``burst`` bytes at once.

    A packet larger than the burst is let through once the bucket is full
    (the balance goes negative and refills), so nothing is held forever.
    A clock that goes backwards refills nothing and restarts from there.
    """

    __slots__ = ("rate", "burst", "tokens", "stamp")

    rate: float
    burst: float
    tokens: float
    stamp: float

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._check(rate, burst)
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    @staticmethod
    def _check(rate: float, burst: float) -> None:
        if not rate > 0:
            raise ValueError(f"token bucket rate must be > 0 bytes/s, got {rate}")
        if not burst > 0:
            raise ValueError(f"token bucket burst must be > 0 bytes, got {burst}")

    def configure(self, rate: float, burst: float, now: float) -> None:
        """Change rate and burst from ``now`` on (what accrued so far is kept, up to the new burst)."""
        self._check(rate, burst)
        self._refill(now)
        self.rate = rate
        self.burst = burst
        if self.tokens > burst:
            self.tokens = burst

    def _refill(self, now: float) -> None:
        elapsed = now - self.stamp
        if elapsed > 0:
            tokens = self.tokens + elapsed * self.rate
            self.tokens = tokens if tokens < self.burst else self.burst
        self.stamp = now

    def take(self, size: int, now: float) -> bool:
        """Spend ``size`` bytes now if the bucket allows it."""
        self._refill(now)
        need = size if size < self.burst else self.burst
        if self.tokens >= need:
            self.tokens -= size
            return True
        return False

    def delay(self, size: int, now: float) -> float:
        """Seconds from ``now`` until ``take(size)`` would succeed."""
        self._refill(now)
        need = size if size < self.burst else self.burst
        missing = need - self.tokens
        return missing / self.rate if missing > 0 else 0.0


class Lane(Generic[K]):
    """One outlet's bucket and backlog; ``owner`` is whatever the caller keys it by."""

    __slots__ = ("owner", "bucket", "group", "queue", "paced_bytes", "dropped")

    owner: K
    bucket: TokenBucket
    group: Hashable | None
    queue: deque[tuple[bytes, bool]]  # (packet, paced), in sending order
    paced_bytes: int
    dropped: int

    def __init__(self, owner: K, bucket: TokenBucket, group: Hashable | None = None) -> None:
        self.owner = owner
        self.bucket = bucket
        self.group = group  # lanes of one connection share its bucket too (None: no sharing)
        self.queue = deque()
        self.paced_bytes = 0
        self.dropped = 0  # paced packets refused or shed

    @property
    def backlogged(self) -> bool:
        return bool(self.queue)


class Pacer(Generic[K]):
    """The lanes of one call that have a backlog."""

    __slots__ = ("_busy", "_shared", "_busy_in")

    def __init__(self) -> None:
        self._busy: dict[int, Lane[K]] = {}
        self._shared: dict[Hashable, TokenBucket] = {}  # per group, while needed
        self._busy_in: dict[Hashable, int] = {}  # busy lanes per group

    def _connection(self, lane: Lane[K], now: float) -> TokenBucket | None:
        group = lane.group
        if group is None:
            return None
        shared = self._shared.get(group)
        if shared is None:
            if len(self._shared) > 2 * len(self._busy_in) + 16:
                self._sweep(now)
            shared = self._shared[group] = TokenBucket(CONNECTION_RATE, CONNECTION_BURST, now)
        return shared

    def _sweep(self, now: float) -> None:
        """Forget the shared buckets of idle groups that have refilled (a new one starts full)."""
        for group, bucket in list(self._shared.items()):
            if group not in self._busy_in and bucket.delay(int(bucket.burst), now) == 0:
                del self._shared[group]

    def _take(self, lane: Lane[K], size: int, now: float) -> bool:
        shared = self._connection(lane, now)
        if shared is None:
            return lane.bucket.take(size, now)
        if lane.bucket.delay(size, now) > 0 or shared.delay(size, now) > 0:
            return False
        lane.bucket.take(size, now)
        shared.take(size, now)
        return True

    def _mark_busy(self, lane: Lane[K]) -> None:
        key = id(lane)
        if key not in self._busy:
            self._busy[key] = lane
            if lane.group is not None:
                self._busy_in[lane.group] = self._busy_in.get(lane.group, 0) + 1

    def _mark_idle(self, lane: Lane[K]) -> None:
        if self._busy.pop(id(lane), None) is not None and lane.group is not None:
            left = self._busy_in[lane.group] - 1
            if left:
                self._busy_in[lane.group] = left
            else:
                del self._busy_in[lane.group]

    @property
    def busy(self) -> int:
        """How many lanes have a backlog."""
        return len(self._busy)

    @property
    def connections(self) -> int:
        """How many groups' shared buckets are kept."""
        return len(self._shared)

    def offer(self, lane: Lane[K], packet: bytes, now: float) -> bool:
        """A paced packet (replay, retransmission). True: send it now. False:
        it waits in the lane (or, past the lane's bounds, is dropped)."""
        size = len(packet)
        if not lane.queue and self._take(lane, size, now):
            return True
        if lane.paced_bytes + size > MAX_PACED_BYTES or len(lane.queue) >= MAX_LANE_PACKETS:
            lane.dropped += 1
            return False
        lane.queue.append((packet, True))
        lane.paced_bytes += size
        self._mark_busy(lane)
        return False

    def follow(self, lane: Lane[K], packet: bytes) -> None:
        """A live packet of a lane with a backlog: it queues behind it, free of tokens."""
        queue = lane.queue
        if len(queue) >= MAX_LANE_PACKETS:
            self._shed(lane)
            if len(queue) >= MAX_LANE_PACKETS:  # live only and still full: lose the oldest
                queue.popleft()
                lane.dropped += 1
        queue.append((packet, False))
        self._mark_busy(lane)

    @staticmethod
    def _shed(lane: Lane[K]) -> None:
        live = [entry for entry in lane.queue if not entry[1]]
        lane.dropped += len(lane.queue) - len(live)
        lane.queue.clear()
        lane.queue.extend(live)
        lane.paced_bytes = 0

    def cancel(self, lane: Lane[K]) -> None:
        """Forget the lane's backlog (its stream stopped or changed source)."""
        lane.queue.clear()
        lane.paced_bytes = 0
        self._mark_idle(lane)

    def release(self, now: float) -> tuple[list[tuple[K, bytes]], list[Lane[K]]]:
        """What may be sent now, in each lane's order, and the lanes that drained."""
        out: list[tuple[K, bytes]] = []
        drained: list[Lane[K]] = []
        for lane in list(self._busy.values()):
            queue, owner = lane.queue, lane.owner
            while queue:
                packet, paced = queue[0]
                if paced:
                    if not self._take(lane, len(packet), now):
                        break
                    lane.paced_bytes -= len(packet)
                queue.popleft()
                out.append((owner, packet))
            if not queue:
                self._mark_idle(lane)
                drained.append(lane)
        return out, drained

    def next_due(self, now: float) -> float | None:
        """When ``release`` next has something to let out (None: nothing queued).

        Never sooner than ``PACE_INTERVAL`` after ``now`` while the buckets
        are empty, so each release sends a batch rather than one packet."""
        due: float | None = None
        for lane in self._busy.values():
            packet, paced = lane.queue[0]
            wait = 0.0
            if paced:
                wait = lane.bucket.delay(len(packet), now)
                shared = self._shared.get(lane.group) if lane.group is not None else None
                if shared is not None:
                    wait = max(wait, shared.delay(len(packet), now))
            at = now if wait <= 0 else now + max(wait, PACE_INTERVAL)
            if due is None or at < due:
                due = at
        return due
