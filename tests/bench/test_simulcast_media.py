"""The load generator's simulcast publisher (benchmarks/simulcast_media.py): the
offer the SFU reads, the rid on media and RTX, a PLI per layer, the layers'
clips, and the receiving side's picture sizes (benchmarks/bigcall.py's
per-receiver figures)."""

from __future__ import annotations

import struct

from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtcpParameters, RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters, RTCRtpSendParameters
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket, wrap_rtx

from benchmarks.bigcall import kbps_range, per_receiver, receivers_table
from benchmarks.media import clip_bitrate_kbps, is_keyframe
from benchmarks.simulcast_media import (
    KEYFRAME_HINT,
    LAYERS,
    RID_URI,
    RRID_URI,
    FrameSizes,
    RidStamp,
    SimulcastCamera,
    encode_layers,
    offer_simulcast,
    vp8_keyframe_size,
)
from benchmarks.synth import new_pc
from sfu.signaling.simulcast_sdp import read_offer

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=mid:0\r\na=ssrc:11 cname:x\r\na=rtpmap:96 opus/48000/2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=mid:1\r\n"
    "a=ssrc-group:FID 21 22\r\na=ssrc:21 cname:x\r\na=ssrc:22 cname:x\r\na=rtpmap:97 VP8/90000\r\n"
    "a=rtpmap:98 rtx/90000\r\na=fmtp:98 apt=97\r\n"
)


def test_the_offer_is_read_by_the_sfu_as_three_layers() -> None:
    sdp, rid_id, rrid_id = offer_simulcast(OFFER)
    assert (rid_id, rrid_id) == (4, 5)  # ids no section uses (1, 2, 3 are taken in the BUNDLE)
    (offer,) = read_offer(sdp).values()
    assert offer.mid == "1" and offer.rids == ("q", "h", "f") and (offer.rid_id, offer.repaired_rid_id) == (4, 5)
    audio, video = sdp.split("m=video")
    assert "a=ssrc:11 cname:x" in audio and "a=rid" not in audio  # the audio section as it was
    assert "a=ssrc" not in video  # rid-based: no SSRC signalled, as Chromium offers it
    assert f"a=extmap:4 {RID_URI}" in video and f"a=extmap:5 {RRID_URI}" in video


def test_media_carries_the_rid_and_its_retransmission_the_repaired_rid() -> None:
    stamp = RidStamp("q")
    stamp.configure(RTCRtpSendParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=4, uri=RID_URI), RTCRtpHeaderExtensionParameters(id=5, uri=RRID_URI),
    ]))  # fmt: skip
    packet = RtpPacket(payload_type=97, sequence_number=7, timestamp=9, ssrc=21, payload=b"\x10\x00")
    packet.extensions.mid = "1"
    media = RtpPacket.parse(packet.serialize(stamp), stamp)
    assert (media.extensions.mid, media.extensions.rtp_stream_id, media.extensions.repaired_rtp_stream_id) == ("1", "q", None)
    rtx = RtpPacket.parse(wrap_rtx(packet, payload_type=98, sequence_number=1, ssrc=22).serialize(stamp), stamp)
    assert (rtx.extensions.mid, rtx.extensions.rtp_stream_id, rtx.extensions.repaired_rtp_stream_id) == ("1", None, "q")


