"""Simulcast demultiplexing in the publisher glue (sfu.rtc.ingress), on a real
aiortc receiver: one Inbound per offered rid, new SSRCs bound by the rid
header extension (RTX by the repaired rid), unknown rids refused, a packet
not named yet dropped, at most 8 SSRCs per simulcast section."""

from __future__ import annotations

import logging
import struct

import pytest
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
    RTCRtcpParameters,
)
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from sfu.routing.forwarder import Forwarder, Inbound
from sfu.rtc.ingress import MAX_SSRCS_PER_SIMULCAST_SECTION, Ingress
from sfu.signaling.simulcast_sdp import SimulcastOffer

MID_ID, RID_ID, RRID_ID = 4, 10, 11


def packet(ssrc: int, seq: int, *, pt: int = 96, rid: str | None = None, rrid: str | None = None) -> bytes:
    elements = bytes([MID_ID << 4 | 0]) + b"1"
    if rid is not None:
        elements += bytes([RID_ID << 4 | (len(rid) - 1)]) + rid.encode()
    if rrid is not None:
        elements += bytes([RRID_ID << 4 | (len(rrid) - 1)]) + rrid.encode()
    elements += bytes(-len(elements) % 4)
    header = struct.pack("!BBHII", 0x90, pt, seq, seq * 3000, ssrc) + struct.pack("!HH", 0xBEDE, len(elements) // 4)
    payload = bytes([0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A]) if pt == 96 else struct.pack("!H", seq) + bytes([0x10, 1])
    return header + elements + payload


@pytest.fixture
async def ingress() -> Ingress:
    dtls = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    receiver = RTCRtpReceiver("video", dtls)
    published: list[Inbound[object]] = []
    ing = Ingress("pia", Forwarder(), lambda inbound, _receiver: published.append(inbound))  # type: ignore[arg-type]
    ing.simulcast["1"] = SimulcastOffer("1", ("q", "h", "f"), RID_ID, RRID_ID)
    ing.hook_receiver(receiver, "video")
    await receiver.receive(
        RTCRtpReceiveParameters(
            codecs=[
                RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
                RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}),
            ],
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=MID_ID, uri="urn:ietf:params:rtp-hdrext:sdes:mid")],
            muxId="1",
            rtcp=RTCRtcpParameters(),
        )
    )
    assert len(published) == 1 and published[0].layers is not None
    return ing


async def test_layers_are_told_apart_by_rid_and_rtx_by_repaired_rid(ingress: Ingress) -> None:
    layers = ingress.by_rid["1"]
    assert list(layers) == ["q", "h", "f"]
    assert layers["f"] is ingress.by_mid["1"]  # the largest stands for the track
    for n, rid in enumerate("qhf"):
        ingress.on_rtp(packet(100 + n, 1, rid=rid), 0)
        ingress.on_rtp(packet(200 + n, 1, pt=97, rrid=rid), 0)
    for n, rid in enumerate("qhf"):
        assert ingress.by_ssrc[100 + n] is layers[rid] and ingress.by_ssrc[200 + n] is layers[rid]
        assert layers[rid].media_ssrc == 100 + n and layers[rid].frame_size is None  # (a 6-byte keyframe has no size)
    # once bound, the rid is no longer needed (browsers stop sending it once we report on the SSRC)
    ingress.on_rtp(packet(101, 2), 0)
    assert layers["h"].cache.get(2) is not None


async def test_unknown_rids_are_refused_and_unnamed_packets_dropped(ingress: Ingress, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="callsfu.sfu"):
        ingress.on_rtp(packet(300, 1, rid="zz"), 0)
    assert 300 not in ingress.by_ssrc and 300 in ingress._refused
    assert "simulcast layer it did not offer (rid 'zz')" in caplog.text
    ingress.on_rtp(packet(301, 1), 0)  # no rid yet: dropped, not refused (its name may come)
    assert 301 not in ingress.by_ssrc and 301 not in ingress._refused
    ingress.on_rtp(packet(301, 2, rid="q"), 0)
    assert ingress.by_ssrc[301] is ingress.by_rid["1"]["q"]


async def test_a_simulcast_section_adopts_a_bounded_number_of_ssrcs(ingress: Ingress) -> None:
    for ssrc in range(1000, 1020):
        ingress.on_rtp(packet(ssrc, 1, rid="q"), 0)
    adopted = [s for s in range(1000, 1020) if s in ingress.by_ssrc]
    assert len(adopted) == MAX_SSRCS_PER_SIMULCAST_SECTION
    assert all(s in ingress._refused for s in range(1000, 1020) if s not in adopted)
