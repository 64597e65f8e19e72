"""How busy an SFU process is, for placing new calls on the least-loaded one.

Forwarded packets per second are estimated from what the SFU already counts:
each publisher stream's received packets (its RFC 3550 statistics) times the
subscribers its track goes to. Nothing is added to the per-packet path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from sfu.call import Call


class LoadMeter:
    def __init__(self) -> None:
        self._forwarded = 0  # packets forwarded up to the last look (estimate)
        self._seen: dict[tuple[str, int], int] = {}  # (participant, SSRC) -> received then
        self._at: float | None = None
        self._rate = 0.0

    def forwarded_per_s(self, calls: Iterable[Call], now: float) -> float:
        """Packets forwarded per second since the previous call (0 the first time)."""
        seen: dict[tuple[str, int], int] = {}
        forwarded = 0
        for call in calls:
            for pid, session in list(call.sessions.items()):
                ingress = session.ingress
                for ssrc, stream in list(ingress.feedback.streams.items()):
                    inbound = ingress.by_ssrc.get(ssrc)
                    received = stream.stats.received
                    seen[(pid, ssrc)] = received
                    fresh = received - self._seen.get((pid, ssrc), received)
                    if inbound is not None and fresh > 0:
                        forwarded += fresh * len(inbound.outlets)
        self._seen = seen
        if self._at is not None and now > self._at:
            self._rate = forwarded / (now - self._at)
        self._at = now
        self._forwarded += forwarded
        return self._rate
