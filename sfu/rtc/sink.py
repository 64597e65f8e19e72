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

On the native path (``sfu/rtc/fanout.py``) the sink has a native half, a
``sfu.native.Sink`` with its own duplicate of the descriptor, the destination
and the SRTP context: the fan-out group sends through it, and so does
:meth:`send` (protect + ``sendto`` in C, errors counted there).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu.logcontext import about
from sfu.rtc import fanout
from sfu.rtc.srtp import lean_protect

log = logging.getLogger("callsfu.sfu")


class TransportSink:
    __slots__ = ("dtls", "owner", "failed", "native", "_pair", "_protect", "_sendto", "_addr", "_socket", "_use_native")

    def __init__(self, dtls: RTCDtlsTransport, native: bool | None = None, owner: str | None = None) -> None:
        self.dtls = dtls
        self.owner = owner  # the subscriber's participant id (log lines)
        self.failed = 0  # Python-path drops; the native half counts its own
        self.native: Any = None  # the sfu.native.Sink once bound on the native path
        self._use_native = fanout.native_enabled() if native is None else native
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
        if self.native is not None and not self.native.closed:
            # already bound (aiortc never changes a nominated pair): the fast
            # groups hold this native half, keep it
            self._pair = pair
            return True
        self.close()
        transport = pair.protocol.transport
        if self._use_native and self._bind_native(transport, pair.remote_addr, srtp):
            self._pair = pair
            return True
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

    def _bind_native(self, transport: Any, addr: tuple[str, int], srtp: Any) -> bool:
        from sfu.native import new_sink

        try:
            self.native = new_sink(transport.get_extra_info("socket"), addr, srtp)
        except (AttributeError, OSError, ValueError) as exc:
            log.warning("native sink unavailable, this subscriber stays on the Python path: %r", exc, extra=about(self.owner))
            return False
        return True

    def native_sink(self) -> Any:
        """The native half for the fan-out group (binding first); None while
        DTLS or ICE is not up, or on the Python path."""
        if self._pair is None and not self._bind():
            return None
        return self.native

    def send(self, packet: bytes) -> None:
        try:
            if self._pair is None and not self._bind():
                return
            if self.native is not None:
                self.native.send(packet)  # counts its own failures, never raises
                return
            self._sendto(self._protect(packet), self._addr)  # type: ignore[misc]
        except (BlockingIOError, ConnectionRefusedError):
            self.failed += 1  # a full buffer or a port gone: a lost packet, nothing more
        except Exception as exc:  # never into aiortc: a failed send is a lost packet
            self.failed += 1
            self._pair = None
            if self.failed in (1, 100, 10000):
                log.warning("dropping packets to a subscriber: %r (%d so far)", exc, self.failed, extra=about(self.owner))

    def close(self) -> None:
        if self.native is not None:
            log.debug("native sink closed: %d datagrams sent, %d dropped", self.native.sent, self.native.failed, extra=about(self.owner))
            self.native.close()
            self.native = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._pair = None
