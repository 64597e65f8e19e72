"""A publisher's retransmissions (RTX, RFC 4588) are unwrapped and forwarded
like the originals, once; duplicates and strays are dropped."""

from __future__ import annotations

import random
import struct

from aiortc.rtp import RtpPacket, wrap_rtx

from sfu.core.rtx import original_sequence_number, unwrap_rtx
from sfu.core.packet import RtpView
from sfu.routing.forwarder import Forwarder, Inbound
from sfu.routing.layout import TrackKey
from tests.routing.test_forwarder import KINDS, VP8, subscriber, vp8_packet

RTX_PT = 97
RTX_SSRC = 0x5555


def as_rtx(data: bytes, rtx_seq: int, padding: int = 0) -> bytes:
    packet = RtpPacket.parse(data)
    rtx = wrap_rtx(packet, payload_type=RTX_PT, sequence_number=rtx_seq, ssrc=RTX_SSRC)
    out = bytearray(data[:24])  # keep the original header extensions as sent
    out[1] = (out[1] & 0x80) | RTX_PT
    out[2:4] = struct.pack("!H", rtx_seq)
    out[8:12] = struct.pack("!I", RTX_SSRC)
    body = bytes(out) + rtx.payload
    if padding:
        body = bytes([body[0] | 0x20]) + body[1:] + bytes(padding - 1) + bytes([padding])
    return body


def test_unwrap_restores_the_original_packet_byte_for_byte() -> None:
    original = vp8_packet(4242, 90000, keyframe=True)
    for padding in (0, 4):
        rtx = as_rtx(original, 7, padding)
        assert original_sequence_number(rtx) == 4242
        view = unwrap_rtx(RtpView.parse(rtx, KINDS), VP8, 1111, KINDS)
        assert view is not None and view.data == original
    probe = bytes([0xA0, RTX_PT]) + bytes(10) + bytes(255) + b"\xff"  # padding only
    assert original_sequence_number(probe) is None
    assert unwrap_rtx(RtpView.parse(probe, KINDS), VP8, 1, KINDS) is None
    assert original_sequence_number(b"\x90" + bytes(14)) is None  # truncated extension


def test_seeded_loss_is_repaired_once_and_duplicates_are_dropped() -> None:
    rng = random.Random(11)
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS, rtx_payload_type=RTX_PT)
    outlet, rewriter = subscriber("sub0")
    fwd.attach(outlet, inbound, 0.0)
    fwd.ready(outlet, rewriter, 0.0)
    sent = [vp8_packet(65000 + i, 90 * i, keyframe=(i % 500 == 0)) for i in range(4000)]  # wraps
    delivered: dict[int, bytes] = {}
    lost: list[bytes] = []
    rtx_seq = n_lost = 0
    for i, data in enumerate(sent):
        if i and i < len(sent) - 1 and rng.random() < 0.1:
            lost.append(data)
            n_lost += 1
            continue
        for _, out in fwd.on_rtp(inbound, data, 0):
            p = RtpPacket.parse(out)
            delivered[p.sequence_number] = p.payload
        if lost and rng.random() < 0.2:  # the publisher answers our NACKs, some twice
            for data in lost:
                for _ in range(1 + (rng.random() < 0.3)):
                    rtx_seq += 1
                    for _, out in fwd.on_rtp(inbound, as_rtx(data, rtx_seq), 0):
                        p = RtpPacket.parse(out)
                        assert p.sequence_number not in delivered  # never twice
                        delivered[p.sequence_number] = p.payload
            lost.clear()
    # every packet reached the subscriber, in its own numbering and unchanged
    assert len(delivered) == len(sent)
    assert sorted(delivered.values()) == sorted(d[24:] for d in sent)
    assert fwd.repaired == n_lost > 300  # each loss repaired exactly once
    # a retransmission of a packet long gone from the cache, or newer than
    # anything received, is dropped
    dropped = fwd.dropped
    assert fwd.on_rtp(inbound, as_rtx(vp8_packet(65000 + 10, 0, False), 1), 0) == []
    assert fwd.on_rtp(inbound, as_rtx(vp8_packet(65000 + 5000, 0, False), 2), 0) == []
    assert fwd.dropped == dropped + 2


def test_rtx_before_any_media_or_without_rtx_negotiated_is_dropped() -> None:
    fwd: Forwarder[str] = Forwarder()
    inbound: Inbound[str] = Inbound(TrackKey("alice", "video"), VP8, KINDS, rtx_payload_type=RTX_PT)
    assert fwd.on_rtp(inbound, as_rtx(vp8_packet(1, 0, True), 1), 0) == []
    plain: Inbound[str] = Inbound(TrackKey("bob", "video"), VP8, KINDS)
    fwd.on_rtp(plain, vp8_packet(1, 0, True), 0)
    assert fwd.on_rtp(plain, as_rtx(vp8_packet(0, 0, True), 1), 0) == []
    assert fwd.dropped == 2 and fwd.repaired == 0
