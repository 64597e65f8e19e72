"""Sender reports towards one subscriber, as compound RTCP (sans-IO).

aiortc runs one task per ``RTCRtpSender`` that wakes about once a second to
send an SR and an SDES for that sender alone: in a 32-person video call that
is about 2,000 tasks and 2,000 small packets a second. The SFU instead sends,
per subscriber transport and interval, one compound packet per MTU's worth of
streams: every stream's SR (RFC 3550 6.4.1) followed by one SDES with a CNAME
chunk per stream (6.5). A compound packet must start with an SR or RR, which
each chunk of the split does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .rtcp import RTCP_SDES, RTCP_SR, rtcp_packet

__all__ = ["SenderState", "compound_sender_reports", "MAX_COMPOUND"]

MAX_COMPOUND = 1100  # bytes of RTCP per datagram, leaving room for SRTCP and IP/UDP
_SENDER_INFO = struct.Struct("!IIIIII")  # SSRC, NTP msw/lsw, RTP timestamp, packets, octets
_SR_LEN = 4 + _SENDER_INFO.size  # 28: an SR with no report blocks


@dataclass(frozen=True, slots=True)
class SenderState:
    """What one outgoing stream reports: its SSRC and its sender counters."""

    ssrc: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int


def _sr(state: SenderState, ntp: int) -> bytes:
    return rtcp_packet(
        RTCP_SR,
        0,
        _SENDER_INFO.pack(
            state.ssrc,
            (ntp >> 32) & 0xFFFFFFFF,
            ntp & 0xFFFFFFFF,
            state.rtp_timestamp & 0xFFFFFFFF,
            state.packet_count & 0xFFFFFFFF,
            state.octet_count & 0xFFFFFFFF,
        ),
    )


def _sdes_chunk(ssrc: int, cname: bytes) -> bytes:
    # SSRC, CNAME item (type 1, length, text), then a null item and padding to 32 bits
    body = struct.pack("!IBB", ssrc, 1, len(cname)) + cname
    return body + b"\x00" * (4 - len(body) % 4)


def _sdes(chunks: list[bytes]) -> bytes:
    return rtcp_packet(RTCP_SDES, len(chunks), b"".join(chunks))


def compound_sender_reports(streams: list[SenderState], cname: str, ntp: int) -> list[bytes]:
    """Compound RTCP packets (each ≤ ``MAX_COMPOUND`` bytes) reporting every stream.

    ``ntp`` is the 64-bit NTP time of now; ``cname`` at most 255 UTF-8 bytes
    (ValueError otherwise). No stream, no packet.
    """
    raw_cname = cname.encode("utf-8")
    if len(raw_cname) > 255:
        raise ValueError(f"CNAME must be at most 255 UTF-8 bytes, got {len(raw_cname)}")
    packets: list[bytes] = []
    srs: list[bytes] = []
    chunks: list[bytes] = []
    size = 4  # the SDES header
    for state in streams:
        sr, chunk = _sr(state, ntp), _sdes_chunk(state.ssrc, raw_cname)
        # an SDES holds at most 31 chunks (5-bit count)
        if srs and (size + len(sr) + len(chunk) > MAX_COMPOUND or len(chunks) == 31):
            packets.append(b"".join(srs) + _sdes(chunks))
            srs, chunks, size = [], [], 4
        srs.append(sr)
        chunks.append(chunk)
        size += len(sr) + len(chunk)
    if srs:
        packets.append(b"".join(srs) + _sdes(chunks))
    return packets
