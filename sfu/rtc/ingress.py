"""Publisher side glue: decrypted RTP in, straight into the forwarder.

:meth:`Ingress.on_rtp` is the synchronous entry: decrypted RTP bytes and
their arrival time, forwarded at once. Two paths reach it:

- the UDP mux (``sfu/rtc/mux.py``) decrypts in its datagram callback and
  calls ``dtls._callsfu_on_rtp(data, arrival_time_ms)``, set on each publisher
  DTLS transport by :meth:`Ingress.hook_transport`: no aioice queue, no DTLS
  receive coroutine, no task per packet;
- without the mux, aiortc's own receive loop calls
  ``RTCDtlsTransport._handle_rtp_data``, which the hook wraps on the instance.

On both, aiortc's own handler still sees every packet afterwards, for the
receiver reports, NACKs and REMB it sends the publisher (browsers size their
bitrate on those); on the mux path it is run synchronously
(:func:`sfu.rtc.drive.run_now`). Each receiver's decoder thread is stopped as
soon as aiortc starts it: nothing is ever decoded.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from sfu.core.extensions import Ext, kinds_by_id
from sfu.core.packet import RtpView
from sfu.routing.forwarder import Forwarder, Inbound
from sfu.routing.layout import Kind, TrackKey
from sfu.rtc.drive import run_now
from sfu.rtc.rtcp_guard import guard_rtcp
from sfu.rtc.sink import TransportSink

log = logging.getLogger("callsfu.sfu")

OnInbound = Callable[[Inbound[TransportSink], RTCRtpReceiver], None]


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

    def hook_receiver(self, receiver: RTCRtpReceiver, kind: Kind) -> None:
        original: Callable[[RTCRtpReceiveParameters], Awaitable[None]] = receiver.receive

        async def receive(parameters: RTCRtpReceiveParameters) -> None:
            await original(parameters)
            receiver._handle_disconnect()  # stop the decoder thread aiortc just started
            ext = kinds_by_id((e.id, e.uri) for e in parameters.headerExtensions)
            self.kinds_by_id.update(ext)
            media = [c for c in parameters.codecs if c.mimeType.lower() != f"{kind}/rtx"]
            inbound: Inbound[TransportSink] = Inbound(
                TrackKey(self.participant_id, kind), media[0].payloadType, ext
            )
            if parameters.muxId:
                self.by_mid[parameters.muxId] = inbound
            for encoding in parameters.encodings:
                if encoding.ssrc:
                    self.by_ssrc[encoding.ssrc] = inbound
            self.hook_transport(receiver.transport)
            self.on_inbound(inbound, receiver)

        receiver.receive = receive  # type: ignore[method-assign]

    def on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        """Decrypted RTP from this publisher: forward it now. Never raises."""
        inbound = self.by_ssrc.get(int.from_bytes(data[8:12], "big")) or self._resolve(data)
        if inbound is None:
            return
        try:
            for sink, packet in self.forwarder.on_rtp(inbound, data, abs_send_time_now()):
                sink.send(packet)
        except Exception:  # an exception here would close the publisher's connection
            log.exception("forwarding failed; packet dropped")

    def hook_transport(self, dtls: RTCDtlsTransport) -> None:
        if id(dtls) in self._hooked:
            return
        self._hooked.add(id(dtls))
        guard_rtcp(dtls)  # the publisher's malformed RTCP is dropped, not raised
        original = dtls._handle_rtp_data
        forward = self.on_rtp

        def on_rtp(data: bytes, arrival_time_ms: int) -> None:
            """The mux's entry: forward, then aiortc's RR/NACK/REMB bookkeeping."""
            forward(data, arrival_time_ms)
            run_now(original(data, arrival_time_ms))

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            """aiortc's receive loop (no mux): the same, awaited."""
            forward(data, arrival_time_ms)
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = handle_rtp_data  # type: ignore[method-assign]
        dtls._callsfu_on_rtp = on_rtp  # type: ignore[attr-defined]

    def _resolve(self, data: bytes) -> Inbound[TransportSink] | None:
        """An SSRC seen for the first time: bind it by its mid header extension."""
        try:
            view = RtpView.parse(data, self.kinds_by_id)
        except ValueError:
            return None
        inbound = self.by_mid.get(view.mid) if view.mid is not None else None
        if inbound is None or view.payload_type != inbound.payload_type:
            return None  # unknown, or the RTX stream of a known track
        self.by_ssrc[view.ssrc] = inbound
        return inbound
