"""Who a WHEP viewer sees and hears: the current speaker (pure).

Who speaks is the call's own detector's word (``sfu.core.speech``: speech
activity, smoothing, hysteresis) for the tracks whose packets carry RFC 6464
levels; for the others, the most recent audio activity the SFU can see, read
from each audio track's packet cache (no work on the per-packet path): the
packets that arrived since the last look. A track without the audio-level extension
(Opus looped by a test peer, GStreamer without ``rtphdrextclientaudiolevel``)
counts as speaking at :data:`UNKNOWN_LEVEL` while its packets flow, so a
measured voice wins over it, and it wins over silence.

The audio is the loudest speaker's; someone else takes over after leading
:data:`SWITCH_POLLS` looks in a row, or at the next look when the current
one fell silent, but never before the current one has held the floor
:data:`MIN_HOLD_POLLS` looks (no flapping between a voice that pauses and
another); at once when the current one left. When nobody speaks, the last
speaker stays (before anyone spoke: the loudest whose audio flows). The video is the speaker's, or, for a speaker without video,
the last speaker who had one; before anyone spoke, the first publisher with
video.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from sfu.core.cache import PacketCache

SPEAKING_LEVEL = 50  # RFC 6464 level (-dBov) at or below which a packet is speech
UNKNOWN_LEVEL = 50  # a flowing track without levels counts as speech this loud
SWITCH_POLLS = 2  # looks in a row another speaker must lead to take over
MIN_HOLD_POLLS = 6  # looks a new speaker keeps the floor at least (1.5 s at 0.25 s a look)
MAX_SCAN = 32  # packets read back from a cache per look (about 0.6 s of 20 ms Opus)


class SpeakerSource(Protocol):
    """What a viewer follows (the call's speaker order may replace this one)."""

    def update(self, levels: dict[str, int], with_video: Iterable[str]) -> tuple[str | None, str | None]:
        """``levels``: participant -> loudest level heard since the last look,
        for those whose audio flowed; ``with_video``: who publishes video, in
        join order. Returns (audio from, video from)."""
        ...


def level_since(cache: PacketCache, seen: int | None) -> tuple[int | None, int | None]:
    """The loudest RFC 6464 level among the packets cached after sequence
    number ``seen`` (None: nothing new), and the newest sequence number."""
    newest = cache.newest
    if newest is None or newest == seen:
        return None, newest
    count = MAX_SCAN if seen is None else min(MAX_SCAN, (newest - seen) & 0xFFFF)
    loudest: int | None = None
    for i in range(count):
        view = cache.get((newest - i) & 0xFFFF)
        if view is None:
            continue
        raw = view.audio_level
        level = raw[0] & 0x7F if raw else UNKNOWN_LEVEL
        loudest = level if loudest is None else min(loudest, level)
    return loudest, newest


class RecentSpeaker:
    def __init__(self) -> None:
        self.audio: str | None = None
        self.video: str | None = None
        self._leader: str | None = None
        self._lead = 0
        self._held = 0  # looks since the current speaker took the floor

    def update(self, levels: dict[str, int], with_video: Iterable[str]) -> tuple[str | None, str | None]:
        speaking = {pid: level for pid, level in levels.items() if level <= SPEAKING_LEVEL}
        current = self.audio
        self._held += 1
        if speaking:
            best = min(speaking, key=lambda pid: (speaking[pid], pid != current))
            if current is None:
                self._take(best)
            elif self._held < MIN_HOLD_POLLS:
                pass
            elif current not in speaking:
                self._take(best)
            elif best != current and speaking[best] < speaking[current]:
                self._lead = self._lead + 1 if best == self._leader else 1
                self._leader = best
                if self._lead >= SWITCH_POLLS:
                    self._take(best)
            else:
                self._leader, self._lead = None, 0
        elif current is None and levels:
            self._take(min(levels, key=lambda pid: levels[pid]))  # nobody speaks yet: the loudest there is
        videos = list(with_video)
        if self.audio in videos:
            self.video = self.audio
        elif self.video not in videos:
            self.video = videos[0] if videos else None
        return self.audio, self.video

    def _take(self, pid: str) -> None:
        self.audio = pid
        self._leader, self._lead, self._held = None, 0, 0

    def forget(self, present: Iterable[str]) -> None:
        """Drop who left (their place goes to the next speaker at once)."""
        here = set(present)
        if self.audio not in here:
            self.audio = None
        if self.video not in here:
            self.video = None
