"""Loudest-N audio (sans-IO): which publishers' audio packets are forwarded.

Every audio packet's RFC 6464 level feeds the call's
:class:`~sfu.core.speech.SpeakerDetector`. A packet is forwarded when:

- it is not silence (level 127: digital silence, Opus DTX), except the first
  :data:`SILENT_TAIL` after sound, so the receiver's decoder fades out instead
  of concealing a loss;
- and its publisher is *audible*: one of the ``loudest`` first of the
  detector's ranking (0: everyone), or clearly speaking over them — the
  packet is :data:`BARGE_IN_DB` louder than the quietest of those, and at
  least at :data:`~sfu.core.speech.ACTIVE_LEVEL` — so someone who starts
  talking is heard from their first word, before the next window ranks them.

The decision is per publisher for the whole call, so each subscriber gets at
most ``loudest`` of the others (plus those barging in). A packet without a
level (a publisher that did not negotiate the extension) is always
forwarded: there is nothing to judge it by.

Dropping packets must not look like loss to a receiver: :class:`AudioGate`
shifts the sequence numbers of what it forwards down by the number it
dropped (per publisher stream), so each subscriber sees contiguous sequence
numbers with the timestamps' real gaps, as Opus DTX sends them.
"""

from __future__ import annotations

from sfu.core.packet import RtpView
from sfu.core.speech import ACTIVE_LEVEL, SILENCE, SpeakerDetector, level_of

__all__ = ["AudioGate", "StreamShift", "BARGE_IN_DB", "SILENT_TAIL"]

SILENT_TAIL = 3  # silent packets still forwarded after sound (the decoder's fade-out)
BARGE_IN_DB = 6.0  # louder than the quietest of the loudest N by this much: forwarded too


class StreamShift:
    """One publisher stream's sequence compaction: what the gate dropped is
    taken out of the sequence numbers of what it forwards."""

    __slots__ = ("dropped", "newest", "last_drop", "silent_run")

    def __init__(self) -> None:
        self.dropped = 0  # packets left out so far (mod 2**16)
        self.newest: int | None = None  # the newest original sequence number seen
        self.last_drop: int | None = None  # the original sequence number last left out
        self.silent_run = 0  # silent packets in a row

    def drop(self, view: RtpView) -> None:
        seq = view.sequence_number
        if self._ahead(seq):
            self.newest = seq
            self.dropped = (self.dropped + 1) & 0xFFFF
            self.last_drop = seq

    def keep(self, view: RtpView) -> bool:
        """Shift ``view``'s sequence number; False for a late packet that a
        drop since has made unplaceable (it is dropped, without counting)."""
        seq = view.sequence_number
        if self._ahead(seq):
            self.newest = seq
        elif self.last_drop is not None and ((self.last_drop - seq) & 0xFFFF) < 0x8000:
            return False  # reordered behind a drop: its place in the output is gone
        if self.dropped:
            view.sequence_number = (seq - self.dropped) & 0xFFFF
        return True

    def _ahead(self, seq: int) -> bool:
        return self.newest is None or 0 < ((seq - self.newest) & 0xFFFF) < 0x8000


class AudioGate:
    """The call's loudest-N selection over its :class:`SpeakerDetector`."""

    def __init__(self, loudest: int = 3, detector: SpeakerDetector | None = None) -> None:
        if loudest < 0:
            raise ValueError(f"loudest must be 0 (everyone) or a positive number of participants, not {loudest}")
        self.loudest = loudest
        self.detector = detector if detector is not None else SpeakerDetector()
        self.audible: frozenset[str] | None = None  # None: everyone (not limited, or not yet ranked)
        self._barge_level = -1  # a packet at this level or louder (lower) barges in; -1: none does
        self.dropped = 0  # packets not forwarded (silence and not audible)

    def admit(self, participant_id: str, view: RtpView, shift: StreamShift) -> bool:
        """Whether to forward this audio packet of ``participant_id``'s
        (observing its level); on True, ``view``'s sequence number is shifted."""
        level = level_of(view.audio_level)
        if level is not None:
            self.detector.observe(participant_id, level)
            if level >= SILENCE:
                shift.silent_run += 1
                keep = shift.silent_run <= SILENT_TAIL and self._audible(participant_id, level)
            else:
                shift.silent_run = 0
                keep = self._audible(participant_id, level)
            if not keep:
                shift.drop(view)
                self.dropped += 1
                return False
        if not shift.keep(view):
            self.dropped += 1
            return False
        return True

    def _audible(self, participant_id: str, level: int) -> bool:
        audible = self.audible
        return audible is None or participant_id in audible or level <= self._barge_level

    def update(self, now: float) -> bool:
        """Run the detector's window (when due) and re-rank; True when the
        speaker order changed."""
        if not self.detector.due(now):
            return False
        changed = self.detector.update(now)
        ranking = self.detector.ranking
        if self.loudest == 0 or len(ranking) <= self.loudest:
            self.audible = None
            self._barge_level = -1
            return changed
        top = ranking[: self.loudest]
        self.audible = frozenset(top)
        quietest = min(self.detector.smoothed_db(p) for p in top)
        # -dBov: a packet louder than the quietest by BARGE_IN_DB, and speech-like
        self._barge_level = min(ACTIVE_LEVEL, int(-(quietest + BARGE_IN_DB)))
        return changed

    def forget(self, participant_id: str) -> None:
        self.detector.forget(participant_id)

    @property
    def speakers(self) -> list[str]:
        return self.detector.speakers
