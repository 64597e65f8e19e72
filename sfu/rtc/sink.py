"""Where rewritten packets leave: SRTP-protect, then one ``sendto``.

This is one level below ``RTCDtlsTransport._send_rtp``: no coroutine per
packet, and nothing raises (a subscriber not connected yet, or gone, simply
drops the packet).
"""

from __future__ import annotations

import logging

from aiortc.rtcdtlstransport import RTCDtlsTransport

log = logging.getLogger("callsfu.sfu")


class TransportSink:
    __slots__ = ("dtls", "sent", "failed")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self.dtls = dtls
        self.sent = 0
        self.failed = 0

    def send(self, packet: bytes) -> None:
        try:
            srtp = self.dtls._tx_srtp
            pair = self.dtls.transport._connection._nominated.get(1)
            if srtp is None or pair is None:
                return
            pair.protocol.transport.sendto(srtp.protect(packet), pair.remote_addr)
            self.sent += 1
        except Exception as exc:  # never into aiortc: a failed send is a lost packet
            self.failed += 1
            if self.failed in (1, 100, 10000):
                log.warning("dropping packets to a subscriber: %r (%d so far)", exc, self.failed)
