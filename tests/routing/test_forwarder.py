"""The forwarding core, sans IO: thousands of packets with loss in milliseconds."""

from __future__ import annotations

import random
import struct

from aiortc.rtp import RtpPacket, unwrap_rtx

from sfu.core.extensions import Ext
from sfu.core.rewriter import Rewriter
from sfu.routing.forwarder import VIDEO_EPOCH_SKIP, Forwarder, Inbound, Outlet
from sfu.routing.layout import TrackKey

VP8 = 96
KINDS = {1: Ext.MID, 3: Ext.ABS_SEND_TIME}


def vp8_packet(seq: int, ts: int, keyframe: bool, start: bool = True, ssrc: int = 1111) -> bytes:
    descriptor = bytes([0x10 if start else 0x00])  # S bit, PID 0
    vp8_header = bytes([0x00 if keyframe else 0x01, 0, 0])  # P bit clear = keyframe
    payload = descriptor + (vp8_header if start else b"") + bytes(100)
    ext = bytes([0x10, ord("0"), 0x32, 0, 0, 0, 0, 0])  # mid "0", abs-send-time; padded to 8
    header = struct.pack("!BBHII", 0x90, VP8, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    return header + struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext + payload


def subscriber(name: str) -> tuple[Outlet[str], Rewriter]:
    outlet: Outlet[str] = Outlet("video", name)
    rewriter = Rewriter(ssrc=hash(name) & 0xFFFFFFFF, payload_type=97, ext_ids={Ext.MID: 4, Ext.ABS_SEND_TIME: 2},
                        mid=name[-1], rtx_ssrc=(hash(name) + 1) & 0xFFFFFFFF, rtx_payload_type=98)
    return outlet, rewriter


def test_fan_out_rewrites_per_subscriber_and_waits_for_a_keyframe() -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    subs = [subscriber(f"sub{i}") for i in range(3)]
    for outlet, rewriter in subs:
        fwd.attach(outlet, inbound, 0.0)
        packets, want_keyframe = fwd.ready(outlet, rewriter, 0.0)
        assert packets == []  # nothing cached yet
    assert want_keyframe is False  # the throttle let the first request through only
    # delta frames are held back until a keyframe starts
    assert fwd.on_rtp(inbound, vp8_packet(10, 3000, keyframe=False), 0x123456) == []
    out = fwd.on_rtp(inbound, vp8_packet(11, 6000, keyframe=True), 0x123456)
    assert [sink for sink, _ in out] == ["sub0", "sub1", "sub2"]
    for (sink, data), (_, rewriter) in zip(out, subs):
        p = RtpPacket.parse(data)
        assert (p.ssrc, p.payload_type) == (rewriter.ssrc, 97)
        assert p.payload == vp8_packet(11, 6000, True)[24:]
    assert len(fwd.on_rtp(inbound, vp8_packet(12, 6000, keyframe=False, start=False), 1)) == 3


def test_malformed_and_foreign_packets_are_dropped_not_raised() -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    outlet, rewriter = subscriber("sub0")
    fwd.attach(outlet, inbound, 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    good = vp8_packet(1, 0, keyframe=True)
    rng = random.Random(7)
    garbage = [b"", b"\x80", bytes(11), b"\x00" * 40, bytes([0x80, 200]) + bytes(30)]
    garbage += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))) for _ in range(2000)]
    garbage += [good[:n] for n in range(len(good))]
    rtx_like = bytearray(good)
    rtx_like[1] = 97  # another payload type (RTX): not forwarded as media
    garbage.append(bytes(rtx_like))
    assert len(fwd.on_rtp(inbound, good, 0)) == 1
    for data in garbage:
        try:
            fwd.on_rtp(inbound, data, 0)
        except Exception as exc:  # pragma: no cover - the assertion below explains
            raise AssertionError(f"forwarder raised on {data!r}: {exc!r}") from exc
    assert fwd.dropped > 1000
    assert len(fwd.on_rtp(inbound, vp8_packet(2, 90, keyframe=False), 0)) == 1  # and it still forwards


