"""Which lost packets of one publisher stream to request again (RFC 4585 NACK).

A gap in the sequence numbers makes each missing number an entry. Every
poll (`due`) returns the entries to request now: a new one once it has
waited ``reorder_delay`` (a packet merely reordered arrives within that),
then again every ``retry_interval`` until it arrives, is requested
``max_retries`` times without answer (given up one ``retry_interval``
after its last request), or is older than ``max_age`` seconds (too late to
be useful to anyone watching). State is bounded: at most ``max_missing``
entries (the oldest are given up first); a gap of more than ``max_gap``
packets is given up whole (a burst that long is not worth repairing
packet by packet, and the work per arriving packet stays bounded); a
jump of MAX_DROPOUT or more (a restarted source, not loss) forgets
everything instead of asking for thousands of packets.

Sequence numbers are extended internally (wraps counted), so a long-lived
stream never confuses an old entry with a new one. Time ``now`` is in
seconds on any monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .stats import MAX_DROPOUT

__all__ = ["NackGenerator"]


@dataclass(slots=True)
class _Missing:
    since: float
    sent_at: float | None = None
    retries: int = 0


class NackGenerator:
    __slots__ = (
        "max_missing",
        "max_gap",
        "max_retries",
        "retry_interval",
        "reorder_delay",
        "max_age",
        "highest",
        "missing",
        "requested",
        "recovered",
        "gave_up",
    )

    def __init__(
        self,
        *,
        max_missing: int = 256,
        max_gap: int = 128,
        max_retries: int = 5,
        retry_interval: float = 0.1,
        reorder_delay: float = 0.01,
        max_age: float = 1.0,
    ) -> None:
        if max_missing < 1:
            raise ValueError(f"max_missing must be >= 1, got {max_missing}")
        if max_gap < 1:
            raise ValueError(f"max_gap must be >= 1, got {max_gap}")
        if max_retries < 1:
            raise ValueError(f"max_retries must be >= 1, got {max_retries}")
        if retry_interval <= 0 or max_age <= 0 or reorder_delay < 0:
            raise ValueError(
                f"retry_interval and max_age must be > 0 and reorder_delay >= 0, got "
                f"{retry_interval}, {max_age}, {reorder_delay}"
            )
        self.max_missing = max_missing
        self.max_gap = max_gap
        self.max_retries = max_retries
        self.retry_interval = retry_interval
        self.reorder_delay = reorder_delay
        self.max_age = max_age
        self.highest: int | None = None  # extended highest sequence number seen
        self.missing: dict[int, _Missing] = {}  # extended seq -> entry, ascending
        self.requested = 0  # sequence numbers put in NACKs (each retry counts)
        self.recovered = 0  # missing packets that arrived after all
        self.gave_up = 0  # missing packets no longer requested, never arrived

    def _extend(self, seq: int) -> int:
        highest = self.highest
        assert highest is not None
        delta = (seq - highest) & 0xFFFF
        return highest + delta if delta < 0x8000 else highest - (0x10000 - delta)

    def on_packet(self, seq: int, now: float) -> bool:
        """A (first transmission) packet arrived. True if it was missing."""
        if not 0 <= seq <= 0xFFFF:
            raise ValueError(f"sequence number must be 16-bit, got {seq}")
        if self.highest is None:
            self.highest = seq
            return False
        ext = self._extend(seq)
        gap = ext - self.highest
        if gap <= 0:
            return self._arrived(ext)  # reordered, late or a duplicate
        if gap >= MAX_DROPOUT:
            self.gave_up += len(self.missing)
            self.missing.clear()
            self.highest = ext
            return False
        if gap - 1 > self.max_gap:
            self.gave_up += gap - 1
        else:
            for missing in range(self.highest + 1, ext):
                self.missing[missing] = _Missing(now)
        self.highest = ext
        while len(self.missing) > self.max_missing:
            del self.missing[next(iter(self.missing))]
            self.gave_up += 1
        return False

    def on_recovered(self, seq: int) -> bool:
        """A retransmission (RTX) of ``seq`` arrived. True if it was missing."""
        if self.highest is None or not 0 <= seq <= 0xFFFF:
            return False
        return self._arrived(self._extend(seq))

    def _arrived(self, ext: int) -> bool:
        if self.missing.pop(ext, None) is None:
            return False
        self.recovered += 1
        return True

    def due(self, now: float, limit: int = 64) -> list[int]:
        """Sequence numbers (16-bit, in order) to NACK now, at most ``limit``;
        each one returned counts as one request."""
        out: list[int] = []
        expired: list[int] = []
        for ext, entry in self.missing.items():
            if now - entry.since > self.max_age:
                expired.append(ext)
            elif entry.sent_at is None:
                if now - entry.since >= self.reorder_delay and len(out) < limit:
                    entry.sent_at, entry.retries = now, 1
                    out.append(ext & 0xFFFF)
            elif now - entry.sent_at >= self.retry_interval:
                if entry.retries >= self.max_retries:
                    expired.append(ext)
                elif len(out) < limit:
                    entry.sent_at = now
                    entry.retries += 1
                    out.append(ext & 0xFFFF)
        for ext in expired:
            del self.missing[ext]
        self.gave_up += len(expired)
        self.requested += len(out)
        return out
