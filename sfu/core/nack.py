"""Bounds on what a subscriber's NACKs can make the SFU retransmit (issue 9).

One 1.5 KB RTCP NACK can name the same packets over and over: 368 FCIs with
BLP 0xFFFF are 6,256 sequence numbers. Answered one RTX each, a participant
turns 1.5 KB into megabytes at will. Three bounds, all per outlet:

- the sequence numbers of one RTCP NACK are deduplicated and capped
  (:func:`distinct_lost`);
- a packet retransmitted less than ``RESEND_INTERVAL`` ago is not sent
  again (the receiver asks again after a round trip if it is still missing);
- RTX bytes come out of a token bucket refilled at about the stream's own
  media rate (:class:`RetransmitGuard`), so RTX at most about doubles what
  the subscriber receives, however many NACKs it sends.

Time is passed in (seconds, any monotonic origin).
"""

from __future__ import annotations

from collections.abc import Iterable

from .pacer import TokenBucket

__all__ = ["MAX_NACK_ENTRIES", "RESEND_INTERVAL", "RetransmitGuard", "distinct_lost"]

MAX_NACK_ENTRIES = 256  # distinct sequence numbers answered per RTCP NACK
RESEND_INTERVAL = 0.1  # seconds before the same packet is retransmitted again


def distinct_lost(lost: Iterable[int], limit: int = MAX_NACK_ENTRIES) -> list[int]:
    """The distinct 16-bit sequence numbers of one NACK, in order, at most ``limit``."""
    if limit < 0:
        raise ValueError(f"NACK entry limit must be >= 0, got {limit}")
    seen: set[int] = set()
    out: list[int] = []
    if limit == 0:
        return out
    for seq in lost:
        seq &= 0xFFFF  # aiortc expands BLP bits past 65535 without wrapping
        if seq not in seen:
            seen.add(seq)
            out.append(seq)
            if len(out) >= limit:
                break
    return out


class RetransmitGuard:
    """One outlet's memory of recent retransmissions and its RTX byte budget.

    ``capacity`` is the size of the packet cache retransmissions come from:
    a packet is remembered in slot ``seq % capacity``, so two packets sharing
    a slot are ``capacity`` apart and the older one is no longer cached.
    """

    __slots__ = ("budget", "refused", "_seqs", "_times", "_capacity")

    budget: TokenBucket
    refused: int
    _seqs: list[int]
    _times: list[float]
    _capacity: int

    def __init__(self, capacity: int, rate: float, burst: float, now: float) -> None:
        if capacity < 1:
            raise ValueError(f"retransmission memory capacity must be >= 1, got {capacity}")
        self.budget = TokenBucket(rate, burst, now)
        self.refused = 0  # retransmissions refused by the budget
        self._capacity = capacity
        self._seqs = [-1] * capacity
        self._times = [0.0] * capacity

    def recently_sent(self, seq: int, now: float) -> bool:
        """True if ``seq`` was retransmitted less than ``RESEND_INTERVAL`` before ``now``."""
        slot = seq % self._capacity
        if self._seqs[slot] != seq:
            return False
        at = self._times[slot]
        return at <= now < at + RESEND_INTERVAL

    def admit(self, seq: int, size: int, now: float) -> bool:
        """May ``seq`` (``size`` bytes on the wire) be retransmitted now?
        True counts it as sent: its bytes are spent and it is remembered."""
        if self.recently_sent(seq, now):
            return False
        if not self.budget.take(size, now):
            self.refused += 1
            return False
        slot = seq % self._capacity
        self._seqs[slot] = seq
        self._times[slot] = now
        return True

    def forget(self) -> None:
        """The outlet changed source: sequence numbers now mean other packets."""
        self._seqs = [-1] * self._capacity
