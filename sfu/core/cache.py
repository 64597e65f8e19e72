"""Ring buffer of a publisher stream's recent packets, for NACK and keyframes.

Keyed by the publisher's 16-bit sequence number: slot ``seq % capacity``;
`get` checks the stored packet really has the requested sequence number, so
a slot overwritten by a newer (or wrapped) packet is a miss, never a wrong
packet.

A cached view lets go of its ``data`` (the whole decrypted packet): what is
sent from the cache (replays, retransmissions) is rebuilt from the payload
and the parsed header fields, so holding both would keep every packet twice.

``max_age`` (RTP timestamp ticks) also bounds it by time: a packet that far
behind the newest one's timestamp is let go. A retransmission is asked for
within a round trip, and a replay from a keyframe older than that would
show a stale picture, then fast-forward through seconds of video (paced,
so for longer still) while a fresh keyframe, asked for at the same time,
comes in a round trip; meanwhile 512 packets of a 300 kbit/s camera are
15 s of it held per publisher. So a video stream keeps a few seconds.
"""

from __future__ import annotations

from .packet import RTP_HEADER_BYTES, RtpView

__all__ = ["PacketCache", "VIDEO_CAPACITY", "AUDIO_CAPACITY"]

VIDEO_CAPACITY = 512
AUDIO_CAPACITY = 128


_RELEASED = b""  # a cached view's data


def _newer(a: int, b: int) -> bool:
    """True if 16-bit sequence number `a` comes after `b` (RFC 1982)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


class PacketCache:
    """The last `capacity` packets of one publisher stream."""

    __slots__ = ("capacity", "max_age", "_slots", "_newest", "_keyframe", "_oldest")

    capacity: int
    max_age: int | None
    _slots: list[RtpView | None]
    _newest: int | None
    _keyframe: int | None
    _oldest: int | None

    def __init__(self, capacity: int, max_age: int | None = None) -> None:
        if not 1 <= capacity <= 0x8000:
            raise ValueError(f"cache capacity must be 1..32768, got {capacity}")
        if max_age is not None and not 0 < max_age < 0x80000000:
            raise ValueError(f"cache max_age must be 1..2**31-1 RTP ticks, got {max_age}")
        self.capacity = capacity
        self.max_age = max_age  # RTP ticks behind the newest packet a packet is kept (None: no bound)
        self._slots = [None] * capacity
        self._newest = None  # highest sequence number stored
        self._keyframe = None  # sequence number of the latest keyframe start
        self._oldest = None  # where the age bound looks next (sequence number)

    def put(self, view: RtpView, keyframe_start: bool = False) -> None:
        """Store `view`, replacing whatever occupied its slot.

        A packet more than `capacity` behind the newest one is taken as a
        discontinuity (the publisher's sequence numbers jumped) and becomes
        the newest. `view.data` is emptied (module docstring).
        """
        seq = view.sequence_number
        view.data = _RELEASED
        self._slots[seq % self.capacity] = view
        newest = self._newest
        if newest is None or (((newest - seq) & 0xFFFF) >= self.capacity and not _newer(seq, newest)):
            self._newest = self._oldest = seq  # the first packet, or a discontinuity
        elif _newer(seq, newest):
            self._newest = seq
            if self.max_age is not None:
                self._let_go_of_old(view.timestamp)
        if keyframe_start:
            kf = self._keyframe
            if kf is None or not _newer(kf, seq) or self.get(kf) is None:
                self._keyframe = seq

    def _let_go_of_old(self, newest_timestamp: int) -> None:
        """Empty the slots of packets more than ``max_age`` behind, oldest
        first, up to the first one young enough (a packet or two per put)."""
        assert self._oldest is not None and self._newest is not None and self.max_age is not None
        newest, slots, capacity, max_age = self._newest, self._slots, self.capacity, self.max_age
        oldest = self._oldest
        if ((newest - oldest) & 0xFFFF) >= capacity:
            oldest = (newest - capacity + 1) & 0xFFFF  # what lay before was overwritten already
        while oldest != newest:
            i = oldest % capacity
            view = slots[i]
            if view is not None and view.sequence_number == oldest:
                age = (newest_timestamp - view.timestamp) & 0xFFFFFFFF
                if age <= max_age or age >= 0x80000000:  # young enough (or a later timestamp)
                    break
                slots[i] = None
            oldest = (oldest + 1) & 0xFFFF
        self._oldest = oldest

    def get(self, seq: int) -> RtpView | None:
        """The cached packet with publisher sequence number `seq`, if any."""
        view = self._slots[seq % self.capacity]
        if view is not None and view.sequence_number == seq:
            return view
        return None

    @property
    def newest(self) -> int | None:
        """Highest sequence number stored (None when empty)."""
        return self._newest

    @property
    def last_keyframe(self) -> int | None:
        """Sequence number of the most recent keyframe start put (or None)."""
        return self._keyframe

    def since_last_keyframe(self) -> list[RtpView]:
        """Cached packets from the last keyframe start to the newest, in order.

        Packets missing in between (lost, not yet repaired) are skipped. []
        if no keyframe start was put or it is no longer in the cache.
        """
        kf = self._keyframe
        newest = self._newest
        if kf is None or newest is None or self.get(kf) is None:
            return []
        count = ((newest - kf) & 0xFFFF) + 1
        if count > self.capacity:
            return []
        out: list[RtpView] = []
        for i in range(count):
            view = self.get((kf + i) & 0xFFFF)
            if view is not None:
                out.append(view)
        return out

    def byte_rate(self, clock_rate: int, window: float = 1.0) -> float | None:
        """About how many bytes per second the stream carried lately.

        Counts the cached packets whose RTP timestamp lies within ``window``
        seconds of the newest packet's (``clock_rate`` ticks per second) and
        divides by the timestamp span they cover. None when the cache holds
        less than a tenth of a second of media (a lone keyframe, a still
        stream): the caller uses its own floor then.
        """
        if clock_rate <= 0 or window <= 0:
            raise ValueError(f"byte_rate needs clock_rate > 0 and window > 0, got {clock_rate}, {window}")
        newest = self._newest
        top = None if newest is None else self.get(newest)
        if top is None or newest is None:
            return None
        limit = window * clock_rate
        total = 0
        span = 0
        for back in range(self.capacity):
            view = self.get((newest - back) & 0xFFFF)
            if view is None:
                continue
            age = (top.timestamp - view.timestamp) & 0xFFFFFFFF
            if age >= 0x80000000:
                continue  # a later timestamp than the newest packet's: reordered
            if age > limit:
                break
            total += len(view.payload) + RTP_HEADER_BYTES
            if age > span:
                span = age
        if span < clock_rate / 10:
            return None
        return total * clock_rate / span
