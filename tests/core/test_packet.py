from __future__ import annotations

import random
import struct
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.rtp import RtcpPacket, RtcpRrPacket, RtpPacket

from sfu.core.extensions import Ext, kinds_by_id
from sfu.core.packet import RtpView, is_vp8_keyframe_start

from .aiortc_helpers import AL_URI, AST_URI, MID_URI, TCC_URI, extensions_map

ONE_BYTE = [(1, MID_URI), (2, AST_URI), (3, AL_URI), (5, TCC_URI)]
TWO_BYTE = [(17, MID_URI), (2, AST_URI), (3, AL_URI), (200, TCC_URI)]  # id > 14


def aiortc_packet(
    *,
    pairs: list[tuple[int, str]] = ONE_BYTE,
    mid: str | None = "a1",
    level: tuple[bool, int] | None = (True, 42),
    padding: int = 0,
    csrc: list[int] | None = None,
    payload: bytes = b"\x90\x80\x12payload",
    marker: int = 1,
) -> bytes:
    packet = RtpPacket(
        payload_type=96, marker=marker, sequence_number=65535, timestamp=0xFFFFFFFE,
        ssrc=0x89ABCDEF, payload=payload,
    )  # fmt: skip
    packet.extensions.mid = mid
    packet.extensions.abs_send_time = 0x123456
    packet.extensions.audio_level = level
    packet.extensions.transport_sequence_number = 777
    packet.padding_size = padding
    packet.csrc = csrc or []
    return packet.serialize(extensions_map(pairs))


def header(*, b0: int = 0x80, b1: int = 96, seq: int = 1, ts: int = 2, ssrc: int = 3) -> bytes:
    return struct.pack("!BBHII", b0, b1, seq, ts, ssrc)


