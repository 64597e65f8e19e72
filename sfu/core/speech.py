"""Who is speaking, from RFC 6464 audio levels (sans-IO).

Each audio packet carries its level in -dBov (0 loudest, 127 silence). The
:class:`SpeakerDetector` collects the levels of every participant's packets
(one ``bytearray`` append per packet) and, once per window
(:data:`WINDOW`, when the caller says ``update(now)``), measures with numpy:

- the window's loudness: the mean *power* of its packets, a missing packet
  (DTX, loss, someone who stopped sending) counting as silence;
- its activity: the share of the packets of the last :data:`ACTIVITY_WINDOWS`
  windows at speech level (:data:`ACTIVE_LEVEL` or louder), so that clicks
  are not speech;
- a smoothed level: it rises at once with the loudness and falls by
  :data:`RELEASE_DB` a window at most (a hang-over of about a second between
  words).

A participant starts speaking when the smoothed level reaches
:data:`START_DB` in a window that is :data:`MIN_ACTIVITY` active, and stops
when it falls under :data:`STOP_DB` (hysteresis: no flapping at one
threshold). ``speakers`` lists those speaking, loudest first by an average
of their windows' loudness (:data:`AVERAGING`; someone who starts speaking
enters it at their current level); two swap places only when the
one behind is :data:`SWAP_MARGIN_DB` louder (no reordering on every window
between two people talking at once). ``ranking`` is everyone
heard, speakers first, then by how recently they spoke: what the loudest-N
audio selection (``sfu.routing.audio``) keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SILENCE", "SpeakerDetector", "level_of"]

SILENCE = 127  # the RFC 6464 level of digital silence (and of Opus DTX)
WINDOW = 0.1  # seconds of levels measured at once
PACKET_TIME = 0.02  # seconds of audio per packet expected (Opus' 20 ms): fewer is silence
MAX_LEVELS = 64  # levels kept per participant and window (a flood is not measured twice)
FLOOR_DB = -127.0  # the level of silence, in dBov
ACTIVE_LEVEL = 55  # a packet at -55 dBov or louder is speech-like
MIN_ACTIVITY = 0.3  # the share of recent packets that must be speech-like to start speaking...
ACTIVITY_WINDOWS = 3  # ...over this many windows
# (0.3 over 3 windows: 100 ms of speech starts someone; a click of 1-2 packets does not)
AVERAGING = 0.2  # weight of a new window in the loudness average that orders speakers
START_DB = -50.0  # the smoothed level at which someone starts speaking...
STOP_DB = -60.0  # ...and under which they stop
RELEASE_DB = 3.0  # the smoothed level falls at most this much per window
SWAP_MARGIN_DB = 3.0  # a speaker overtakes the one ahead only by this much


def level_of(audio_level: bytes | None) -> int | None:
    """The level (0..127, -dBov) of an RFC 6464 element's byte (its V bit
    dropped); None without one."""
    if not audio_level:
        return None
    return audio_level[0] & 0x7F


@dataclass(slots=True)
class _Voice:
    """One participant's levels and state."""

    levels: bytearray = field(default_factory=bytearray)  # this window's
    smoothed: float = FLOOR_DB
    average: float = FLOOR_DB  # the slower average that orders speakers
    active: list[tuple[float, float]] = field(default_factory=list)  # (speech-like, expected) per recent window
    speaking: bool = False
    last_spoke: float = -math.inf  # when they were last speaking
    joined: int = 0  # order of first appearance (ties in the ranking)