def test_a_wild_sequence_number_is_not_forwarded() -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    outlet, rewriter = subscriber("sub0")
    fwd.attach(outlet, inbound, 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    assert len(fwd.on_rtp(inbound, vp8_packet(100, 0, keyframe=True), 0)) == 1
    assert fwd.on_rtp(inbound, vp8_packet(30000, 0, keyframe=False), 0) == []  # forged or corrupt
    out = fwd.on_rtp(inbound, vp8_packet(101, 0, keyframe=False), 0)
    assert [RtpPacket.parse(d).sequence_number for _, d in out] == [(rewriter.last_sequence_number) & 0xFFFF]


def test_ten_thousand_packets_with_loss_reorder_and_nack_repair() -> None:
    rng = random.Random(1)
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    outlet, rewriter = subscriber("sub0")
    fwd.attach(outlet, inbound, 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    sent = [vp8_packet(60000 + i, 90 * i, keyframe=(i % 300 == 0)) for i in range(10_000)]  # wraps at 65536
    arrivals = [p for p in sent if rng.random() > 0.03]  # 3% lost before the SFU
    for i in range(17, len(arrivals) - 1, 17):  # some reordering (after the first keyframe)
        arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
    received: dict[int, bytes] = {}
    for data in arrivals:
        for _, out in fwd.on_rtp(inbound, data, 0):
            p = RtpPacket.parse(out)
            received[p.sequence_number] = p.payload
    # the output sequence mirrors the input: same gaps, so the subscriber can NACK them
    in_seqs = {struct.unpack("!H", d[2:4])[0] for d in arrivals}
    assert len(received) == len(in_seqs)
    # a NACK for the newest packets is answered from the cache with RTX
    newest = sorted(received, key=lambda s: (s - rewriter.last_sequence_number) & 0xFFFF)[-50:]
    repairs = fwd.on_nack(outlet, newest, 0.0)
    assert len(repairs) == 50
    for _, data in repairs:
        rtx = RtpPacket.parse(data)
        assert (rtx.ssrc, rtx.payload_type) == (rewriter.rtx_ssrc, 98)
        original = unwrap_rtx(rtx, payload_type=97, ssrc=rewriter.ssrc)
        assert received[original.sequence_number] == original.payload


def cached_keyframe() -> tuple[Forwarder[str], Inbound[str]]:
    """A forwarder whose video inbound has cached packets 101-104 since a keyframe (101)."""
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    for i in range(5):
        fwd.on_rtp(inbound, vp8_packet(100 + i, 3000 * i, keyframe=(i == 1)), 0)
    return fwd, inbound


def test_a_new_subscriber_gets_the_cached_keyframe_at_once_and_picture_loss_is_throttled() -> None:
    fwd, inbound = cached_keyframe()
    late, rewriter = subscriber("late")
    fwd.attach(late, inbound, 10.0)
    replay, want_keyframe = fwd.ready(late, rewriter, 10.0)
    assert [RtpPacket.parse(d).payload for _, d in replay] == [vp8_packet(100 + i, 0, i == 1)[24:] for i in range(1, 5)]
    assert want_keyframe is True  # and the publisher is asked for a fresh one
    assert fwd.on_picture_loss(late, 10.5) is None  # the next within a second waits...
    assert fwd.due_keyframes([inbound], 10.9) == []
    assert fwd.due_keyframes([inbound], 11.1) == [inbound]  # ...and is not lost
    assert fwd.due_keyframes([inbound], 11.2) == []
    assert fwd.on_picture_loss(late, 12.2) is inbound  # a second later, PLIs go through again


def test_switching_source_skips_a_marked_gap_then_stays_continuous() -> None:
    fwd: Forwarder[str] = Forwarder()
    alice: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS)
    bob: Inbound[str] = Inbound(TrackKey("bob", "video"), VP8, KINDS)
    outlet, rewriter = subscriber("sub0")
    fwd.attach(outlet, alice, 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    seqs = []
    for i in range(10):
        seqs += [RtpPacket.parse(d).sequence_number for _, d in fwd.on_rtp(alice, vp8_packet(500 + i, i, i == 0), 0)]
    fwd.attach(outlet, None, 1.0)  # alice left: the section goes quiet
    assert fwd.on_rtp(alice, vp8_packet(510, 10, False), 0) == []
    fwd.on_rtp(bob, vp8_packet(9000, 0, True, ssrc=2222), 0)
    replay, _ = fwd.attach(outlet, bob, 2.0)  # the section is reused for bob
    seqs += [RtpPacket.parse(d).sequence_number for _, d in replay]
    for i in range(1, 5):
        seqs += [RtpPacket.parse(d).sequence_number for _, d in fwd.on_rtp(bob, vp8_packet(9000 + i, i, False, ssrc=2222), 0)]
    first_of_bob = (seqs[9] + 1 + VIDEO_EPOCH_SKIP) & 0xFFFF  # a marked discontinuity, then continuous
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(10)] + [(first_of_bob + i) & 0xFFFF for i in range(5)]


def test_in_a_storm_a_subscriber_starts_with_the_keyframe_just_asked_for_not_a_replay() -> None:
    fwd, inbound = cached_keyframe()
    first, first_rw = subscriber("first")
    fwd.attach(first, inbound, 10.0)
    replay, want_keyframe = fwd.ready(first, first_rw, 10.0)
    assert len(replay) == 4 and want_keyframe  # the cache, and a fresh keyframe asked for
    second, second_rw = subscriber("second")
    fwd.attach(second, inbound, 10.1)
    replay, want_keyframe = fwd.ready(second, second_rw, 10.1)
    assert replay == [] and not want_keyframe and second.waiting_keyframe  # that keyframe is on its way
    out = fwd.on_rtp(inbound, vp8_packet(105, 3000 * 5, keyframe=False), 0)
    assert [s for s, _ in out] == ["first"]  # a delta frame: not for the one waiting
    out = fwd.on_rtp(inbound, vp8_packet(106, 3000 * 6, keyframe=True), 0)
    assert sorted(s for s, _ in out) == ["first", "second"]  # the keyframe: both
    third, third_rw = subscriber("third")
    fwd.attach(third, inbound, 10.3)
    replay, _ = fwd.ready(third, third_rw, 10.3)
    assert [RtpPacket.parse(d).payload for _, d in replay] == [vp8_packet(106, 0, True)[24:]]  # answered: replay again


def test_a_keyframe_asked_for_that_never_comes_does_not_hold_up_later_subscribers() -> None:
    fwd, inbound = cached_keyframe()
    first, first_rw = subscriber("first")
    fwd.attach(first, inbound, 10.0)
    assert fwd.ready(first, first_rw, 10.0)[1]
    late, late_rw = subscriber("late")
    fwd.attach(late, inbound, 10.6)  # the publisher ignored that request
    replay, _ = fwd.ready(late, late_rw, 10.6)
    assert len(replay) == 4 and not late.waiting_keyframe
