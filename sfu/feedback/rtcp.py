"""RTCP serialisation for the feedback we send, and the sender reports we read.

Receiver Report (RFC 3550 6.4.2), REMB (draft-alvestrand-rmcat-remb, PSFB
FMT 15 with the "REMB" identifier), generic NACK (RFC 4585 6.2.1, RTPFB FMT 1).
Every function returns the bytes of one RTCP packet; a compound packet is
their concatenation (RFC 3550 6.1: the first one must be an SR or RR).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "MAX_REPORT_BLOCKS",
    "ReportBlock",
    "generic_nack",
    "receiver_report",
    "remb",
    "rtcp_packet",
    "sender_reports",
]

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_RTPFB = 205
RTCP_PSFB = 206
FMT_NACK = 1
FMT_REMB = 15

MAX_REPORT_BLOCKS = 31  # the 5-bit report count
MAX_REMB_SSRCS = 255  # the 8-bit "Num SSRC"
_REMB_MANTISSA = 0x3FFFF  # 18 bits

_HEADER = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IIIIII")
_SSRC = struct.Struct("!I")
_SR = struct.Struct("!IQ")  # sender SSRC, 64-bit NTP timestamp


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 6.4.1)."""

    ssrc: int
    fraction_lost: int  # 0..255, fixed point /256
    cumulative_lost: int  # signed 24-bit
    highest_sequence: int  # extended highest sequence number received, 32-bit
    jitter: int  # interarrival jitter, timestamp units, 32-bit
    lsr: int  # middle 32 bits of the last SR's NTP timestamp, 0 if none
    dlsr: int  # delay since that SR, units of 1/65536 s

    def pack(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError(f"fraction lost must be 0..255, got {self.fraction_lost}")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise ValueError(f"cumulative lost must fit 24 signed bits, got {self.cumulative_lost}")
        return _BLOCK.pack(
            _u32(self.ssrc, "report block SSRC"),
            (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF),
            _u32(self.highest_sequence, "extended highest sequence number"),
            _u32(self.jitter, "jitter"),
            _u32(self.lsr, "LSR"),
            _u32(self.dlsr, "DLSR"),
        )


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} must be a 32-bit unsigned value, got {value}")
    return value


def rtcp_packet(packet_type: int, count: int, body: bytes) -> bytes:
    """One RTCP packet: the common header (V=2, no padding, ``count`` in the
    5-bit field, the length in 32-bit words minus one) before ``body``."""
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def receiver_report(sender_ssrc: int, blocks: list[ReportBlock]) -> bytes:
    """An RR from ``sender_ssrc`` with up to 31 report blocks (none is valid)."""
    if len(blocks) > MAX_REPORT_BLOCKS:
        raise ValueError(f"an RR holds at most {MAX_REPORT_BLOCKS} report blocks, got {len(blocks)}")
    body = _SSRC.pack(_u32(sender_ssrc, "RR sender SSRC")) + b"".join(b.pack() for b in blocks)
    return rtcp_packet(RTCP_RR, len(blocks), body)


def remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    """A REMB: the receiver's estimated maximum bitrate (bit/s) for ``ssrcs``.

    The bitrate is written as an 18-bit mantissa and a 6-bit exponent,
    rounded down (never announcing more than ``bitrate``)."""
    if bitrate < 0:
        raise ValueError(f"REMB bitrate must be >= 0, got {bitrate}")
    if not 1 <= len(ssrcs) <= MAX_REMB_SSRCS:
        raise ValueError(f"REMB needs 1..{MAX_REMB_SSRCS} SSRCs, got {len(ssrcs)}")
    exponent, mantissa = 0, bitrate
    while mantissa > _REMB_MANTISSA:
        mantissa >>= 1
        exponent += 1
    if exponent > 63:
        raise ValueError(f"REMB bitrate {bitrate} does not fit 18 bits x 2^63")
    body = (
        _SSRC.pack(_u32(sender_ssrc, "REMB sender SSRC"))
        + _SSRC.pack(0)  # media source: unused, 0
        + b"REMB"
        + bytes([len(ssrcs), (exponent << 2) | (mantissa >> 16)])
        + struct.pack("!H", mantissa & 0xFFFF)
        + b"".join(_SSRC.pack(_u32(s, "REMB SSRC")) for s in ssrcs)
    )
    return rtcp_packet(RTCP_PSFB, FMT_REMB, body)


def generic_nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    """A generic NACK for the 16-bit sequence numbers ``lost`` of ``media_ssrc``.

    ``lost`` must be in sending order (wrap-aware ascending, as the NACK
    generator gives them); each PID covers itself and the 16 that follow
    it in its bitmask (BLP)."""
    if not lost:
        raise ValueError("a generic NACK needs at least one sequence number")
    fci: list[bytes] = []
    pid: int | None = None
    blp = 0
    for seq in lost:
        if not 0 <= seq <= 0xFFFF:
            raise ValueError(f"sequence number must be 16-bit, got {seq}")
        if pid is not None:
            delta = (seq - pid) & 0xFFFF
            if 1 <= delta <= 16:
                blp |= 1 << (delta - 1)
                continue
            if delta == 0:
                continue  # a repeat
            fci.append(struct.pack("!HH", pid, blp))
        pid, blp = seq, 0
    assert pid is not None
    fci.append(struct.pack("!HH", pid, blp))
    body = _SSRC.pack(_u32(sender_ssrc, "NACK sender SSRC")) + _SSRC.pack(_u32(media_ssrc, "NACK media SSRC"))
    return rtcp_packet(RTCP_RTPFB, FMT_NACK, body + b"".join(fci))


def sender_reports(data: bytes) -> list[tuple[int, int]]:
    """(SSRC, 64-bit NTP timestamp) of every SR in a (compound) RTCP packet.

    Raises ValueError for a truncated header, a version other than 2, a
    length running past the data, or an SR shorter than its sender info.
    Other packet types are skipped."""
    out: list[tuple[int, int]] = []
    pos, n = 0, len(data)
    while pos < n:
        if pos + 4 > n:
            raise ValueError(f"RTCP header truncated at byte {pos} of {n}")
        b0, packet_type, words = _HEADER.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise ValueError(f"RTCP version is {b0 >> 6} at byte {pos}, expected 2")
        end = pos + 4 + words * 4
        if end > n:
            raise ValueError(f"RTCP packet at byte {pos} of length {words} words runs past {n} bytes")
        if packet_type == RTCP_SR:
            if end - pos < 4 + _SR.size + 12:
                raise ValueError(f"RTCP SR at byte {pos} is {end - pos} bytes, needs at least 28")
            out.append(_SR.unpack_from(data, pos + 4))
        pos = end
    return out
