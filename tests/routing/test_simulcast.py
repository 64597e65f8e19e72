"""Simulcast in the forwarding core (sans IO): an outlet moves between the
layers of one track only at a keyframe of the new layer, and stays one
continuous stream (sequence numbers, timestamps, VP8 PictureID)."""

from __future__ import annotations

import random
import struct
from typing import Any

from aiortc.rtp import RtpPacket

from sfu.core.extensions import Ext
from sfu.core.rewriter import Rewriter
from sfu.core.simulcast import Bandwidth
from sfu.core.vp8 import parse_descriptor
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.routing.layers import initial_layer, plan
from sfu.routing.layout import TrackKey
from tests.core.test_vp8 import vp8_payload

VP8 = 96
KINDS = {1: Ext.MID, 3: Ext.ABS_SEND_TIME}
SIZES = [(160, 90), (320, 180), (640, 360)]


def track() -> list[Inbound[str]]:
    key = TrackKey("alice", "video")
    layers: list[Inbound[str]] = [Inbound(key, VP8, KINDS) for _ in range(3)]
    for layer, rid in zip(layers, "qhf"):
        layer.layers, layer.rid = layers, rid
    return layers


class Publisher:
    """Three layers of one camera: own SSRCs, sequence numbers, timestamps, PictureIDs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.state = [
            {"seq": rng.randrange(65536), "ts": rng.getrandbits(32), "pid": rng.randrange(0x8000), "tl0": rng.randrange(256)}
            for _ in range(3)
        ]

    def frame(self, layer: int, keyframe: bool, parts: int = 2) -> list[bytes]:
        s = self.state[layer]
        s["ts"] = (s["ts"] + 3000) % 2**32
        s["pid"] = (s["pid"] + 1) % 0x8000
        s["tl0"] = (s["tl0"] + 1) % 256
        out = []
        for part in range(parts):
            s["seq"] = (s["seq"] + 1) % 65536
            payload = vp8_payload(s["pid"], s["tl0"], 0, start=part == 0, keyframe=keyframe, size=SIZES[layer])
            out.append(struct.pack("!BBHII", 0x80, VP8 | (0x80 if part == parts - 1 else 0), s["seq"], s["ts"], 100 + layer) + payload)
        return out


def subscriber() -> tuple[Outlet[str], Rewriter]:
    outlet: Outlet[str] = Outlet("video", "bob")
    return outlet, Rewriter(ssrc=0xB0B, payload_type=97, ext_ids={Ext.MID: 4}, mid="1", rtx_ssrc=0xB0C, rtx_payload_type=98)


def feed(fwd: Forwarder[str], layers: list[Inbound[str]], pub: Publisher, keyframes: set[int], now: float) -> list[bytes]:
    out: list[bytes] = []
    for i, layer in enumerate(layers):
        layer.last_arrival = now
        for data in pub.frame(i, i in keyframes):
            out += [p for _, p in fwd.on_rtp(layer, data, 0)]
    return out


def started(seed: int, on: int, fwd: Forwarder[str] | None = None) -> tuple[Forwarder[str], list[Inbound[str]], Publisher, Outlet[str]]:
    """A subscriber's outlet on layer ``on`` of a three-layer track that has sent a keyframe on every layer."""
    fwd = fwd if fwd is not None else Forwarder()
    layers = track()
    pub = Publisher(random.Random(seed))
    outlet, rewriter = subscriber()
    fwd.attach(outlet, layers[on], 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    feed(fwd, layers, pub, {0, 1, 2}, 0.0)
    return fwd, layers, pub, outlet


def test_a_switch_waits_for_the_target_layers_keyframe_and_continues_the_stream() -> None:
    rng = random.Random(7)
    fwd: Forwarder[str] = Forwarder()
    layers = track()
    pub = Publisher(rng)
    outlet, rewriter = subscriber()
    fwd.attach(outlet, layers[0], 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    sent: list[RtpPacket] = []
    sent += map(RtpPacket.parse, feed(fwd, layers, pub, {0, 1, 2}, 0.0))
    assert {p.payload[6:] for p in sent} and all(parse_descriptor(p.payload) for p in sent)
    assert len(sent) == 2  # the lowest layer only
    for t in range(1, 5):
        sent += map(RtpPacket.parse, feed(fwd, layers, pub, set(), t / 30))
    assert fwd.switch_layer(outlet, layers[2], 0.2) is True  # ask the top layer for a keyframe
    assert fwd.switch_layer(outlet, layers[2], 0.2) is False  # asked already
    before = len(sent)
    sent += map(RtpPacket.parse, feed(fwd, layers, pub, {1}, 0.3))  # a keyframe of another layer: no move
    assert outlet.source is layers[0] and len(sent) == before + 2
    sent += map(RtpPacket.parse, feed(fwd, layers, pub, {2}, 0.4))  # the top layer's keyframe: move now
    assert outlet.source is layers[2] and outlet.target is None
    assert len(sent) == before + 6  # the lowest layer's frame, then the top one's keyframe
    for t in range(5):
        sent += map(RtpPacket.parse, feed(fwd, layers, pub, set(), 0.5 + t / 30))
    # one continuous stream: every sequence number once, in order; time always forward
    seqs = [p.sequence_number for p in sent]
    assert seqs == [(seqs[0] + i) % 65536 for i in range(len(seqs))]
    ts = [p.timestamp for p in sent]
    assert all(0 <= (b - a) % 2**32 < 2**31 for a, b in zip(ts, ts[1:]))
    pids = [parse_descriptor(p.payload).picture_id for p in sent if p.payload[0] & 0x10]  # type: ignore[union-attr]
    assert pids == [(pids[0] + i) % 0x8000 for i in range(len(pids))]
    assert {p.ssrc for p in sent} == {0xB0B}
    assert layers[2].frame_size == (640, 360) and layers[1].frame_size == (320, 180)


def test_moving_back_before_the_keyframe_cancels_the_move() -> None:
    fwd, layers, pub, outlet = started(1, on=1)
    fwd.switch_layer(outlet, layers[0], 0.1)
    assert outlet in layers[0].switching
    fwd.switch_layer(outlet, layers[1], 0.1)
    assert outlet.target is None and not layers[0].switching
    feed(fwd, layers, pub, {0}, 0.2)
    assert outlet.source is layers[1]
    # another track's inbound is no layer of this one
    other: Inbound[str] = Inbound(TrackKey("carol", "video"), VP8, KINDS)
    assert fwd.switch_layer(outlet, other, 0.3) is False and outlet.target is None
    # detaching forgets a pending move
    fwd.switch_layer(outlet, layers[2], 0.4)
    fwd.attach(outlet, None, 0.5)
    assert not layers[2].switching and outlet.target is None


def test_simulcast_outlets_stay_off_the_fast_group() -> None:
    class Group:
        def __init__(self) -> None:
            self.members: list[Any] = []

        def add(self, rewriter: Any, sink: Any) -> bool:
            self.members.append(rewriter)
            return True

        def remove(self, rewriter: Any) -> None:
            self.members.remove(rewriter)

        def forward(self, view: Any, abs_send_time: int) -> None:
            pass

    groups: list[Group] = []

    def factory() -> Group:
        groups.append(Group())
        return groups[-1]

    fwd, layers, pub, outlet = started(2, on=2, fwd=Forwarder(factory))
    # before any switch the VP8 mapping is the identity: the native group serves it
    assert outlet.fast and outlet.vp8 is not None and outlet.vp8.identity
    top = layers[2].cache.get(layers[2].cache.newest)  # type: ignore[arg-type]
    assert top is not None
    last_sent = parse_descriptor(top.payload)  # the last the fast group sent (unchanged)
    assert last_sent is not None and last_sent.picture_id is not None
    fwd.switch_layer(outlet, layers[0], 0.1)
    out = feed(fwd, layers, pub, {0}, 0.1)
    assert outlet.source is layers[0] and len(out) == 2  # from then on on the Python path
    assert not outlet.fast and all(not g.members for g in groups)
    first = parse_descriptor(RtpPacket.parse(out[0]).payload)
    assert first is not None and first.picture_id == (last_sent.picture_id + 1) % 0x8000  # it went on from there
    single: Inbound[str] = Inbound(TrackKey("dave", "video"), VP8, KINDS)
    fwd.attach(outlet, single, 0.1)  # a reused section with a one-layer track: fast again
    fwd.on_rtp(single, pub.frame(0, True)[0], 0)
    assert outlet.vp8 is None and outlet.fast


def test_the_plan_follows_the_view_and_the_bandwidth() -> None:
    fwd: Forwarder[str] = Forwarder()
    layers = track()
    pub = Publisher(random.Random(3))
    small, r1 = subscriber()
    large, r2 = subscriber()
    for t in range(40):  # a second and more of all three layers, keyframes first
        feed(fwd, layers, pub, {0, 1, 2} if t == 0 else set(), t / 30)
    now = 40 / 30
    views = {id(small): (150, 90), id(large): (1280, 720)}
    assert initial_layer(layers[2], (150, 90), now) is layers[0]
    assert initial_layer(layers[2], None, now) is layers[2]
    fwd.attach(small, layers[2], now)
    fwd.ready(small, r1, now)
    fwd.attach(large, layers[0], now)
    fwd.ready(large, r2, now)
    moves = plan([small], lambda key: views[id(small)], Bandwidth(), now)
    assert moves == [(small, layers[0])]
    assert plan([large], lambda key: views[id(large)], Bandwidth(), now) == [(large, layers[2])]
    congested = Bandwidth()
    congested.on_remb(5_000_000.0, now - 1)
    congested.on_remb(1_000.0, now)  # fallen far below what the top layer needs
    assert plan([small], lambda key: None, congested, now) == [(small, layers[0])]
    # a hidden tile is left alone (nothing is sent to it: no keyframe to ask for)
    assert plan([small], lambda key: (0, 0), Bandwidth(), now) == []
    # a layer that stopped is left for one that still sends
    layers[2].last_arrival = now - 5
    assert plan([small], lambda key: None, Bandwidth(), now) == [(small, layers[1])]


def test_an_unanswered_keyframe_request_is_repeated_while_a_move_waits_for_it() -> None:
    """A publisher may ignore a keyframe request (Chromium drops a PLI within
    300 ms of the last one) and never sends one unasked: the move would wait
    for ever. The request goes out again once per throttle interval until the
    keyframe comes, and not after."""
    fwd, layers, pub, outlet = started(3, on=0)
    assert fwd.switch_layer(outlet, layers[2], 0.2) is True  # asked, and the publisher ignores it
    feed(fwd, layers, pub, set(), 0.5)
    assert fwd.due_keyframes(layers, 0.9) == []  # within the interval: not yet
    assert fwd.due_keyframes(layers, 1.25) == [layers[2]]  # asked again, for the awaited layer only
    assert fwd.due_keyframes(layers, 1.5) == []
    assert fwd.due_keyframes(layers, 2.3) == [layers[2]]  # and again, until it comes
    feed(fwd, layers, pub, {2}, 2.4)
    assert outlet.source is layers[2]
    assert fwd.due_keyframes(layers, 5.0) == []  # nobody waits any more


def test_a_first_keyframe_that_never_comes_is_asked_for_again() -> None:
    fwd: Forwarder[str] = Forwarder()
    (layer,) = track()[:1]
    layer.layers = None
    outlet, rewriter = subscriber()
    fwd.attach(outlet, layer, 0.0)
    replay, want_keyframe = fwd.ready(outlet, rewriter, 0.0)  # nothing cached: it waits for a keyframe
    assert replay == [] and want_keyframe is True and outlet.waiting_keyframe
    assert fwd.due_keyframes([layer], 1.1) == [layer]
    fwd.pause(outlet, True, 1.2)  # hidden: nobody waits
    assert fwd.due_keyframes([layer], 2.5) == []
