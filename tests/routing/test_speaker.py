"""Whom a WHEP viewer follows (sfu/routing/speaker.py)."""

from __future__ import annotations

import struct

from sfu.core.cache import PacketCache
from sfu.core.extensions import Ext
from sfu.core.packet import RtpView
from sfu.routing.speaker import MIN_HOLD_POLLS, SWITCH_POLLS, UNKNOWN_LEVEL, RecentSpeaker, level_since

KINDS = {1: Ext.AUDIO_LEVEL}


def packet(seq: int, level: int | None) -> RtpView:
    header = struct.pack("!BBHII", 0x90 if level is not None else 0x80, 111, seq, seq * 960, 7)
    ext = struct.pack("!HHBBxx", 0xBEDE, 1, 0x10, 0x80 | level) if level is not None else b""
    return RtpView.parse(header + ext + b"\x01" * 20, KINDS)


def test_level_since_reads_only_what_arrived_since_the_last_look() -> None:
    cache = PacketCache(128)
    assert level_since(cache, None) == (None, None)
    for seq, level in ((1, 90), (2, 30), (3, 60)):
        cache.put(packet(seq, level))
    assert level_since(cache, None) == (30, 3)
    assert level_since(cache, 3) == (None, 3)  # nothing new: not flowing
    cache.put(packet(4, 70))
    assert level_since(cache, 3) == (70, 4)
    cache.put(packet(5, None))
    assert level_since(cache, 4) == (UNKNOWN_LEVEL, 5)  # no extension: speaking while it flows


def test_the_loudest_takes_over_after_leading_a_while_and_silence_keeps_the_last() -> None:
    s = RecentSpeaker()
    assert s.update({"a": 20, "b": 40}, ["a", "b"]) == ("a", "a")
    for _ in range(MIN_HOLD_POLLS - 1):
        assert s.update({"a": 127, "b": 10}, ["a", "b"]) == ("a", "a")  # a holds the floor a while
    for _ in range(SWITCH_POLLS - 1):
        assert s.update({"a": 30, "b": 10}, ["a", "b"]) == ("a", "a")  # b leads, not long enough yet
    assert s.update({"a": 30, "b": 10}, ["a", "b"]) == ("b", "b")
    assert s.update({"a": 127, "b": 127}, ["a", "b"]) == ("b", "b")  # silence: the last speaker stays
    for _ in range(MIN_HOLD_POLLS):
        assert s.update({}, ["a", "b"]) == ("b", "b")
    assert s.update({"a": 40}, ["a", "b"]) == ("a", "a")  # the speaker fell silent: at the next look


def test_a_speaker_without_video_keeps_the_last_picture_and_leaving_frees_the_place() -> None:
    s = RecentSpeaker()
    assert s.update({}, ["v"]) == (None, "v")  # nobody there yet: the first with video
    assert RecentSpeaker().update({"q": 120, "r": 100}, []) == ("r", None)  # all silent: the loudest flowing
    assert s.update({"a": 20}, ["v"]) == ("a", "v")
    s.forget({"v"})
    assert s.update({}, ["v"]) == (None, "v")
    s.forget(set())
    assert s.update({}, []) == (None, None)