async def test_each_layer_has_its_own_ssrc_and_a_pli_restarts_only_its_loop() -> None:
    clips = {layer.clip: [b"\x00" * 10, b"\x01" * 10] for layer in LAYERS}
    pc: RTCPeerConnection = new_pc()
    camera = SimulcastCamera(pc, clips)
    camera.offer(OFFER)
    main = camera.transceiver.sender
    dtls = main.transport
    parameters = RTCRtpSendParameters(
        codecs=[RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97),
                RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=98, parameters={"apt": 97})],
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid")],
        muxId="1", rtcp=RTCRtcpParameters(cname="x", ssrc=main._ssrc, mux=True),
    )  # fmt: skip
    await main.send(parameters)  # as aiortc does once DTLS is up (here it is not: nothing goes out)
    try:
        senders = [*camera.senders, main]  # smallest first, as the tracks
        assert len({s._ssrc for s in senders} | {s._rtx_ssrc for s in senders}) == 6
        for layer, sender in zip(LAYERS, senders):
            stamp = sender._RTCRtpSender__rtp_header_extensions_map
            assert isinstance(stamp, RidStamp) and stamp.rid == layer.rid
        pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=camera.senders[0]._ssrc)
        await dtls._handle_rtcp_data(bytes(pli))
        assert [t.keyframe_requests for t in camera.tracks] == [1, 0, 0]
        await dtls._handle_rtcp_data(bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=main._ssrc)))
        assert [t.keyframe_requests for t in camera.tracks] == [1, 0, 1]
        assert camera.keyframe_requests == 2
    finally:
        await pc.close()  # stops the layers' senders too


def test_the_layers_are_one_picture_at_three_sizes_near_their_bitrates() -> None:
    clips = encode_layers()
    for layer in LAYERS:
        frames = clips[layer.clip]
        assert is_keyframe(frames[0]) and not any(is_keyframe(f) for f in frames[1:])
        assert 0.7 * layer.kbps <= clip_bitrate_kbps(frames, 30) <= 1.3 * layer.kbps, layer
        assert len(frames[0]) >= KEYFRAME_HINT  # what FrameSizes counts on: a keyframe's first packet is full
        payload = bytes([0x90, 0x80, 0x80, 0x01]) + frames[0][:1200]  # a VP8 descriptor with a 15-bit PictureID, then the frame
        assert vp8_keyframe_size(payload) == (layer.width, layer.height)
        assert vp8_keyframe_size(bytes([0x90, 0x80, 0x80, 0x02]) + frames[1][:1200]) is None


def rtp(ssrc: int, ts: int, payload: bytes, pt: int = 97) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, 1, ts, ssrc) + payload


def test_frame_sizes_ask_for_large_frame_starts_and_keep_the_last_keyframe_size() -> None:
    sizes = FrameSizes({97})
    keyframe = bytes([0x10]) + b"\x00\x00\x00\x9d\x01\x2a" + (160).to_bytes(2, "little") + (90).to_bytes(2, "little")
    big = rtp(5, 100, keyframe + bytes(KEYFRAME_HINT))
    sizes.seen(5, 97)
    sizes.seen(6, 97)
    sizes.seen(7, 111)  # audio: not a video
    assert sizes.wants(big) and not sizes.wants(big)  # a frame's first large packet only
    assert not sizes.wants(rtp(5, 200, bytes(100)))  # small: a delta frame's
    assert not sizes.wants(rtp(5, 300, bytes(2000), pt=111))  # not video
    sizes.note(big, lambda data: data[12:])
    assert sizes.summary() == {"160x90": 1, "?": 1}


def test_per_receiver_figures() -> None:
    marks = [{"rx_bytes_by_name": {"p-0": 125_000, "p-10": 250_000}}, {"rx_bytes_by_name": {"p-2": 0}}]
    status = [{"name": "p-0", "frame_sizes": {"640x360": 1, "160x90": 8}}, {"name": "p-10", "frame_sizes": None}]
    per = per_receiver({"p-0", "p-2", "p-10"}, marks, status, 2.0)
    assert list(per) == ["p-0", "p-2", "p-10"]
    assert per["p-0"] == {"kbps": 500.0, "tiles": {"640x360": 1, "160x90": 8}} and per["p-10"] == {"kbps": 1000.0}
    assert kbps_range(per) == {"min": 0.0, "p50": 500.0, "max": 1000.0}
    assert "640x360 x1, 160x90 x8" in receivers_table({"n": 3, "simulcast": True, "per_receiver": per})
