"""Malformed RTCP is dropped, never raised into aiortc's receive loop.

aiortc's RTCP parser refuses most malformed packets with ValueError, but its
REMB decoder (``aiortc.rtp.unpack_remb_fci``, called while routing) reads an
SSRC list as long as the count byte says without checking the length: a REMB
whose count exceeds its SSRCs raises ``struct.error`` out of
``RTCDtlsTransport._handle_rtcp_data``, which ends that participant's DTLS
receive loop (its media stops while its seat stays). Found by
``benchmarks/fuzz.py``; the wrapper drops such a compound packet instead.
"""

from __future__ import annotations

import logging
import struct

from aiortc.rtcdtlstransport import RTCDtlsTransport

log = logging.getLogger("callsfu.sfu")

__all__ = ["guard_rtcp"]


def guard_rtcp(dtls: RTCDtlsTransport) -> None:
    """Wrap ``dtls._handle_rtcp_data`` (once) so a parse failure drops the packet."""
    if getattr(dtls, "_callsfu_rtcp_guarded", False):
        return
    original = dtls._handle_rtcp_data

    async def handle_rtcp_data(data: bytes) -> None:
        try:
            await original(data)
        except struct.error as exc:  # a field that runs past the packet
            log.debug("malformed RTCP dropped (%d bytes): %s", len(data), exc)

    dtls._handle_rtcp_data = handle_rtcp_data  # type: ignore[method-assign]
    dtls._callsfu_rtcp_guarded = True  # type: ignore[attr-defined]
