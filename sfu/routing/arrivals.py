"""Tracks on their way into a call: when a subscribe offer should wait (sans-IO).

In a join storm every newcomer's tracks renegotiate every other
subscriber's connection. With at most one offer outstanding per subscriber
(docs/protocol.md), a subscriber that offers as soon as one track arrives
is still busy with that offer when the next arrives, and then offers again:
in a 32-person storm each subscriber got 4-6 offers of up to 62 sections,
every one of them built, parsed and applied on both sides. That O(N²)
signaling work, not the media, is what kept people waiting 5-10 s for
everyone's RTP.

:class:`Arrivals` knows which tracks are about to appear: a participant who
joined moments ago and has not published yet, and a publish answered whose
tracks have not arrived (its connection's ICE and DTLS are not up yet). A
subscriber's offer waits while anyone else's tracks are on their way, at
most :data:`OFFER_HOLD` after the change that prompted it, so one offer
carries the whole storm. Outside a storm nothing is pending and offers go
out as before; a publisher that never connects stops counting after its
grace period. Time is passed in (seconds, any monotonic origin).
"""

from __future__ import annotations

from collections.abc import Iterable

from sfu.routing.layout import TrackKey

__all__ = ["Arrivals", "OFFER_HOLD", "JOIN_GRACE", "CONNECT_GRACE"]

OFFER_HOLD = 1.0  # seconds an offer may wait for tracks on their way, counted from the change that prompted it
JOIN_GRACE = 1.0  # a participant who joined this recently and has not published yet is about to
CONNECT_GRACE = 3.0  # an answered publish whose tracks have not arrived in this long is not waited for


class Arrivals:
    """Whose tracks one call is still expecting, and until when it is worth waiting."""

    __slots__ = ("join_grace", "connect_grace", "_joined", "_expected")

    def __init__(self, join_grace: float = JOIN_GRACE, connect_grace: float = CONNECT_GRACE) -> None:
        self.join_grace = join_grace
        self.connect_grace = connect_grace
        self._joined: dict[str, float] = {}  # participant -> when it joined (not published yet)
        self._expected: dict[str, tuple[float, set[TrackKey]]] = {}  # participant -> (answered at, tracks not arrived)

    def joined(self, participant_id: str, now: float) -> None:
        """A participant got its `welcome`: its publish offer usually follows within a second."""
        self._joined[participant_id] = now

    def answered(self, participant_id: str, tracks: Iterable[TrackKey], now: float) -> None:
        """Its publish offer was answered, accepting ``tracks`` that have not arrived yet
        (they do once its connection is up); none: nothing to wait for."""
        self._joined.pop(participant_id, None)
        waiting = set(tracks)
        if waiting:
            self._expected[participant_id] = (now, waiting)
        else:
            self._expected.pop(participant_id, None)

    def arrived(self, key: TrackKey) -> None:
        """A track is in the call (its publisher's connection is up)."""
        entry = self._expected.get(key.participant_id)
        if entry is None:
            return
        entry[1].discard(key)
        if not entry[1]:
            del self._expected[key.participant_id]

    def left(self, participant_id: str) -> None:
        self._joined.pop(participant_id, None)
        self._expected.pop(participant_id, None)

    def pending_until(self, now: float, exclude: str) -> float | None:
        """None when no one but ``exclude`` (the subscriber asking: its own
        tracks are never offered to it) has tracks on their way; else the
        time after which those still pending stop counting."""
        until: float | None = None
        for pid, at in self._joined.items():
            if pid != exclude and now - at < self.join_grace:
                until = max(until or now, at + self.join_grace)
        for pid, (at, _) in self._expected.items():
            if pid != exclude and now - at < self.connect_grace:
                until = max(until or now, at + self.connect_grace)
        return until

    def offer_at(self, changed_at: float, now: float, exclude: str, hold: float = OFFER_HOLD) -> float | None:
        """When a subscriber whose tracks changed at ``changed_at`` should
        offer: None for now, else the time to look again (tracks may arrive
        sooner: look again then too)."""
        until = self.pending_until(now, exclude)
        deadline = changed_at + hold
        if until is None or now >= deadline:
            return None
        return min(until, deadline)