class SpeakerDetector:
    """Speaker order of one call. Time is passed in; nothing here blocks."""

    def __init__(self, window: float = WINDOW) -> None:
        if not window > 0:
            raise ValueError(f"the window must be a positive number of seconds, not {window!r}")
        self.window = window
        self._voices: dict[str, _Voice] = {}
        self._joined = 0
        self._last_update: float | None = None
        self.speakers: list[str] = []  # speaking now, loudest first
        self.ranking: list[str] = []  # everyone heard: speakers first, then most recently speaking

    # -- per packet --------------------------------------------------------------
    def observe(self, participant_id: str, level: int) -> None:
        """One packet of ``participant_id``'s audio at ``level`` (0..127)."""
        voice = self._voices.get(participant_id)
        if voice is None:
            voice = self._voices[participant_id] = _Voice(joined=self._joined)
            self._joined += 1
        if len(voice.levels) < MAX_LEVELS:
            voice.levels.append(level & 0x7F)

    def forget(self, participant_id: str) -> None:
        """``participant_id`` left (or stopped publishing audio)."""
        if self._voices.pop(participant_id, None) is not None:
            self.speakers = [p for p in self.speakers if p != participant_id]
            self.ranking = [p for p in self.ranking if p != participant_id]

    def smoothed_db(self, participant_id: str) -> float:
        """The smoothed level of ``participant_id`` in dBov (FLOOR_DB when unknown)."""
        voice = self._voices.get(participant_id)
        return FLOOR_DB if voice is None else voice.smoothed

    def speaking(self, participant_id: str) -> bool:
        voice = self._voices.get(participant_id)
        return voice is not None and voice.speaking

    # -- per window ---------------------------------------------------------------
    def due(self, now: float) -> bool:
        """Whether a window has passed since the last update."""
        return self._last_update is None or now - self._last_update >= self.window or now < self._last_update

    def update(self, now: float) -> bool:
        """Measure the window that ends at ``now``; True when ``speakers`` changed."""
        elapsed = self.window if self._last_update is None else now - self._last_update
        self._last_update = now
        # a late update (a stalled loop) measures what came, over the time that passed
        expected = max(1.0, min(elapsed, 10 * self.window) / PACKET_TIME)
        for voice in self._voices.values():
            self._measure(voice, expected, now)
        before = self.speakers
        self.speakers = self._order([p for p, v in self._voices.items() if v.speaking])
        self.ranking = self.speakers + sorted(
            (p for p, v in self._voices.items() if not v.speaking),
            key=lambda p: (-self._voices[p].last_spoke, -self._voices[p].smoothed, self._voices[p].joined),
        )
        return self.speakers != before

    def _measure(self, voice: _Voice, expected: float, now: float) -> None:
        levels = np.frombuffer(bytes(voice.levels), dtype=np.uint8)
        count = max(float(len(levels)), expected)
        if len(levels):
            power = float(np.sum(np.power(10.0, levels.astype(np.float64) / -10.0))) / count
            loudness = max(FLOOR_DB, 10.0 * math.log10(power)) if power > 0 else FLOOR_DB
            active = float(np.count_nonzero(levels <= ACTIVE_LEVEL))
        else:
            loudness, active = FLOOR_DB, 0.0
        voice.levels.clear()
        voice.active.append((active, count))
        del voice.active[:-ACTIVITY_WINDOWS]
        activity = sum(a for a, _ in voice.active) / (ACTIVITY_WINDOWS * expected)
        voice.smoothed = max(loudness, voice.smoothed - RELEASE_DB)
        voice.average += AVERAGING * (loudness - voice.average)
        if voice.speaking:
            voice.speaking = voice.smoothed >= STOP_DB
        elif voice.smoothed >= START_DB and activity >= MIN_ACTIVITY:
            voice.speaking = True
            voice.average = max(voice.average, voice.smoothed)  # ranked by how loud they start, not from silence
        if voice.speaking:
            voice.last_spoke = now

    def _order(self, speaking: list[str]) -> list[str]:
        """``speaking`` loudest first, keeping the previous order unless the
        one behind is louder by SWAP_MARGIN_DB (a stable insertion sort)."""
        rank = {p: i for i, p in enumerate(self.speakers)}
        level = {p: self._voices[p].average for p in speaking}
        # newcomers go after those already speaking, by their level
        ordered = sorted(speaking, key=lambda p: (rank.get(p, len(rank)), -level[p]))
        for i in range(1, len(ordered)):
            j = i
            while j > 0 and level[ordered[j]] > level[ordered[j - 1]] + SWAP_MARGIN_DB:
                ordered[j - 1], ordered[j] = ordered[j], ordered[j - 1]
                j -= 1
        return ordered
