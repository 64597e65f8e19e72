"""Rate-limit keyframe requests sent to a publisher.

Every subscriber that joins, switches layer or loses a keyframe asks for one;
forwarding each PLI would make the publisher send a keyframe per request.
Like mediasoup and Janus we send at most one per `min_interval` per stream,
and remember a refused request so it is sent as soon as the interval ends.
Time is passed in (seconds, any monotonic origin).
"""

from __future__ import annotations

__all__ = ["KeyframeThrottle"]


class KeyframeThrottle:
    """At most one keyframe request per `min_interval` seconds."""

    __slots__ = ("min_interval", "_last", "_pending", "_unanswered")

    min_interval: float
    _last: float | None
    _pending: bool
    _unanswered: bool

    def __init__(self, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self._last = None  # when the last request was let through
        self._pending = False  # a refused request waits for the interval
        self._unanswered = False  # no keyframe has come since the last request let through

    def _open(self, now: float) -> bool:
        last = self._last
        # a clock that went backwards must not block requests forever
        return last is None or now - last >= self.min_interval or now < last

    def allow(self, now: float) -> bool:
        """Ask to send a keyframe request now.

        True: send it (the interval restarts now). False: too soon after the
        last one; the request is remembered and `due` reports it later.
        """
        if self._open(now):
            self._let_through(now)
            return True
        self._pending = True
        return False

    def _let_through(self, now: float) -> None:
        self._last = now
        self._pending = False
        self._unanswered = True

    def answered(self) -> None:
        """A keyframe arrived (asked for or not)."""
        self._unanswered = False

    def on_its_way(self, now: float, within: float) -> bool:
        """A request let through less than ``within`` seconds ago has had no keyframe yet."""
        last = self._last
        return self._unanswered and last is not None and 0 <= now - last < within

    @property
    def pending(self) -> bool:
        """A refused request is waiting for the interval to pass."""
        return self._pending

    def due(self, now: float) -> bool:
        """True once when a refused request may now be sent.

        Call it periodically (or from the packet path); a True answer counts
        as sending the request: the interval restarts and the pending flag
        is cleared.
        """
        if self._pending and self._open(now):
            self._let_through(now)
            return True
        return False
