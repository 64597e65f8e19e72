"""Where rewritten packets leave: SRTP-protect, then one ``sendto``.

This is one level below ``RTCDtlsTransport._send_rtp``: no coroutine per
packet, and nothing raises (a subscriber not connected yet, or gone, simply
drops the packet). Protect and the destination are looked up once, when the
subscriber's DTLS and ICE are up (aioice never changes a nominated pair, and
aiortc has no ICE restart).

Packets go out through a duplicate of the ICE socket's descriptor rather
than through the event loop's transport: same socket, same port, but a
refused send (the subscriber's port is gone) raises here, where it is
counted, instead of being logged by the event loop once per packet.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu.rtc.srtp import lean_protect

log = logging.getLogger("callsfu.sfu")


class TransportSink:
    __slots__ = ("dtls", "failed", "_pair", "_protect", "_sendto", "_addr", "_socket")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self.dtls = dtls
        self.failed = 0
        self._pair: Any = None
        self._protect: Callable[[bytes], bytes] | None = None
        self._sendto: Callable[[bytes, Any], Any] | None = None
        self._addr: tuple[str, int] | None = None
        self._socket: socket.socket | None = None

    def _bind(self) -> bool:
        """(Re)resolve where packets go; False while DTLS or ICE is not up."""
        srtp = self.dtls._tx_srtp
        pair = self.dtls.transport._connection._nominated.get(1)
        if srtp is None or pair is None or pair.protocol.transport is None:
            self._pair = None
            return False
        self.close()
        transport = pair.protocol.transport
        self._sendto = transport.sendto
        try:
            raw = transport.get_extra_info("socket")
            self._socket = socket.socket(raw.family, socket.SOCK_DGRAM, fileno=os.dup(raw.fileno()))
            self._socket.setblocking(False)
            self._sendto = self._socket.sendto
        except (AttributeError, OSError, ValueError):
            self._socket = None  # keep the transport's sendto
        self._pair = pair
        self._protect = lean_protect(srtp)
        self._addr = pair.remote_addr
        return True

    def send(self, packet: bytes) -> None:
        try:
            if self._pair is None and not self._bind():
                return
            self._sendto(self._protect(packet), self._addr)  # type: ignore[misc]
        except (BlockingIOError, ConnectionRefusedError):
            self.failed += 1  # a full buffer or a port gone: a lost packet, nothing more
        except Exception as exc:  # never into aiortc: a failed send is a lost packet
            self.failed += 1
            self._pair = None
            if self.failed in (1, 100, 10000):
                log.warning("dropping packets to a subscriber: %r (%d so far)", exc, self.failed)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._pair = None
