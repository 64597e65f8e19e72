"""Publisher side glue: decrypted RTP in, straight into the forwarder and
our own feedback.

:meth:`Ingress.on_rtp` is the synchronous entry: decrypted RTP bytes and
their arrival time, forwarded at once and counted in the transport's
:class:`~sfu.feedback.scheduler.TransportFeedback` (receive statistics, NACK
generation, bandwidth estimate). Two paths reach it:

- the UDP mux (``sfu/rtc/mux.py``) decrypts in its datagram callback and
  calls ``dtls._callsfu_on_rtp(data, arrival_time_ms)``, set on each publisher
  DTLS transport by :meth:`Ingress.hook_transport`: no aioice queue, no DTLS
  receive coroutine, no task per packet;
- without the mux, aiortc's own receive loop calls
  ``RTCDtlsTransport._handle_rtp_data``, which the hook replaces on the instance.

aiortc's receive path (``RTCRtpReceiver._handle_rtp_packet``: parse, jitter
buffer, NACK generator, REMB estimator) never runs: the receiver's
``receive()`` is replaced, so aiortc starts neither its decoder thread nor its
RTCP task (nor would that task have anything to report). The publisher's
RTCP is read here for its sender reports (LSR/DLSR); the RR, REMB and NACKs
it gets back are ours, sent by :meth:`Ingress.send_feedback` from the call's
timer. Keyframe requests still go through ``receiver._send_rtcp_pli``.

A section adopts at most :data:`MAX_SSRCS_PER_SECTION` SSRCs (media and RTX,
from the SDP or first seen by mid): packets of any other SSRC are dropped
before anything keeps state for them, and libsrtp's stream for it is removed.

Simulcast (``simulcast``, read from the offer by the session): a video section
with rids gets one Inbound per layer, sharing one ``layers`` list, and a
new SSRC is bound to its layer by the rid header extension it carries (a
retransmission by its repaired rid); a simulcast section adopts at most
:data:`MAX_SSRCS_PER_SIMULCAST_SECTION`. A packet naming an unknown rid is
dropped and its SSRC refused; one with no rid at all (the browser has not
named it yet) is dropped.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable

from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from sfu.core.extensions import Ext, kinds_by_id
from sfu.core.packet import RtpView
from sfu.core.rtx import original_sequence_number
from sfu.feedback.rtcp import sender_reports
from sfu.feedback.scheduler import TransportFeedback
from sfu.logcontext import about
from sfu.routing.forwarder import Forwarder, Inbound
from sfu.routing.layout import Kind, TrackKey
from sfu.rtc.receiver_state import drop_receive_path
from sfu.rtc.sink import TransportSink
from sfu.signaling.simulcast_sdp import SimulcastOffer

log = logging.getLogger("callsfu.sfu")

OnInbound = Callable[[Inbound[TransportSink], RTCRtpReceiver], None]

MAX_SSRCS_PER_SECTION = 4  # media + RTX, and one change of source for each
MAX_SSRCS_PER_SIMULCAST_SECTION = 8  # media + RTX of 3 layers, and one change of source
REFUSED_MEMORY = 256  # SSRCs remembered as refused (their packets are not parsed again)


def abs_send_time_now() -> int:
    """The 24-bit 6.18 fixed-point abs-send-time of now."""
    return (clock.current_ntp_time() >> 14) & 0xFFFFFF


class Ingress:
    """Everything one participant publishes, on one (bundled) connection."""

    def __init__(self, participant_id: str, forwarder: Forwarder[TransportSink], on_inbound: OnInbound) -> None:
        self.participant_id = participant_id
        self.forwarder = forwarder
        self.on_inbound = on_inbound
        self.by_ssrc: dict[int, Inbound[TransportSink]] = {}
        self.by_mid: dict[str, Inbound[TransportSink]] = {}
        self.kinds_by_id: dict[int, Ext] = {}
        self._hooked: set[int] = set()
        self._started: dict[int, Inbound[TransportSink]] = {}  # receiver id -> its track
        self.feedback = TransportFeedback(random.getrandbits(32))
        self._sender_ssrc_known = False
        self._media: dict[Inbound[TransportSink], tuple[int, bool]] = {}  # clock rate, NACK negotiated
        self.dtls: RTCDtlsTransport | None = None  # where our feedback goes
        self.ssrcs_by_mid: dict[str, set[int]] = {}  # every SSRC a section has adopted
        self._refused: set[int] = set()
        self.simulcast: dict[str, SimulcastOffer] = {}  # by mid: the sections offered with simulcast
        self.by_rid: dict[str, dict[str, Inbound[TransportSink]]] = {}  # mid -> rid -> layer
        self._withdrawn: set[int] = set()  # receivers whose section the publisher made inactive

    def withdraw(self, receiver: RTCRtpReceiver) -> Inbound[TransportSink] | None:
        """The publisher stopped sending this section: its track, to unpublish
        (None if it never started or is withdrawn already). It comes back when
        the section is active again."""
        inbound = self._started.get(id(receiver))
        if inbound is None or id(receiver) in self._withdrawn:
            return None
        self._withdrawn.add(id(receiver))
        return inbound

    def hook_receiver(self, receiver: RTCRtpReceiver, kind: Kind, source: str = "") -> None:
        """``source``: "" for the kind's own (microphone, camera), "screen" for a shared screen."""
        drop_receive_path(receiver)  # its packets come here, never through aiortc's path
        async def receive(parameters: RTCRtpReceiveParameters) -> None:
            # aiortc's receive() is not called: it would start a decoder
            # thread and an RTCP task, and register the receiver for a
            # receive path that never runs here
            known = self._started.get(id(receiver))
            if known is not None:  # aiortc calls receive() again on every renegotiation:
                if known.layers is None:
                    self._bind_encodings(known, parameters)  # same track, perhaps new SSRCs
                if id(receiver) in self._withdrawn:  # sending again after a pause (inactive)
                    self._withdrawn.discard(id(receiver))
                    self.on_inbound(known, receiver)
                return
            ext = kinds_by_id((e.id, e.uri) for e in parameters.headerExtensions)
            simulcast = self.simulcast.get(parameters.muxId or "") if kind == "video" else None
            if simulcast is not None:
                ext[simulcast.rid_id] = Ext.RID  # aiortc does not negotiate them: the offer's ids
                if simulcast.repaired_rid_id is not None:
                    ext[simulcast.repaired_rid_id] = Ext.REPAIRED_RID
            self.kinds_by_id.update(ext)
            media = [c for c in parameters.codecs if c.mimeType.lower() != f"{kind}/rtx"]
            rtx_pt = next(
                (
                    c.payloadType
                    for c in parameters.codecs
                    if c.mimeType.lower() == f"{kind}/rtx" and c.parameters.get("apt") == media[0].payloadType
                ),
                None,
            )
            key = TrackKey(self.participant_id, kind, source)
            inbound: Inbound[TransportSink] = Inbound(key, media[0].payloadType, ext, rtx_payload_type=rtx_pt)
            self._media[inbound] = (media[0].clockRate, _nack_negotiated(media[0]))
            if simulcast is not None:
                layers: list[Inbound[TransportSink]] = [
                    Inbound(key, media[0].payloadType, ext, rtx_payload_type=rtx_pt) for _ in simulcast.rids[:-1]
                ] + [inbound]  # the last (the largest, as browsers list them) stands for the track
                for layer, rid in zip(layers, simulcast.rids):
                    layer.layers, layer.rid = layers, rid
                    self._media[layer] = self._media[inbound]
                self.by_rid[simulcast.mid] = {rid: layer for layer, rid in zip(layers, simulcast.rids)}
            self._started[id(receiver)] = inbound
            rtcp_ssrc = getattr(receiver, "_RTCRtpReceiver__rtcp_ssrc", None)
            if not self._sender_ssrc_known and isinstance(rtcp_ssrc, int):
                self.feedback.sender_ssrc = rtcp_ssrc  # the SSRC our PLIs come from too
                self._sender_ssrc_known = True
            if parameters.muxId:
                self.by_mid[parameters.muxId] = inbound
            if simulcast is None:
                self._bind_encodings(inbound, parameters)  # simulcast layers are told apart by rid
            self.hook_transport(receiver.transport)
            self.on_inbound(inbound, receiver)

        receiver.receive = receive  # type: ignore[method-assign]

    def _bind_encodings(self, inbound: Inbound[TransportSink], parameters: RTCRtpReceiveParameters) -> None:
        """Route the signaled SSRCs (media, and RTX when negotiated) to
        ``inbound``, within its section's SSRC cap."""
        mid = parameters.muxId or ""
        for encoding in parameters.encodings:
            ssrc = encoding.ssrc
            if ssrc and self.by_ssrc.get(ssrc) is not inbound and self._adopt(mid, ssrc):
                self.by_ssrc[ssrc] = inbound
                self._add_stream(inbound, ssrc)
            rtx = encoding.rtx
            if rtx is not None and inbound.rtx_payload_type is not None and self._adopt(mid, rtx.ssrc):
                self.by_ssrc[rtx.ssrc] = inbound

    def _adopt(self, mid: str, ssrc: int) -> bool:
        """Count ``ssrc`` against its section's cap; False when over it."""
        ssrcs = self.ssrcs_by_mid.setdefault(mid, set())
        if ssrc in ssrcs:
            return True
        if len(ssrcs) >= (MAX_SSRCS_PER_SIMULCAST_SECTION if mid in self.by_rid else MAX_SSRCS_PER_SECTION):
            return False
        ssrcs.add(ssrc)
        return True

    def _add_stream(self, inbound: Inbound[TransportSink], ssrc: int) -> None:
        clock_rate, nack = self._media.get(inbound, (90000, False))
        self.feedback.add_stream(ssrc, clock_rate, nack)

    def on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        """Decrypted RTP from this publisher: forward it now, and count it for
        our feedback. Never raises."""
        ssrc = int.from_bytes(data[8:12], "big")
        inbound = self.by_ssrc.get(ssrc)
        if inbound is None:
            if ssrc in self._refused:
                return
            inbound = self._resolve(data)
            if inbound is None:
                return
        try:
            payload_type = data[1] & 0x7F
            now = time.monotonic()
            if payload_type == inbound.payload_type:
                inbound.last_arrival = now  # (not RTX: a browser probes with padding there)
                self.feedback.on_media(
                    ssrc,
                    int.from_bytes(data[2:4], "big"),
                    int.from_bytes(data[4:8], "big"),
                    arrival_time_ms,
                    len(data),
                    now,
                )
            elif payload_type == inbound.rtx_payload_type:
                osn = original_sequence_number(data)
                if osn is not None:
                    self.feedback.on_rtx(inbound.media_ssrc, osn, len(data))
            for sink, packet in self.forwarder.on_rtp(inbound, data, abs_send_time_now()):
                sink.send(packet)
        except Exception:  # an exception here would close the publisher's connection
            log.exception("forwarding failed; packet dropped", extra=about(self.participant_id))

    def on_rtcp(self, data: bytes) -> None:
        """Decrypted RTCP from this publisher: its sender reports date our
        receiver reports (LSR/DLSR). Nothing else in it concerns us: the
        SFU sends no media on a publisher's connection. Never raises."""
        try:
            reports = sender_reports(data)
        except ValueError:
            return
        now = time.monotonic()
        for ssrc, ntp in reports:
            self.feedback.on_sender_report(ssrc, ntp, now)

    async def send_feedback(self, now: float) -> None:
        """Send the compound RTCP packet due at ``now`` (RR, REMB, NACKs), if any."""
        packet = self.feedback.poll(now)
        dtls = self.dtls
        if packet is None or dtls is None or dtls._tx_srtp is None:
            return
        try:
            await dtls._send_rtp(packet)  # SRTCP-protected: it starts with an RR
        except Exception as exc:  # a closed transport: nothing to report to
            log.debug("feedback not sent: %r", exc, extra=about(self.participant_id))

    def hook_transport(self, dtls: RTCDtlsTransport) -> None:
        if id(dtls) in self._hooked:
            return
        self._hooked.add(id(dtls))
        if self.dtls is None:
            self.dtls = dtls  # bundled: one transport carries everything
        forward = self.on_rtp
        on_rtcp = self.on_rtcp

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            """aiortc's receive loop (no mux)."""
            forward(data, arrival_time_ms)

        async def handle_rtcp_data(data: bytes) -> None:
            """aiortc's receive loop, and the mux (which runs it at once).
            aiortc's parser never sees this transport's RTCP (so the
            rtcp_guard the subscriber side needs has nothing to guard)."""
            on_rtcp(data)

        dtls._handle_rtp_data = handle_rtp_data  # type: ignore[method-assign]
        dtls._handle_rtcp_data = handle_rtcp_data  # type: ignore[method-assign]
        dtls._callsfu_on_rtp = forward  # type: ignore[attr-defined]  # the mux's entry
        dtls._callsfu_on_rtcp = on_rtcp  # type: ignore[attr-defined]
        dtls._callsfu_participant = self.participant_id  # type: ignore[attr-defined]  # for the mux's log lines

    def _refuse(self, ssrc: int) -> None:
        if len(self._refused) >= REFUSED_MEMORY:
            self._refused.clear()
        self._refused.add(ssrc)
        # libsrtp made a stream (about a kilobyte) for this SSRC when it
        # decrypted the packet; a refused SSRC must not keep one
        srtp = getattr(self.dtls, "_rx_srtp", None)
        if srtp is not None:
            try:
                srtp.remove_stream(ssrc)
            except Exception:  # no such stream (the mux decrypts with its own)
                pass

    def _resolve(self, data: bytes) -> Inbound[TransportSink] | None:
        """An SSRC seen for the first time: bind it by its mid header extension."""
        try:
            view = RtpView.parse(data, self.kinds_by_id)
        except ValueError:
            return None
        inbound = self.by_mid.get(view.mid) if view.mid is not None else None
        layers = self.by_rid.get(view.mid) if view.mid is not None else None
        if inbound is not None and layers is not None:
            rid = view.rid if view.payload_type == inbound.payload_type else view.repaired_rid
            if rid is None:
                return None  # not named yet: nothing to bind it to (not refused: it will be)
            inbound = layers.get(rid)
            if inbound is None:
                log.info("%s sent a simulcast layer it did not offer (rid %r): refused", self.participant_id, rid[:16])
        if inbound is None or view.mid is None or not self._adopt(view.mid, view.ssrc):
            self._refuse(view.ssrc)
            return None  # unknown, or over its section's cap
        if view.payload_type == inbound.payload_type:
            self._add_stream(inbound, view.ssrc)
        elif view.payload_type != inbound.rtx_payload_type:
            return None
        self.by_ssrc[view.ssrc] = inbound
        return inbound


def _nack_negotiated(codec: RTCRtpCodecParameters) -> bool:
    return any(fb.type == "nack" and not fb.parameter for fb in codec.rtcpFeedback)
