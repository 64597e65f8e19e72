"""The Forwarder keeps its native fast group in sync with the outlets' states.

Subscribers are real loopback receivers with real SRTP (see loopback.py); a
second, pure-Python Forwarder with reference Rewriters gets the same packets,
and every subscriber must receive exactly what the Python one returns.
"""

from __future__ import annotations

import random
from typing import Any, Iterator

import pytest

import sfu.native as native
from sfu.core.extensions import Ext
from sfu.core.rewriter import Rewriter as Reference
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.routing.layout import TrackKey
from tests.routing.test_forwarder import KINDS, VP8, vp8_packet

from .loopback import Receiver, udp_socket

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason=f"native fan-out not built: {native.BUILD_ERROR}")

SUB_IDS = {Ext.MID: 4, Ext.ABS_SEND_TIME: 2}


class Call:
    """The same three subscribers behind a native and a pure-Python forwarder."""

    def __init__(self, sender: Any) -> None:
        from sfu.rtc.fanout import NativeGroup

        self.fast: Forwarder[Any] = Forwarder(NativeGroup)
        self.slow: Forwarder[str] = Forwarder()
        self.fast_in: Inbound[Any] = Inbound(TrackKey("pub", "video"), VP8, KINDS)
        self.slow_in: Inbound[str] = Inbound(TrackKey("pub", "video"), VP8, KINDS)
        self.receivers = [Receiver(sender) for _ in range(3)]
        self.fast_out = [Outlet("video", r) for r in self.receivers]
        self.slow_out: list[Outlet[str]] = [Outlet("video", str(i)) for i in range(3)]
        for i in range(3):
            args: dict[str, Any] = dict(ssrc=100 + i, payload_type=97, ext_ids=SUB_IDS, mid=str(i), rtx_ssrc=200 + i,
                                        rtx_payload_type=98, first_sequence_number=i, first_timestamp=i)  # fmt: skip
            for fwd, inbound, outlet, cls in ((self.fast, self.fast_in, self.fast_out[i], native.Rewriter),
                                              (self.slow, self.slow_in, self.slow_out[i], Reference)):  # fmt: skip
                fwd.attach(outlet, inbound, 0.0)
                fwd.ready(outlet, cls(**args), 0.0)

    def packet(self, data: bytes) -> list[Any]:
        """Forward ``data`` on both; check what arrives; the native Forwarder's Python-path sinks."""
        expected = {int(sink): packet for sink, packet in self.slow.on_rtp(self.slow_in, data, 0x1234)}
        returned = self.fast.on_rtp(self.fast_in, data, 0x1234)
        for sink, packet in returned:
            sink.send(packet)
        for i, receiver in enumerate(self.receivers):
            assert receiver.drain() == ([expected[i]] if i in expected else [])
        return [sink for sink, _ in returned]

    def group_size(self) -> int:
        assert self.fast_in.group is not None
        return len(self.fast_in.group)  # type: ignore[arg-type]


@pytest.fixture
def call() -> Iterator[Call]:
    sender = udp_socket()
    c = Call(sender)
    yield c
    for r in c.receivers:
        r.close()
    sender.close()


def test_waiting_for_a_keyframe_is_the_python_path_then_the_group(call: Call) -> None:
    assert call.group_size() == 0  # all wait for a keyframe
    assert call.packet(vp8_packet(10, 3000, keyframe=False)) == []
    assert call.packet(vp8_packet(11, 6000, keyframe=True)) == call.receivers  # sent by Python, then in the group
    assert call.group_size() == 3 and all(o.fast for o in call.fast_out)
    for seq in range(12, 60):
        assert call.packet(vp8_packet(seq, seq * 3000, keyframe=False)) == []  # all through the group


def test_hold_and_release_move_an_outlet_out_of_the_group_and_back(call: Call) -> None:
    call.packet(vp8_packet(1, 0, keyframe=True))
    held = call.fast_out[1]
    call.fast.hold(held)
    assert call.group_size() == 2 and not held.fast
    assert call.packet(vp8_packet(2, 3000, keyframe=False)) == [call.receivers[1]]
    call.fast.release(held)
    assert call.group_size() == 3 and held.fast
    assert call.packet(vp8_packet(3, 6000, keyframe=False)) == []


