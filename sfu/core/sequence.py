"""Plausibility of a publisher's sequence numbers (RFC 3550, appendix A.1).

A packet far ahead of the newest one seen, or far behind it, is dropped
rather than forwarded: one corrupt or forged packet must not throw every
subscriber's jitter buffer (and its rewriter mapping) off. A real jump, such
as a publisher restarting its sequence, is accepted once two packets in a
row agree on the new position.
"""

from __future__ import annotations

MAX_DROPOUT = 3000  # packets ahead still taken as loss
MAX_MISORDER = 100  # packets behind still taken as reordering


class SequenceGuard:
    __slots__ = ("highest", "_candidate")

    def __init__(self) -> None:
        self.highest: int | None = None
        self._candidate: int | None = None

    def accept(self, seq: int) -> bool:
        highest = self.highest
        if highest is None:
            self.highest = seq
            return True
        delta = (seq - highest) & 0xFFFF
        if delta == 0:
            return True  # a duplicate: the subscriber's receiver drops it
        if delta < MAX_DROPOUT:
            self.highest = seq
            self._candidate = None
            return True
        if 0x10000 - delta <= MAX_MISORDER:
            return True  # late, reordered
        if self._candidate is not None and seq == (self._candidate + 1) & 0xFFFF:
            self.highest = seq  # two in a row: the stream really moved
            self._candidate = None
            return True
        self._candidate = seq
        return False
