"""Compound sender reports: what aiortc (and so a browser) parses back."""

from __future__ import annotations

import pytest
from aiortc.rtp import RtcpPacket, RtcpSdesPacket, RtcpSrPacket

from sfu.feedback.sender_reports import MAX_COMPOUND, SenderState, compound_sender_reports

NTP = 0xE8F1_2345_6789_ABCD


def states(n: int) -> list[SenderState]:
    return [SenderState(0x1000 + i, 90000 * i + 7, 100 + i, 100_000 * i + 3) for i in range(n)]


def test_one_stream_is_an_sr_then_an_sdes() -> None:
    (packet,) = compound_sender_reports(states(1), "cname-x", NTP)
    sr, sdes = RtcpPacket.parse(packet)
    assert isinstance(sr, RtcpSrPacket) and isinstance(sdes, RtcpSdesPacket)
    assert sr.ssrc == 0x1000 and sr.reports == []
    assert sr.sender_info.ntp_timestamp == NTP
    assert (sr.sender_info.rtp_timestamp, sr.sender_info.packet_count, sr.sender_info.octet_count) == (7, 100, 3)
    assert [(c.ssrc, c.items) for c in sdes.chunks] == [(0x1000, [(1, b"cname-x")])]


@pytest.mark.parametrize("n", [2, 31, 62, 100])
def test_every_stream_reported_once_within_the_mtu(n: int) -> None:
    packets = compound_sender_reports(states(n), "a" * 36, NTP)
    seen_sr: list[int] = []
    seen_sdes: list[int] = []
    for packet in packets:
        assert len(packet) <= MAX_COMPOUND
        parsed = RtcpPacket.parse(packet)
        assert isinstance(parsed[0], RtcpSrPacket)  # a compound packet starts with an SR
        for p in parsed:
            if isinstance(p, RtcpSrPacket):
                seen_sr.append(p.ssrc)
            else:
                assert isinstance(p, RtcpSdesPacket)
                seen_sdes.extend(c.ssrc for c in p.chunks)
    expected = [s.ssrc for s in states(n)]
    assert seen_sr == expected and seen_sdes == expected


def test_counters_wrap_at_32_bits_and_nothing_for_no_stream() -> None:
    (packet,) = compound_sender_reports([SenderState(1, 2**32 + 5, 2**32 + 6, 2**33 + 7)], "c", NTP)
    sr = RtcpPacket.parse(packet)[0]
    assert isinstance(sr, RtcpSrPacket)
    assert (sr.sender_info.rtp_timestamp, sr.sender_info.packet_count, sr.sender_info.octet_count) == (5, 6, 7)
    assert compound_sender_reports([], "c", NTP) == []


def test_cname_too_long_is_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        compound_sender_reports(states(1), "x" * 256, NTP)
