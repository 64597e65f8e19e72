"""RTX (RFC 4588) from publishers: back to the packet it retransmits.

A retransmission carries the original sequence number (OSN) in the first two
bytes of its payload, on its own SSRC and payload type. Unwrapping restores
the original header fields so the packet can be cached and forwarded like
the original. Padding-only RTX packets (a browser's bandwidth probes) carry
no packet and unwrap to None.
"""

from __future__ import annotations

import struct

from .extensions import Ext
from .packet import RtpView

__all__ = ["original_sequence_number", "unwrap_rtx"]

_SEQ = struct.Struct("!H")
_SSRC = struct.Struct("!I")


def _payload_offset(data: bytes) -> int | None:
    """Start of the payload of an RTP packet, None if the header is truncated."""
    n = len(data)
    if n < 12:
        return None
    pos = 12 + ((data[0] & 0x0F) << 2)
    if data[0] & 0x10:
        if pos + 4 > n:
            return None
        pos += 4 + (int.from_bytes(data[pos + 2 : pos + 4], "big") << 2)
    return pos if pos <= n else None


def original_sequence_number(data: bytes) -> int | None:
    """The OSN of an RTX packet, None when it carries none (truncated,
    padding only)."""
    pos = _payload_offset(data)
    if pos is None:
        return None
    end = len(data) - (data[-1] if data[0] & 0x20 else 0)
    if end - pos < 3:  # an OSN and at least one byte of the original payload
        return None
    return int(_SEQ.unpack_from(data, pos)[0])


def unwrap_rtx(rtx: RtpView, payload_type: int, ssrc: int, kinds_by_id: dict[int, Ext]) -> RtpView | None:
    """The original packet of the parsed RTX packet ``rtx``: its payload type
    and SSRC are ``payload_type`` and ``ssrc``, its sequence number the OSN;
    marker, timestamp, CSRCs and header extensions as ``rtx`` carries them;
    no padding. None when ``rtx`` carries no packet."""
    payload = rtx.payload
    if len(payload) < 3:
        return None
    data = rtx.data
    padding = data[-1] if data[0] & 0x20 else 0
    header = bytearray(data[: len(data) - padding - len(payload)])
    header[0] &= 0xDF  # no padding any more
    header[1] = (header[1] & 0x80) | (payload_type & 0x7F)
    header[2:4] = payload[:2]
    _SSRC.pack_into(header, 8, ssrc)
    return RtpView.parse(bytes(header) + bytes(payload[2:]), kinds_by_id)
