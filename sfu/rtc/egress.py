"""Subscriber side glue: one m-section of a subscriber's connection.

The sender keeps a :class:`SilentTrack` so aiortc never encodes; when aiortc
starts it (DTLS up, parameters negotiated) the slot gets its Rewriter. RTCP
from the subscriber is intercepted: NACKs are answered with RTX from the
publisher's packet cache, PLI/FIR become (throttled) keyframe requests, and
sender reports carry the counters of what was really forwarded.
"""

from __future__ import annotations

import time
from typing import Callable

from aiortc import clock
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
)

from sfu.core.extensions import ids_by_kind
from sfu.core.rewriter import Rewriter
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.rtc.ingress import abs_send_time_now
from sfu.rtc.sink import TransportSink

RequestKeyframe = Callable[[Inbound[TransportSink]], None]


def rewriter_for(sender: RTCRtpSender, parameters: RTCRtpSendParameters) -> Rewriter:
    media = parameters.codecs[0]
    rtx_pt = next(
        (
            c.payloadType
            for c in parameters.codecs
            if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == media.payloadType
        ),
        None,
    )
    return Rewriter(
        ssrc=sender._ssrc,
        payload_type=media.payloadType,
        ext_ids=ids_by_kind((e.id, e.uri) for e in parameters.headerExtensions),
        mid=parameters.muxId or "",
        rtx_ssrc=sender._rtx_ssrc if rtx_pt is not None else None,
        rtx_payload_type=rtx_pt,
        clock_rate=media.clockRate,
    )


def hook_sender(
    sender: RTCRtpSender,
    outlet: Outlet[TransportSink],
    forwarder: Forwarder[TransportSink],
    request_keyframe: RequestKeyframe,
) -> None:
    original_send = sender.send
    original_rtcp = sender._handle_rtcp_packet
    original_send_rtcp = sender._send_rtcp

    async def send(parameters: RTCRtpSendParameters) -> None:
        await original_send(parameters)
        if outlet.rewriter is not None:
            return  # aiortc calls send() again on every renegotiation; it only starts once
        packets, want_keyframe = forwarder.ready(outlet, rewriter_for(sender, parameters), time.monotonic())
        for sink, packet in packets:
            sink.send(packet)
        if want_keyframe and outlet.source is not None:
            request_keyframe(outlet.source)

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for sink, rtx in forwarder.on_nack(outlet, list(packet.lost)):
                sink.send(rtx)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            inbound = forwarder.on_picture_loss(outlet, time.monotonic())
            if inbound is not None:
                request_keyframe(inbound)
        else:
            await original_rtcp(packet)

    async def send_rtcp(packets: list[AnyRtcpPacket]) -> None:
        rewriter = outlet.rewriter
        if rewriter is not None:
            for packet in packets:
                if isinstance(packet, RtcpSrPacket):
                    packet.sender_info = RtcpSenderInfo(
                        ntp_timestamp=clock.current_ntp_time(),
                        rtp_timestamp=rewriter.last_timestamp,
                        packet_count=rewriter.packets_sent & 0xFFFFFFFF,
                        octet_count=rewriter.octets_sent & 0xFFFFFFFF,
                    )
        await original_send_rtcp(packets)

    sender.send = send  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
    sender._send_rtcp = send_rtcp  # type: ignore[method-assign]


__all__ = ["abs_send_time_now", "hook_sender", "rewriter_for"]
