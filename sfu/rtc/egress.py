"""Subscriber side glue: one m-section of a subscriber's connection.

The sender keeps a :class:`SilentTrack` so aiortc never encodes; when aiortc
starts it (DTLS up, parameters negotiated) the slot gets its Rewriter. RTCP
from the subscriber is intercepted: NACKs are answered with RTX from the
publisher's packet cache, PLI/FIR become (throttled) keyframe requests, a REMB feeds
the subscriber's simulcast layer choice;
receiver reports are kept on the outlet (loss, jitter, round trip: ``sfu/observe.py``).

What a subscriber's RTCP can cost is bounded before aiortc parses it: each
subscriber transport gets an RTCP byte budget (``RTCP_RATE``, ten times what
an honest receiver of 31 streams sends). A 1.5 KB NACK of 367 FCIs takes
aiortc about 1 ms to parse; unbounded, 1,000 of them a second would take a
core. The retransmissions NACKs ask for are bounded in the forwarder.

aiortc's own ``send()`` would start two tasks per sender (an RTP loop waiting
on the track, and an RTCP loop sending an SR every second): about 4,000 in a
32-person video call. The hook only registers the sender with its transport
(so the subscriber's RTCP reaches it), and the session's
:class:`~sfu.rtc.reports.SenderReports` reports all its streams at once.
"""

from __future__ import annotations

import time
from typing import Callable

from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu import observe
from sfu.core.extensions import ids_by_kind
from sfu.core.pacer import TokenBucket
from sfu.core.rewriter import Rewriter
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.rtc import fanout
from sfu.rtc.ingress import abs_send_time_now
from sfu.rtc.reports import SenderReports
from sfu.rtc.rtcp_guard import guard_rtcp
from sfu.rtc.sink import TransportSink

RequestKeyframe = Callable[[Inbound[TransportSink]], None]
Deliver = Callable[[list[tuple[TransportSink, bytes]]], None]  # sends, and paces what is queued
OnRemb = Callable[[float], None]  # the subscriber's receive estimate, bits per second

RTCP_RATE = 32_000.0  # bytes/s of RTCP one subscriber transport may send us...
RTCP_BURST = 16_384  # ...and at once; the excess is dropped unparsed


def budget_rtcp(dtls: RTCDtlsTransport) -> None:
    """Drop, unparsed, a subscriber's RTCP beyond its budget (once per transport)."""
    if getattr(dtls, "_callsfu_rtcp_budget", None) is not None:
        return
    budget = TokenBucket(RTCP_RATE, RTCP_BURST, time.monotonic())
    dtls._callsfu_rtcp_budget = budget  # type: ignore[attr-defined]
    original = dtls._handle_rtcp_data

    async def handle_rtcp_data(data: bytes) -> None:
        if budget.take(len(data), time.monotonic()):
            await original(data)

    dtls._handle_rtcp_data = handle_rtcp_data  # type: ignore[method-assign]


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
    return fanout.rewriter_class()(
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
    reports: SenderReports,
    deliver: Deliver,
    on_remb: OnRemb | None = None,
) -> None:
    original_rtcp = sender._handle_rtcp_packet
    guard_rtcp(sender.transport)  # the subscriber's malformed RTCP is dropped, not raised
    budget_rtcp(sender.transport)  # and what it may send at all is bounded before parsing

    async def send(parameters: RTCRtpSendParameters) -> None:
        if outlet.rewriter is not None:
            return  # aiortc calls send() again on every renegotiation; it only starts once
        sender.transport._register_rtp_sender(sender, parameters)  # its RTCP is routed here
        packets, want_keyframe = forwarder.ready(outlet, rewriter_for(sender, parameters), time.monotonic())
        reports.add(outlet, sender.transport, parameters.rtcp.cname or "")
        deliver(packets)
        if want_keyframe and outlet.source is not None:
            request_keyframe(outlet.source)

    async def stop() -> None:
        if outlet.rewriter is not None:
            sender.transport._unregister_rtp_sender(sender)

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            deliver(forwarder.on_nack(outlet, packet.lost, time.monotonic()))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            inbound = forwarder.on_picture_loss(outlet, time.monotonic())
            if inbound is not None:
                request_keyframe(inbound)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            if on_remb is not None:  # (aiortc routes a REMB to each sender it lists)
                try:
                    bitrate, _ = unpack_remb_fci(packet.fci)
                except ValueError:
                    return  # not a REMB
                on_remb(float(bitrate))
        elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            rewriter = outlet.rewriter  # (aiortc routes the packet to each sender it reports on)
            if rewriter is not None:
                for block in packet.reports:
                    if block.ssrc == rewriter.ssrc:
                        observe.record_report(outlet, block, rewriter.clock_rate, clock.current_ntp_time())
        else:
            await original_rtcp(packet)

    sender.send = send  # type: ignore[method-assign]
    sender.stop = stop  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


__all__ = ["abs_send_time_now", "hook_sender", "rewriter_for"]
