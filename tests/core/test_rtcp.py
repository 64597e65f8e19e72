from __future__ import annotations

import struct

import pytest
from aiortc.rtp import (
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    pack_remb_fci,
)

from sfu.core.rtcp import Nack, PictureLoss, parse_feedback, pli


def nack(lost: list[int], media_ssrc: int = 0xABCD) -> bytes:
    return bytes(RtcpRtpfbPacket(fmt=1, ssrc=1, media_ssrc=media_ssrc, lost=lost))


def report_and_sdes() -> bytes:
    info = RtcpReceiverInfo(
        ssrc=5, fraction_lost=0, packets_lost=0, highest_sequence=1, jitter=0, lsr=0, dlsr=0
    )
    sr = RtcpSrPacket(
        ssrc=1,
        sender_info=RtcpSenderInfo(ntp_timestamp=1, rtp_timestamp=2, packet_count=3, octet_count=4),
    )
    return bytes(sr) + bytes(RtcpRrPacket(ssrc=1, reports=[info])) + bytes(RtcpSdesPacket())


@pytest.mark.parametrize(
    "lost",
    [[7], [1, 2, 3], [100, 116], [100, 117], list(range(10, 60, 3)), [0, 5, 40, 41, 42, 1000]],
)
def test_nack_matches_aiortc(lost: list[int]) -> None:
    data = nack(lost)
    (theirs,) = RtcpPacket.parse(data)
    assert isinstance(theirs, RtcpRtpfbPacket)
    assert parse_feedback(data) == [Nack(0xABCD, tuple(theirs.lost))]
    assert theirs.lost == lost


def test_nack_blp_wraps_at_65535() -> None:
    data = struct.pack("!BBHIIHH", 0x81, 205, 3, 1, 9, 65534, 0b111)
    assert parse_feedback(data) == [Nack(9, (65534, 65535, 0, 1))]


def test_pli_fir_and_ignored_types_in_a_compound_packet() -> None:
    fir_fci = struct.pack("!IB3x", 0x1111, 7) + struct.pack("!IB3x", 0x2222, 8)
    data = (
        report_and_sdes()
        + bytes(RtcpPsfbPacket(fmt=1, ssrc=1, media_ssrc=0x3333))
        + bytes(RtcpPsfbPacket(fmt=15, ssrc=1, media_ssrc=0, fci=pack_remb_fci(300000, [5])))
        + nack([4, 6])
        + bytes(RtcpPsfbPacket(fmt=4, ssrc=1, media_ssrc=0, fci=fir_fci))
        + bytes(RtcpRtpfbPacket(fmt=15, ssrc=1, media_ssrc=0))  # transport-cc: ignored
        + bytes(RtcpByePacket(sources=[1]))
    )
    assert len(RtcpPacket.parse(data)) == 9  # aiortc agrees it is well formed
    assert parse_feedback(data) == [
        PictureLoss(0x3333),
        Nack(0xABCD, (4, 6)),
        PictureLoss(0x1111),
        PictureLoss(0x2222),
    ]


def test_only_reports() -> None:
    assert parse_feedback(report_and_sdes()) == []


def test_pli_builder_matches_aiortc() -> None:
    data = pli(0x01020304, 0x0A0B0C0D)
    assert data == bytes(RtcpPsfbPacket(fmt=1, ssrc=0x01020304, media_ssrc=0x0A0B0C0D))
    assert parse_feedback(data) == [PictureLoss(0x0A0B0C0D)]


def test_padding_is_stripped() -> None:
    body = struct.pack("!IIHH", 1, 9, 20, 0) + b"\x00\x00\x00\x04"
    data = struct.pack("!BBH", 0xA1, 205, len(body) // 4) + body
    assert parse_feedback(data) == [Nack(9, (20,))]


def test_feedback_values_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Nack(1, ()).media_ssrc = 2  # type: ignore[misc]


MALFORMED = {
    "empty": (b"", "empty"),
    "truncated header": (nack([1])[:3], "header truncated at byte 0: 3 bytes left"),
    "trailing bytes": (pli(1, 2) + b"\x80", "header truncated at byte 12"),
    "bad version": (b"\x41" + pli(1, 2)[1:], "version is 1"),
    "length past end": (nack([1, 2])[:-4], "past the 12 bytes"),
    "second packet length past end": (pli(1, 2) + b"\x81\xce\x00\x05" + bytes(8), "at byte 12"),
    "padding zero": (b"\xa1\xce\x00\x02" + bytes(8), "invalid padding 0"),
    "padding too long": (b"\xa1\xce\x00\x02" + bytes(7) + b"\x0d", "invalid padding 13"),
    "feedback without ssrcs": (b"\x81\xce\x00\x01" + bytes(4), "shorter than its two SSRCs"),
    "nack fci not 4-aligned": (
        b"\xa1\xcd\x00\x04" + bytes(8) + b"\x00\x01\x00\x00\x00\x00\x00\x02",
        "NACK at byte 0 has 6 FCI bytes",
    ),
    "fir fci not 8-aligned": (b"\x84\xce\x00\x03" + bytes(12), "FIR at byte 0 has 4 FCI bytes"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed(case: str) -> None:
    data, message = MALFORMED[case]
    with pytest.raises(ValueError, match=message):
        parse_feedback(data)
