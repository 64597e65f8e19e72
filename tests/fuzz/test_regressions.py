"""Inputs the fuzzer (benchmarks/fuzz.py) found crashing, kept as regressions,
and checks that the RTCP target really reaches the SFU's handler."""

from __future__ import annotations

import struct
from typing import Iterator

import pytest

from benchmarks.fuzz_targets import RtcpHarness
from sfu.signaling.messages import SignalingError, parse_client_message


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_message_is_refused_not_raised(depth: int) -> None:
    # json.loads raised RecursionError out of parse_client_message
    for text in ["[" * depth, '{"type": "publish", "sdp": ' + "[" * depth + "]" * depth + "}"]:
        with pytest.raises(SignalingError, match="nests arrays or objects too deeply") as info:
            parse_client_message(text)
        assert info.value.code == "bad_request"


def test_overlong_integer_is_refused_not_raised() -> None:
    # json.loads raised a plain ValueError (int max str digits), not a SignalingError
    with pytest.raises(SignalingError, match="number too long") as info:
        parse_client_message('{"type": "leave", "n": ' + "1" * 5000 + "}")
    assert info.value.code == "bad_request"
    assert parse_client_message('{"type": "leave", "n": ' + "1" * 4000 + "}").__class__.__name__ == "Leave"


def _rtcp(packet_type: int, fmt: int, body: bytes) -> bytes:
    return struct.pack("!BBH", 0x80 | fmt, packet_type, len(body) // 4) + body


@pytest.fixture
def harness() -> Iterator[RtcpHarness]:
    h = RtcpHarness()
    yield h
    h.close()


def nack(h: RtcpHarness, out_seq: int) -> bytes:
    return _rtcp(205, 1, struct.pack("!II", 1, h.sender._ssrc) + struct.pack("!HH", out_seq, 0))


def test_subscriber_nack_and_pli_reach_the_sfu(harness: RtcpHarness) -> None:
    rewriter = harness.outlet.rewriter
    assert rewriter is not None
    before = rewriter.rtx_sequence_number
    harness.feed(nack(harness, rewriter.last_sequence_number))  # the newest packet sent: cached
    assert rewriter.rtx_sequence_number == (before + 1) & 0xFFFF  # answered with one RTX packet
    harness.feed(_rtcp(206, 1, struct.pack("!II", 1, harness.sender._ssrc)))
    assert harness.keyframe_requests == 1


def test_remb_whose_count_exceeds_its_ssrcs_is_dropped(harness: RtcpHarness) -> None:
    # aiortc's unpack_remb_fci raised struct.error out of RTCDtlsTransport._handle_rtcp_data,
    # ending the participant's DTLS receive loop
    remb = _rtcp(206, 15, struct.pack("!II", 1, 0) + b"REMB" + bytes([5, 0x05, 0x39, 0x04]) + struct.pack("!I", harness.sender._ssrc))
    harness.feed(remb)
    harness.feed(remb + nack(harness, harness.outlet.rewriter.last_sequence_number))  # type: ignore[union-attr]
    # the transport keeps handling RTCP afterwards
    rewriter = harness.outlet.rewriter
    assert rewriter is not None
    before = rewriter.rtx_sequence_number
    harness.feed(nack(harness, rewriter.last_sequence_number))
    assert rewriter.rtx_sequence_number == (before + 1) & 0xFFFF
