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
and one SRTP session per SSRC, keyed from the connection's DTLS keying
material (``sfu.rtc.srtp.outbound_policy``): the fan-out group sends through
it, and so does :meth:`send` (protect + ``sendto`` in C, errors counted
there). Every RTP packet of the connection then goes through the native half
(aiortc's own ``_tx_srtp`` keeps protecting its RTCP only), and the half is
made once per connection and never replaced: a second set of sessions for
the same SSRCs would start their rollover counters again under the same key.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu.logcontext import about
from sfu.rtc import fanout
from sfu.rtc.srtp import lean_protect, outbound_policy

log = logging.getLogger("callsfu.sfu")


class TransportSink:
    __slots__ = (
        "dtls", "owner", "failed", "native", "_pair", "_protect", "_sendto", "_addr", "_socket", "_use_native", "_closed",
    )  # fmt: skip

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
        self._closed = False  # for good: a closed sink is never bound again

    def _bind(self) -> bool:
        """(Re)resolve where packets go; False while DTLS or ICE is not up."""
        srtp = self.dtls._tx_srtp
        pair = self.dtls.transport._connection._nominated.get(1)
        if self._closed or srtp is None or pair is None or pair.protocol.transport is None:
            self._pair = None
            return False
        if self.native is not None:
            # already bound (aiortc never changes a nominated pair): the fast
            # groups hold this native half and its SSRCs' sessions, keep it
            self._pair = pair
            return True
        self._close_python()
        transport = pair.protocol.transport
        if self._use_native and self._bind_native(transport, pair.remote_addr):
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

    def _bind_native(self, transport: Any, addr: tuple[str, int]) -> bool:
        from sfu.native import new_sink

        try:
            self.native = new_sink(transport.get_extra_info("socket"), addr, outbound_policy(self.dtls))
        except (AttributeError, OSError, ValueError) as exc:
            log.warning("native sink unavailable, this subscriber stays on the Python path: %r", exc, extra=about(self.owner))
            self._use_native = False  # for good: its SSRCs' RTP is then aiortc's session's alone
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
        """For good: later sends are dropped (the connection is going)."""
        self._closed = True
        if self.native is not None:
            log.debug("native sink closed: %d datagrams sent, %d dropped", self.native.sent, self.native.failed, extra=about(self.owner))
            self.native.close()  # (the fast groups may still hold it: their sends now count as dropped)
            self.native = None
        self._close_python()

    def _close_python(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._pair = None
