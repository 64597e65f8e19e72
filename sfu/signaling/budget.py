"""What one client may make the server do on its signaling socket.

A token bucket of *units* per session: every frame costs one unit plus one
per :data:`UNIT_BYTES` it carries, so a flood of tiny frames and a stream of
256 kB SDPs are both bounded. Time is passed in (no clock here).

The first frame over budget is answered with an error; the frames after it
are ignored; a client that keeps going past :data:`MESSAGE_BURST` ignored
frames is dropped.
"""

from __future__ import annotations

from enum import Enum

MESSAGE_RATE = 20.0  # units per second, sustained
MESSAGE_BURST = 60.0  # units a client may spend at once (a join: welcome, publish, answers)
UNIT_BYTES = 8192  # one more unit per this many bytes of a frame


class Verdict(Enum):
    OK = "ok"
    WARN = "warn"  # over budget: tell the client once, ignore the frame
    IGNORE = "ignore"  # over budget again: ignore the frame
    DROP = "drop"  # still going: drop the client


class MessageBudget:
    def __init__(self, rate: float = MESSAGE_RATE, burst: float = MESSAGE_BURST) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a message budget needs rate > 0 and burst >= 1, not {rate} and {burst}")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last: float | None = None
        self.ignored = 0  # frames ignored since the client last was within budget

    @staticmethod
    def cost(size: int) -> float:
        return 1.0 + size // UNIT_BYTES

    def take(self, size: int, now: float) -> Verdict:
        """A frame of ``size`` bytes arrived at ``now`` (seconds, monotonic)."""
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        cost = self.cost(size)
        if self.tokens >= cost:
            self.tokens -= cost
            self.ignored = 0
            return Verdict.OK
        self.ignored += 1
        if self.ignored == 1:
            return Verdict.WARN
        return Verdict.DROP if self.ignored > self.burst else Verdict.IGNORE
