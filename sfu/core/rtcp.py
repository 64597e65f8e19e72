"""The RTCP feedback a subscriber sends us: NACK, PLI and FIR.

`parse_feedback` walks a (decrypted) compound RTCP packet at the bytes level
and returns only what the forwarding path acts on; sender/receiver reports,
SDES, BYE, REMB and every other type are skipped (after their length is
checked). `pli` builds the PLI the SFU sends a publisher.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Nack", "PictureLoss", "parse_feedback", "pli"]

_HEADER = struct.Struct("!BBH")
_TWO_SSRC = struct.Struct("!II")
_NACK_FCI = struct.Struct("!HH")
_FIR_FCI = struct.Struct("!I")
_PLI = struct.Struct("!BBHII")

RTPFB = 205  # transport-layer feedback (RFC 4585)
PSFB = 206  # payload-specific feedback (RFC 4585)
FMT_NACK = 1  # generic NACK
FMT_PLI = 1  # picture loss indication
FMT_FIR = 4  # full intra request (RFC 5104)


@dataclass(slots=True, frozen=True)
class Nack:
    """Generic NACK: the subscriber lost these output sequence numbers."""

    media_ssrc: int
    lost: tuple[int, ...]


@dataclass(slots=True, frozen=True)
class PictureLoss:
    """PLI or FIR: the subscriber needs a keyframe for `media_ssrc`."""

    media_ssrc: int


def parse_feedback(data: bytes) -> list[Nack | PictureLoss]:
    """The NACK / PLI / FIR feedback in a compound RTCP packet, in order.

    Raises ValueError when the data is not well-formed RTCP: truncated
    header, version != 2, length field past the end of the data, padding
    count 0 or larger than the packet body, a feedback packet without its
    two SSRCs, or a NACK / FIR whose FCI is not a whole number of entries.
    A FIR gives one PictureLoss per FCI entry (the entry's SSRC); NACK
    sequence numbers are expanded from PID + BLP (and wrap at 65535).
    """
    out: list[Nack | PictureLoss] = []
    n = len(data)
    if n == 0:
        raise ValueError("RTCP packet is empty")
    pos = 0
    while pos < n:
        if pos + 4 > n:
            raise ValueError(f"RTCP header truncated at byte {pos}: {n - pos} bytes left")
        b0, packet_type, words = _HEADER.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise ValueError(f"RTCP version is {b0 >> 6} at byte {pos}, expected 2")
        end = pos + 4 + (words << 2)
        if end > n:
            raise ValueError(
                f"RTCP packet type {packet_type} at byte {pos} has length {words} words, "
                f"ending at byte {end} past the {n} bytes"
            )
        body_end = end
        if b0 & 0x20:
            padding = data[end - 1]
            if padding == 0 or padding > end - pos - 4:
                raise ValueError(
                    f"RTCP packet type {packet_type} at byte {pos} has invalid padding {padding}"
                )
            body_end = end - padding
        fmt = b0 & 0x1F
        if packet_type == RTPFB or packet_type == PSFB:
            body = pos + 4
            if body_end - body < 8:
                raise ValueError(
                    f"RTCP feedback packet type {packet_type} at byte {pos} is shorter "
                    "than its two SSRCs"
                )
            _sender, media_ssrc = _TWO_SSRC.unpack_from(data, body)
            fci = body + 8
            if packet_type == RTPFB:
                if fmt == FMT_NACK:
                    out.append(Nack(media_ssrc, _nack_lost(data, fci, body_end, pos)))
            elif fmt == FMT_PLI:
                out.append(PictureLoss(media_ssrc))
            elif fmt == FMT_FIR:
                if (body_end - fci) % 8:
                    raise ValueError(
                        f"RTCP FIR at byte {pos} has {body_end - fci} FCI bytes, "
                        "not a multiple of 8"
                    )
                for i in range(fci, body_end, 8):
                    out.append(PictureLoss(_FIR_FCI.unpack_from(data, i)[0]))
        pos = end
    return out


def _nack_lost(data: bytes, start: int, end: int, pos: int) -> tuple[int, ...]:
    if (end - start) % 4:
        raise ValueError(
            f"RTCP NACK at byte {pos} has {end - start} FCI bytes, not a multiple of 4"
        )
    lost: list[int] = []
    for i in range(start, end, 4):
        pid, blp = _NACK_FCI.unpack_from(data, i)
        lost.append(pid)
        d = 1
        while blp:
            if blp & 1:
                lost.append((pid + d) & 0xFFFF)
            blp >>= 1
            d += 1
    return tuple(lost)


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """A Picture Loss Indication (RFC 4585 PSFB, FMT 1) packet."""
    return _PLI.pack(0x80 | FMT_PLI, PSFB, 2, sender_ssrc, media_ssrc)