def test_leaving_and_switching_sources_leave_the_group(call: Call) -> None:
    call.packet(vp8_packet(1, 0, keyframe=True))
    call.fast.attach(call.fast_out[0], None, 1.0)
    call.slow.attach(call.slow_out[0], None, 1.0)
    assert call.group_size() == 2
    assert call.packet(vp8_packet(2, 3000, keyframe=False)) == []
    other: Inbound[Any] = Inbound(TrackKey("other", "video"), VP8, KINDS)
    packets, _ = call.fast.attach(call.fast_out[2], other, 2.0)
    assert packets == [] and call.fast_out[2].waiting_keyframe and not call.fast_out[2].fast
    assert call.group_size() == 1 and other.group is not None and len(other.group) == 0  # type: ignore[arg-type]
    for sink, packet in call.fast.on_rtp(other, vp8_packet(500, 0, keyframe=True, ssrc=9), 0):
        sink.send(packet)  # the keyframe that starts it, on the Python path
    assert len(other.group) == 1  # type: ignore[arg-type]
    call.fast.on_rtp(other, vp8_packet(501, 0, keyframe=False, ssrc=9), 0)  # then the group
    assert len(call.receivers[2].drain()) == 2


def test_long_random_run_matches_the_python_forwarder(call: Call) -> None:
    rng = random.Random(8)
    seq = 0
    for n in range(3000):
        seq += 1 if rng.random() > 0.05 else 2
        call.packet(vp8_packet(seq, seq * 3000, keyframe=n % 300 == 0))
        if rng.random() < 0.01:
            i = rng.randrange(3)
            (call.fast.release if call.fast_out[i].held else call.fast.hold)(call.fast_out[i])
    assert 0 < call.group_size() <= 3


def test_a_paced_replay_keeps_the_outlet_out_of_the_group_until_it_drains() -> None:
    """A late joiner's replay is paced on the Python path, its live packets
    queue behind it, and once the backlog is gone it is back in the group:
    the receiver gets every packet once, in order."""
    from sfu.rtc.fanout import NativeGroup
    from tests.routing.test_pacing import video_packet

    sender = udp_socket()
    receiver = Receiver(sender)
    try:
        fwd: Forwarder[Any] = Forwarder(NativeGroup)
        inbound: Inbound[Any] = Inbound(TrackKey("pub", "video"), VP8, KINDS)
        for seq in range(300):  # 2.5 s of video since the keyframe (the cache keeps 3 s)
            fwd.on_rtp(inbound, video_packet(seq, keyframe=seq == 0), 0x1234)
        late = Outlet("video", receiver)
        fwd.attach(late, inbound, 10.0)
        rewriter = native.Rewriter(ssrc=7, payload_type=97, ext_ids=SUB_IDS, mid="1", rtx_ssrc=8,
                                   rtx_payload_type=98, first_sequence_number=100, first_timestamp=0)  # fmt: skip
        sent, _ = fwd.ready(late, rewriter, 10.0)
        assert late.paced is not None and not late.fast and len(inbound.group) == 0  # type: ignore[arg-type]
        got: list[bytes] = []
        now, seq = 10.0, 300
        while late.paced is not None:
            for sink, packet in sent:
                sink.send(packet)
            got += receiver.drain()
            now += 0.01
            for sink, packet in fwd.on_rtp(inbound, video_packet(seq, keyframe=False), 0x1234):
                sink.send(packet)  # live, queued behind the backlog
            seq += 1
            sent = fwd.pace(now)
            assert now < 30.0
        for sink, packet in sent:
            sink.send(packet)
        assert late.fast and len(inbound.group) == 1  # type: ignore[arg-type]
        for _ in range(10):
            assert fwd.on_rtp(inbound, video_packet(seq, keyframe=False), 0x1234) == []  # the group sends it
            seq += 1
        got += receiver.drain()
        seqs = [int.from_bytes(p[2:4], "big") for p in got]
        assert seqs == list(range(100, 100 + seq))
    finally:
        receiver.close()
        sender.close()


def test_releasing_a_hold_during_a_backlog_does_not_let_live_packets_overtake_it() -> None:
    from sfu.rtc.fanout import NativeGroup
    from tests.routing.test_pacing import video_packet

    sender = udp_socket()
    receiver = Receiver(sender)
    try:
        fwd: Forwarder[Any] = Forwarder(NativeGroup)
        inbound: Inbound[Any] = Inbound(TrackKey("pub", "video"), VP8, KINDS)
        for seq in range(300):
            fwd.on_rtp(inbound, video_packet(seq, keyframe=seq == 0), 0x1234)
        late = Outlet("video", receiver)
        fwd.attach(late, inbound, 10.0)
        fwd.ready(late, native.Rewriter(ssrc=7, payload_type=97, ext_ids=SUB_IDS, mid="1"), 10.0)
        assert late.paced is not None
        fwd.release(late)  # someone else's hold released: the backlog still decides
        assert not late.fast and late.paced is not None
    finally:
        receiver.close()
        sender.close()
