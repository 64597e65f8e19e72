"""Our RTCP bytes, read back by aiortc's parser (an independent implementation)."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import RtcpPacket, RtcpPsfbPacket, RtcpRrPacket, RtcpRtpfbPacket, RtcpSrPacket, RtcpSenderInfo, unpack_remb_fci

from sfu.feedback.rtcp import ReportBlock, generic_nack, receiver_report, remb, sender_reports


def test_receiver_report_round_trips() -> None:
    blocks = [ReportBlock(0xDEADBEEF, 25, -3, 0x1FFFF, 77, 0x456789AB, 32768), ReportBlock(5, 255, 0x7FFFFF, 1, 0, 0, 0)]
    [rr] = RtcpPacket.parse(receiver_report(0x11223344, blocks))
    assert isinstance(rr, RtcpRrPacket) and rr.ssrc == 0x11223344
    got = [(r.ssrc, r.fraction_lost, r.packets_lost, r.highest_sequence, r.jitter, r.lsr, r.dlsr) for r in rr.reports]
    assert got == [(0xDEADBEEF, 25, -3, 0x1FFFF, 77, 0x456789AB, 32768), (5, 255, 0x7FFFFF, 1, 0, 0, 0)]
    [empty] = RtcpPacket.parse(receiver_report(1, []))
    assert isinstance(empty, RtcpRrPacket) and empty.reports == []


def test_remb_round_trips_rounding_down() -> None:
    for bitrate in (0, 1, 0x3FFFF, 0x40000, 1_234_567, 30_000_000, 2**40 + 12345):
        [p] = RtcpPacket.parse(remb(9, bitrate, [1, 2, 3]))
        assert isinstance(p, RtcpPsfbPacket) and p.fmt == 15 and p.media_ssrc == 0
        got, ssrcs = unpack_remb_fci(p.fci)
        assert ssrcs == [1, 2, 3] and got <= bitrate and got >= bitrate * (1 - 2**-17)


def test_generic_nack_round_trips_with_bitmasks_across_the_wrap() -> None:
    lost = [65530, 65531, 65535, 0, 10, 11, 12, 40, 41]
    [p] = RtcpPacket.parse(generic_nack(7, 8, lost))
    assert isinstance(p, RtcpRtpfbPacket) and p.fmt == 1 and (p.ssrc, p.media_ssrc) == (7, 8)
    assert sorted(s & 0xFFFF for s in p.lost) == sorted(lost)  # aiortc does not wrap PID + n
    # 65530 covers up to 65530+16 = 10; 11 starts a new FCI, 40 another
    assert len(generic_nack(7, 8, lost)) == 12 + 4 * 3


def test_sender_reports_are_found_in_a_compound_packet() -> None:
    sr = RtcpSrPacket(ssrc=42, sender_info=RtcpSenderInfo(ntp_timestamp=0x0123456789ABCDEF, rtp_timestamp=1, packet_count=2, octet_count=3))
    data = receiver_report(1, []) + bytes(sr) + remb(1, 1000, [42])
    assert sender_reports(data) == [(42, 0x0123456789ABCDEF)]
    with pytest.raises(ValueError, match="runs past"):
        sender_reports(data[:-1])
    with pytest.raises(ValueError, match="version"):
        sender_reports(b"\x00" + data[1:])
    with pytest.raises(ValueError, match="needs at least 28"):
        sender_reports(struct.pack("!BBH", 0x80, 200, 1) + bytes(4))


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 31"):
        receiver_report(1, [ReportBlock(1, 0, 0, 0, 0, 0, 0)] * 32)
    with pytest.raises(ValueError, match="24 signed"):
        ReportBlock(1, 0, 1 << 23, 0, 0, 0, 0).pack()
    with pytest.raises(ValueError, match="1..255 SSRCs"):
        remb(1, 1000, [])
    with pytest.raises(ValueError, match="at least one"):
        generic_nack(1, 2, [])
