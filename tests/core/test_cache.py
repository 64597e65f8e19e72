from __future__ import annotations

import struct

import pytest

from sfu.core.cache import AUDIO_CAPACITY, VIDEO_CAPACITY, PacketCache
from sfu.core.packet import RtpView


def view(seq: int, timestamp: int | None = None) -> RtpView:
    ts = seq * 10 if timestamp is None else timestamp
    data = struct.pack("!BBHII", 0x80, 96, seq, ts, 1) + b"p"
    return RtpView(96, False, seq, ts, 1, b"p", None, None, data)


def seqs(views: list[RtpView]) -> list[int]:
    return [v.sequence_number for v in views]


def cached(cache: PacketCache, seq: int) -> int | None:
    found = cache.get(seq)
    return None if found is None else found.sequence_number


def test_defaults() -> None:
    assert (VIDEO_CAPACITY, AUDIO_CAPACITY) == (512, 128)


def test_put_get_and_overwrite() -> None:
    cache = PacketCache(8)
    assert cache.get(3) is None
    for s in range(20):
        cache.put(view(s))
    assert (cached(cache, 19), cached(cache, 12)) == (19, 12)
    assert cache.get(11) is None  # overwritten by 19: same slot, other seq
    assert cache.newest == 19


def test_get_checks_the_stored_sequence_number_across_wrap() -> None:
    cache = PacketCache(10)  # 65536 is not a multiple of 10
    for s in (65534, 65535, 0, 1):
        cache.put(view(s))
    assert [cached(cache, s) for s in (65534, 65535, 0, 1)] == [65534, 65535, 0, 1]
    assert cache.get(65526) is None and cache.get(11) is None
    assert cache.newest == 1


def test_since_last_keyframe_in_order_skipping_losses() -> None:
    cache = PacketCache(16)
    assert cache.since_last_keyframe() == []
    for s in (65530, 65531):
        cache.put(view(s))
    cache.put(view(65532), keyframe_start=True)
    for s in (65533, 65535, 1, 0, 2):  # 65534 lost, 0/1 reordered
        cache.put(view(s))
    assert cache.last_keyframe == 65532
    assert seqs(cache.since_last_keyframe()) == [65532, 65533, 65535, 0, 1, 2]


def test_newer_keyframe_replaces_older_but_not_the_reverse() -> None:
    cache = PacketCache(32)
    cache.put(view(10), keyframe_start=True)
    cache.put(view(20), keyframe_start=True)
    cache.put(view(15), keyframe_start=True)  # late retransmission of an older one
    cache.put(view(21))
    assert cache.last_keyframe == 20
    assert seqs(cache.since_last_keyframe()) == [20, 21]


def test_keyframe_evicted() -> None:
    cache = PacketCache(8)
    cache.put(view(100), keyframe_start=True)
    for s in range(101, 108):
        cache.put(view(s))
    assert len(cache.since_last_keyframe()) == 8
    cache.put(view(108))  # overwrites 100
    assert cache.since_last_keyframe() == []
    cache.put(view(109), keyframe_start=True)
    assert seqs(cache.since_last_keyframe()) == [109]


def test_sequence_jump_is_a_discontinuity() -> None:
    cache = PacketCache(8)
    cache.put(view(1000), keyframe_start=True)
    cache.put(view(40000), keyframe_start=True)  # "older" by 16-bit arithmetic, far away
    cache.put(view(40001))
    assert cache.newest == 40001
    assert seqs(cache.since_last_keyframe()) == [40000, 40001]


@pytest.mark.parametrize("capacity", [0, -1, 0x8001])
def test_bad_capacity(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        PacketCache(capacity)


def test_byte_rate_is_measured_over_the_newest_second_of_media() -> None:
    def view(seq: int, ts: int, size: int) -> RtpView:
        return RtpView(96, False, seq & 0xFFFF, ts & 0xFFFFFFFF, 1, bytes(size - 12), None, None, bytes(size))

    cache = PacketCache(512)
    assert cache.byte_rate(90000) is None
    cache.put(view(0, 0, 1000), keyframe_start=True)
    assert cache.byte_rate(90000) is None  # one instant of media tells nothing
    # 30 frames/s of 4 packets of 1,000 bytes: 120 KB/s, then twice that
    seq = 1
    for frame in range(1, 300):
        size = 1000 if frame < 150 else 2000
        for _ in range(4):
            cache.put(view(seq, 0xFFFFF000 + frame * 3000, size))  # timestamps wrap too
            seq += 1
    rate = cache.byte_rate(90000)
    assert rate is not None and 240_000 <= rate <= 250_000  # the newest second only
    with pytest.raises(ValueError, match="clock_rate > 0"):
        cache.byte_rate(0)


def test_a_cached_view_lets_go_of_the_whole_packet() -> None:
    """The cache keeps the payload and the parsed header, not the decrypted
    packet as well (it would hold every packet twice)."""
    cache = PacketCache(16)
    packet = view(7)
    payload = packet.payload
    cache.put(packet)
    stored = cache.get(7)
    assert stored is not None and stored.data == b"" and stored.payload == payload


def test_packets_older_than_max_age_are_let_go() -> None:
    cache = PacketCache(512, max_age=3 * 90_000)
    for i in range(300):  # 10 s of one packet per frame at 30 fps
        cache.put(view(1000 + i, timestamp=i * 3000), keyframe_start=i in (0, 200))
    newest = 1000 + 299
    kept = [s for s in range(1000, newest + 1) if cache.get(s) is not None]
    assert kept == list(range(newest - 90, newest + 1))  # 3 s of frames behind the newest, and it
    assert cache.since_last_keyframe() == []  # the keyframe of 3.3 s ago is gone: wait for a fresh one
    cache.put(view(newest + 1, timestamp=300 * 3000), keyframe_start=True)
    assert [v.sequence_number for v in cache.since_last_keyframe()] == [newest + 1]


def test_the_age_bound_keeps_a_frame_whole_and_survives_losses_and_wrap() -> None:
    cache = PacketCache(512, max_age=90_000)
    seq = 0xFFF0
    for frame in range(60):  # 3 packets per frame, 30 fps, every fifth packet lost
        for _ in range(3):
            if seq % 5:
                cache.put(view(seq, timestamp=frame * 3000))
            seq = (seq + 1) & 0xFFFF
    kept = [v for v in (cache.get(s & 0xFFFF) for s in range(0xFFF0, 0xFFF0 + 180)) if v is not None]
    assert {v.timestamp for v in kept} == {f * 3000 for f in range(29, 60)}  # 1 s: whole frames only