def with_extension(profile: int, block: bytes, payload: bytes = b"xyz") -> bytes:
    assert len(block) % 4 == 0
    return header(b0=0x90) + struct.pack("!HH", profile, len(block) // 4) + block + payload


# ---------------------------------------------------------------- cross-checks with aiortc


@pytest.mark.parametrize("pairs", [ONE_BYTE, TWO_BYTE], ids=["one-byte", "two-byte"])
@pytest.mark.parametrize("padding", [0, 1, 7])
@pytest.mark.parametrize("csrc", [[], [1, 2, 0xFFFFFFFF]])
def test_parse_matches_aiortc(pairs: list[tuple[int, str]], padding: int, csrc: list[int]) -> None:
    data = aiortc_packet(pairs=pairs, padding=padding, csrc=csrc)
    theirs = RtpPacket.parse(data, extensions_map(pairs))
    view = RtpView.parse(data, kinds_by_id(pairs))
    assert view.payload_type == theirs.payload_type == 96
    assert view.marker is True and theirs.marker == 1
    assert view.sequence_number == theirs.sequence_number == 65535
    assert view.timestamp == theirs.timestamp == 0xFFFFFFFE
    assert view.ssrc == theirs.ssrc == 0x89ABCDEF
    assert bytes(view.payload) == theirs.payload == b"\x90\x80\x12payload"
    assert view.mid == theirs.extensions.mid == "a1"
    assert view.audio_level == bytes([0x80 | 42])
    assert theirs.extensions.audio_level == (True, 42)
    assert view.data is data


def test_parse_matches_aiortc_on_random_packets() -> None:
    rng = random.Random(1)
    for _ in range(300):
        pairs = [
            (rng.randint(1, 14), MID_URI),
            (rng.randint(1, 255), AL_URI),
            (rng.randint(1, 255), TCC_URI),
        ]
        if len({i for i, _ in pairs}) < 3:
            continue
        packet = RtpPacket(
            payload_type=rng.randrange(128),
            marker=rng.randint(0, 1),
            sequence_number=rng.randrange(65536),
            timestamp=rng.getrandbits(32),
            ssrc=rng.getrandbits(32),
            payload=rng.randbytes(rng.randrange(0, 300)),
        )
        if 192 <= (packet.marker << 7 | packet.payload_type) <= 223:
            continue
        packet.extensions.mid = rng.choice([None, "0", "video", "ü" * 8])
        packet.extensions.audio_level = rng.choice([None, (False, 127), (True, 0)])
        packet.extensions.transport_sequence_number = rng.choice([None, 5])
        packet.padding_size = rng.choice([0, 1, 4, 255])
        packet.csrc = [rng.getrandbits(32) for _ in range(rng.randrange(16))]
        data = packet.serialize(extensions_map(pairs))
        theirs = RtpPacket.parse(data, extensions_map(pairs))
        view = RtpView.parse(data, kinds_by_id(pairs))
        assert (view.payload_type, int(view.marker), view.sequence_number) == (
            theirs.payload_type, theirs.marker, theirs.sequence_number,
        )  # fmt: skip
        assert (view.timestamp, view.ssrc) == (theirs.timestamp, theirs.ssrc)
        assert bytes(view.payload) == theirs.payload
        assert view.mid == theirs.extensions.mid
        level = theirs.extensions.audio_level
        assert view.audio_level == (
            None if level is None else bytes([(0x80 if level[0] else 0) | level[1]])
        )


def test_extensions_not_negotiated_are_not_reported() -> None:
    data = aiortc_packet()
    view = RtpView.parse(data, {})
    assert view.mid is None and view.audio_level is None
    assert bytes(view.payload) == b"\x90\x80\x12payload"
    only_mid = RtpView.parse(data, {1: Ext.MID, 3: Ext.ABS_SEND_TIME})  # wrong kind for id 3
    assert only_mid.mid == "a1" and only_mid.audio_level is None


def test_no_extension_no_padding() -> None:
    view = RtpView.parse(header(b1=0x80 | 111, seq=7, ts=8, ssrc=9) + b"abc", {})
    assert (view.payload_type, view.marker, view.sequence_number) == (111, True, 7)
    assert (view.timestamp, view.ssrc, bytes(view.payload)) == (8, 9, b"abc")
    assert view.mid is None and view.audio_level is None


def test_empty_payload_and_padding_only_packet() -> None:
    assert bytes(RtpView.parse(header(), {}).payload) == b""
    padding_only = header(b0=0xA0) + b"\x00" * 3 + b"\x04"  # probe packet: all padding
    assert bytes(RtpView.parse(padding_only, {}).payload) == b""


def test_one_byte_padding_and_reserved_id_15() -> None:
    kinds = {1: Ext.MID, 3: Ext.AUDIO_LEVEL}
    # padding bytes between elements, then the level
    block = b"\x10A\x00\x00" + b"\x30\x7f\x00\x00"
    view = RtpView.parse(with_extension(0xBEDE, block), kinds)
    assert (view.mid, view.audio_level) == ("A", b"\x7f")
    # id 15 stops processing: the level after it is not read, its length not checked
    block = b"\x10A\xff\x30" + b"\x7f\x00\x00\x00"
    view = RtpView.parse(with_extension(0xBEDE, block), kinds)
    assert (view.mid, view.audio_level) == ("A", None)
    # so does id 0 with a non-zero length (not a padding byte), as in libwebrtc
    block = b"\x10A\x0f\x30" + b"\x7f\x00\x00\x00"
    view = RtpView.parse(with_extension(0xBEDE, block), kinds)
    assert (view.mid, view.audio_level) == ("A", None)


def test_two_byte_profile_app_bits_and_empty_elements() -> None:
    kinds = {1: Ext.MID, 3: Ext.AUDIO_LEVEL}
    block = b"\x01\x00" + b"\x03\x01\x85" + b"\x00" + b"\x09\x02xy" + b"\x00\x00"
    view = RtpView.parse(with_extension(0x100F, block), kinds)  # low 4 bits: appbits
    assert (view.mid, view.audio_level, bytes(view.payload)) == (None, b"\x85", b"xyz")


def test_unknown_profile_is_ignored() -> None:
    view = RtpView.parse(with_extension(0xABCD, b"\x10A\x00\x00"), {1: Ext.MID})
    assert view.mid is None and bytes(view.payload) == b"xyz"


def test_longest_one_byte_mid() -> None:
    block = bytes([0x1F]) + b"0123456789abcdef" + b"\x00\x00\x00"
    assert RtpView.parse(with_extension(0xBEDE, block), {1: Ext.MID}).mid == "0123456789abcdef"


# ---------------------------------------------------------------- malformed input


MALFORMED = {
    "empty": (b"", "truncated"),
    "truncated header": (header()[:11], "truncated: 11 bytes"),
    "version 1": (header(b0=0x40), "version is 1"),
    "version 0": (header(b0=0x00) + b"x", "version is 0"),
    "rtcp receiver report": (bytes(RtcpRrPacket(ssrc=1)), "looks like RTCP"),
    "rtcp sender report type": (header(b1=200), "looks like RTCP"),
    "rtcp psfb type": (header(b1=206) + bytes(8), "looks like RTCP"),
    "csrc truncated": (header(b0=0x83) + bytes(8), "CSRC list truncated"),
    "extension header truncated": (header(b0=0x90) + b"\xbe\xde\x00", "extension truncated"),
    "extension longer than packet": (
        header(b0=0x90) + b"\xbe\xde\x00\x02" + bytes(7),
        "extension of 2 words ends at byte 24, packet has 23",
    ),
    "one-byte element past block": (
        with_extension(0xBEDE, b"\x10A\x23\x00"),
        "one-byte extension element id 2 runs past",
    ),
    "two-byte element past block": (
        with_extension(0x1000, b"\x01\x03ab"),
        "two-byte extension element id 1 runs past",
    ),
    "two-byte element without length": (
        with_extension(0x1000, b"\x00\x00\x00\x07"),
        "id 7 has no length byte",
    ),
    "mid not utf-8": (
        with_extension(0xBEDE, b"\x11\xff\xfe\x00"),
        "MID extension is not valid UTF-8",
    ),
    "padding length 0": (header(b0=0xA0) + b"abc\x00", "padding length is 0"),
    "padding beyond payload": (header(b0=0xA0) + b"abc\x05", "padding length 5 exceeds the 4"),
    "padding beyond payload after extension": (
        header(b0=0xB0) + b"\xbe\xde\x00\x01" + b"\x10A\x00\x00" + b"\x09",
        "padding length 9 exceeds the 1 bytes",
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_raises_precise_value_error(case: str) -> None:
    data, message = MALFORMED[case]
    with pytest.raises(ValueError, match=message):
        RtpView.parse(data, {1: Ext.MID, 2: Ext.ABS_SEND_TIME, 3: Ext.AUDIO_LEVEL})


def test_rtcp_from_aiortc_is_refused() -> None:
    for packet in RtcpPacket.parse(bytes(RtcpRrPacket(ssrc=5))):
        with pytest.raises(ValueError, match="looks like RTCP"):
            RtpView.parse(bytes(packet) + bytes(8), {})


def test_fuzzed_packets_only_ever_raise_value_error() -> None:
    rng = random.Random(7)
    kinds = kinds_by_id(ONE_BYTE)
    seeds = [aiortc_packet(), aiortc_packet(pairs=TWO_BYTE, padding=3, csrc=[1])]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data
        try:
            RtpView.parse(bytes(data), kinds)
        except ValueError as exc:
            assert str(exc)


# ---------------------------------------------------------------- VP8


def vp8(descriptor: bytes, first_payload_byte: int) -> bytes:
    return descriptor + bytes([first_payload_byte]) + b"\x9d\x01\x2a"


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        (b"\x10", True),  # S=1, PID=0, no extension
        (b"\x00", False),  # S=0: continuation
        (b"\x11", False),  # PID=1: not the first partition
        (b"\x30", True),  # N (non-reference) does not matter
        (b"\x18", True),  # reserved bit after S ignored
        (b"\x90\x80\x05", True),  # I: 7-bit PictureID
        (b"\x90\x80\x85\x43", True),  # I: 15-bit PictureID (M bit set)
        (b"\x90\x40\x07", True),  # L: TL0PICIDX
        (b"\x90\x20\xc0", True),  # T: TID/Y
        (b"\x90\x10\x1f", True),  # K: KEYIDX
        (b"\x90\x30\xff", True),  # T and K share one byte
        (b"\x90\xf0\x81\x02\x03\x04", True),  # I (15-bit) + L + T/K
        (b"\x90\xf0\x01\x03\x04", True),  # I (7-bit) + L + T/K
        (b"\x80\xf0\x01\x03\x04", False),  # same without S
        (b"\x90\x00", True),  # X with no optional field
    ],
)
def test_vp8_descriptor_options(descriptor: bytes, expected: bool) -> None:
    assert is_vp8_keyframe_start(vp8(descriptor, 0x10)) is expected  # P=0: key frame
    assert is_vp8_keyframe_start(vp8(descriptor, 0x11)) is False  # P=1: inter frame
    assert is_vp8_keyframe_start(memoryview(vp8(descriptor, 0x10))) is expected


def test_vp8_descriptors_built_by_aiortc() -> None:
    for picture_id in (5, 127, 128, 0x7FFF):
        for extra in ({}, {"tl0picidx": 3}, {"tid": (1, 1)}, {"keyidx": 4}):
            descriptor = bytes(
                VpxPayloadDescriptor(1, 0, picture_id=picture_id, **extra)
            )
            assert is_vp8_keyframe_start(vp8(descriptor, 0x50))
            assert not is_vp8_keyframe_start(vp8(descriptor, 0x51))


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x10", b"\x90", b"\x90\x80", b"\x90\x80\x85", b"\x90\x80\x85\x43", b"\x90\xc0\x05"],
)
def test_vp8_short_payloads_are_not_keyframes(payload: bytes) -> None:
    assert is_vp8_keyframe_start(payload) is False


def test_vp8_real_frames() -> None:
    encoder = Vp8Encoder()
    starts: list[bool] = []
    for index in range(3):
        image = np.full((240, 320, 3), index * 60, dtype=np.uint8)
        image[100 + index * 5 : 140, 100:200] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index * 3000
        frame.time_base = Fraction(1, 90000)
        payloads, _ = encoder.encode(frame)
        assert payloads
        starts.append(is_vp8_keyframe_start(payloads[0]))
        assert not any(is_vp8_keyframe_start(p) for p in payloads[1:])  # S=0
    assert starts == [True, False, False]
