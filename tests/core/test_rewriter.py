from __future__ import annotations

import itertools
import random
import struct

import pytest
from aiortc.rtp import RtpPacket, unwrap_rtx

from sfu.core.extensions import Ext
from sfu.core.packet import RtpView
from sfu.core.rewriter import Rewriter, timestamp_gap

from .aiortc_helpers import AL_URI, AST_URI, MID_URI, TCC_URI, extensions_map

SUB_IDS = {Ext.MID: 4, Ext.ABS_SEND_TIME: 3, Ext.AUDIO_LEVEL: 1}
URI = {Ext.MID: MID_URI, Ext.ABS_SEND_TIME: AST_URI, Ext.AUDIO_LEVEL: AL_URI}


def view(
    seq: int,
    ts: int = 1000,
    *,
    marker: bool = False,
    payload: bytes = b"\x10\x02\x00\x9d\x01\x2a",
    level: bytes | None = None,
    ssrc: int = 0x1111,
) -> RtpView:
    data = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, seq, ts, ssrc) + payload
    return RtpView(96, marker, seq, ts, ssrc, payload, level, None, data)


def rewriter(**kwargs: object) -> Rewriter:
    args: dict[str, object] = {
        "ssrc": 0xCAFE,
        "payload_type": 100,
        "ext_ids": SUB_IDS,
        "mid": "v1",
        "rtx_ssrc": 0xCAFF,
        "rtx_payload_type": 101,
        "first_sequence_number": 500,
        "first_timestamp": 7_000_000,
    }
    args.update(kwargs)
    return Rewriter(**args)  # type: ignore[arg-type]


def parse(data: bytes, ext_ids: dict[Ext, int] = SUB_IDS) -> RtpPacket:
    return RtpPacket.parse(data, extensions_map([(i, URI[k]) for k, i in ext_ids.items()]))


def seq_of(data: bytes) -> int:
    return int(struct.unpack_from("!H", data, 2)[0])


def ts_of(data: bytes) -> int:
    return int(struct.unpack_from("!I", data, 4)[0])


# ---------------------------------------------------------------- wire format


def test_rewrite_cross_checked_with_aiortc() -> None:
    r = rewriter()
    out = r.rewrite(view(40, 90_000, marker=True, level=b"\x85"), 0x123456)
    packet = parse(out)
    assert (packet.version, packet.padding_size, packet.csrc) == (2, 0, [])
    assert (packet.payload_type, packet.ssrc, packet.marker) == (100, 0xCAFE, 1)
    assert (packet.sequence_number, packet.timestamp) == (500, 7_000_000)
    assert packet.extensions.mid == "v1"
    assert packet.extensions.abs_send_time == 0x123456
    assert packet.extensions.audio_level == (True, 5)
    assert packet.payload == b"\x10\x02\x00\x9d\x01\x2a"
    # elements in order MID, abs-send-time, audio level, zero padded to 4 bytes
    assert out[12:16] == b"\xbe\xde\x00\x03"
    assert out[16:28] == b"\x41v1" + b"\x32\x12\x34\x56" + b"\x10\x85" + b"\x00\x00\x00"


@pytest.mark.parametrize(
    "kinds",
    [c for n in range(4) for c in itertools.combinations(list(SUB_IDS), n)],
    ids=lambda c: "+".join(k.name for k in c) or "none",
)
@pytest.mark.parametrize("level", [None, b"\x7f"])
@pytest.mark.parametrize("mid", ["0", "0123456789abcdef", "ü"])
def test_every_extension_subset(kinds: tuple[Ext, ...], level: bytes | None, mid: str) -> None:
    ext_ids = {k: SUB_IDS[k] for k in kinds}
    r = rewriter(ext_ids=ext_ids, mid=mid)
    out = r.rewrite(view(1, level=level), 0xABCDEF)
    packet = parse(out, ext_ids)
    elements = (
        (1 + len(mid.encode()) if Ext.MID in kinds else 0)
        + (4 if Ext.ABS_SEND_TIME in kinds else 0)
        + (2 if Ext.AUDIO_LEVEL in kinds and level is not None else 0)
    )
    if elements:
        assert out[0] == 0x90 and out[12:14] == b"\xbe\xde"
        words = struct.unpack_from("!H", out, 14)[0]
        assert words * 4 == elements + (-elements % 4)
        assert len(out) == 16 + words * 4 + 6
    else:
        assert out[0] == 0x80 and len(out) == 12 + 6
    assert packet.extensions.mid == (mid if Ext.MID in kinds else None)
    assert packet.extensions.abs_send_time == (0xABCDEF if Ext.ABS_SEND_TIME in kinds else None)
    assert packet.extensions.audio_level == (
        (False, 127) if Ext.AUDIO_LEVEL in kinds and level is not None else None
    )
    assert packet.payload == view(1).payload and packet.ssrc == 0xCAFE


def test_input_padding_csrc_and_extensions_are_not_forwarded() -> None:
    source = RtpPacket(payload_type=96, sequence_number=9, timestamp=3, ssrc=77, payload=b"abc")
    source.csrc = [1, 2]
    source.padding_size = 9
    source.extensions.mid = "pub"
    source.extensions.transport_sequence_number = 12
    pairs = [(1, MID_URI), (5, TCC_URI)]
    data = source.serialize(extensions_map(pairs))
    v = RtpView.parse(data, {1: Ext.MID})
    out = rewriter(ext_ids={}).rewrite(v, 0)
    assert out == struct.pack("!BBHII", 0x80, 100, 500, 7_000_000, 0xCAFE) + b"abc"


def test_abs_send_time_is_masked_to_24_bits() -> None:
    out = rewriter().rewrite(view(1), 0x7F123456)
    assert parse(out).extensions.abs_send_time == 0x123456


def test_ids_outside_one_byte_range_are_not_written() -> None:
    r = rewriter(ext_ids={Ext.MID: 15, Ext.ABS_SEND_TIME: 3})
    packet = parse(r.rewrite(view(1), 5), {Ext.MID: 15, Ext.ABS_SEND_TIME: 3})
    assert packet.extensions.mid is None and packet.extensions.abs_send_time == 5


@pytest.mark.parametrize("mid", ["", "x" * 17, "ü" * 9])
def test_bad_mid_is_refused_when_negotiated(mid: str) -> None:
    with pytest.raises(ValueError, match="MID must be 1..16 UTF-8 bytes"):
        rewriter(mid=mid)
    rewriter(mid=mid, ext_ids={Ext.ABS_SEND_TIME: 3})  # not negotiated: not used


# ---------------------------------------------------------------- sequence numbers and timestamps


def test_first_packet_uses_first_values_then_keeps_offsets() -> None:
    r = rewriter()
    outs = [r.rewrite(view(s, 1000 + 3000 * s), 0) for s in (60000, 60001, 60003)]
    assert [seq_of(o) for o in outs] == [500, 501, 503]
    assert [ts_of(o) for o in outs] == [7_000_000, 7_003_000, 7_009_000]
    assert (r.last_sequence_number, r.last_timestamp) == (503, 7_009_000)


def test_random_defaults() -> None:
    seqs = {Rewriter(1, 96, {}, "0").rewrite(view(0), 0)[2:4] for _ in range(20)}
    assert len(seqs) > 1
    assert all(struct.unpack("!H", s)[0] < 0x8000 for s in seqs)


def test_continuity_across_switch_source() -> None:
    r = rewriter()
    for s in range(10, 15):
        r.rewrite(view(s, 50_000 + s * 3000), 0)
    assert (r.last_sequence_number, r.last_timestamp) == (504, 7_012_000)
    r.switch_source()
    # a different publisher, unrelated numbering
    a = r.rewrite(view(40_000, 123, ssrc=2), 0)
    b = r.rewrite(view(40_001, 3123, ssrc=2), 0)
    assert [seq_of(a), seq_of(b)] == [505, 506]
    assert [ts_of(a), ts_of(b)] == [7_015_000, 7_018_000]
    # the same publisher again after a pause: continues too
    r.switch_source()
    c = r.rewrite(view(16, 10**9), 0)
    assert (seq_of(c), ts_of(c)) == (507, 7_021_000)


def test_audio_gap() -> None:
    assert (timestamp_gap(90000), timestamp_gap(48000), timestamp_gap(8000)) == (3000, 960, 160)
    r = rewriter(clock_rate=48000, ext_ids={Ext.AUDIO_LEVEL: 1})
    r.rewrite(view(1, 100), 0)
    r.switch_source()
    assert ts_of(r.rewrite(view(999, 5), 0)) == 7_000_000 + 960


def test_wraps_at_65535_and_2_to_32() -> None:
    r = rewriter(first_sequence_number=65534, first_timestamp=0xFFFFFFFF - 1000)
    outs = [r.rewrite(view(s, 3000 * s), 0) for s in range(4)]
    assert [seq_of(o) for o in outs] == [65534, 65535, 0, 1]
    assert [ts_of(o) for o in outs] == [0xFFFFFFFF - 1000, 1999, 4999, 7999]
    assert r.last_sequence_number == 1
    r.switch_source()
    assert seq_of(r.rewrite(view(100), 0)) == 2


def test_input_wrap_and_reordering_are_preserved() -> None:
    r = rewriter(first_sequence_number=10)
    order = [65533, 65535, 65534, 1, 0, 3]
    outs = [seq_of(r.rewrite(view(s), 0)) for s in order]
    assert outs == [10, 12, 11, 14, 13, 16]
    assert r.last_sequence_number == 16
    assert r.packets_sent == 6


def test_late_packet_does_not_move_last_values() -> None:
    r = rewriter()
    r.rewrite(view(10, 30_000), 0)
    r.rewrite(view(12, 36_000), 0)
    r.rewrite(view(11, 33_000), 0)
    assert (r.last_sequence_number, r.last_timestamp) == (502, 7_006_000)


def test_counters() -> None:
    r = rewriter()
    r.rewrite(view(1, payload=b"12345"), 0)
    r.rewrite(view(2, payload=b"123"), 0)
    r.rtx(view(1, payload=b"12345"), 0)
    assert (r.packets_sent, r.octets_sent) == (2, 8)


# ---------------------------------------------------------------- NACK mapping and RTX


def test_original_sequence_number_round_trip() -> None:
    r = rewriter(first_sequence_number=65530)
    assert r.original_sequence_number(65530) is None  # nothing sent yet
    sent = {}
    for s in (100, 101, 103, 104, 110):
        sent[seq_of(r.rewrite(view(s), 0))] = s
    for out_seq, original in sent.items():
        assert r.original_sequence_number(out_seq) == original
    assert r.original_sequence_number((65530 + 2) & 0xFFFF) == 102  # lost upstream
    assert r.original_sequence_number(65529) is None  # before the epoch
    assert r.original_sequence_number((65530 + 11) & 0xFFFF) is None  # not sent yet
    r.switch_source()
    assert r.original_sequence_number(65530) is None  # old epoch, also while fresh
    first = seq_of(r.rewrite(view(7), 0))
    assert first == (65530 + 11) & 0xFFFF
    assert r.original_sequence_number(first) == 7
    assert r.original_sequence_number(65530) is None  # previous epoch


def test_precedes_epoch() -> None:
    r = rewriter()
    assert not r.precedes_epoch(view(10))  # fresh
    r.rewrite(view(10), 0)
    r.rewrite(view(12), 0)
    assert not r.precedes_epoch(view(11))
    assert r.precedes_epoch(view(9))
    assert not r.precedes_epoch(view(13))


def test_rtx_unwraps_to_the_rewritten_packet() -> None:
    r = rewriter()
    original = view(33, 9000, marker=True, level=b"\x12", payload=b"frame-data")
    sent = r.rewrite(original, 0x10)
    rtx = r.rtx(original, 0x20)
    assert rtx is not None
    packet = parse(rtx)
    assert (packet.payload_type, packet.ssrc, packet.marker) == (101, 0xCAFF, 1)
    assert packet.timestamp == ts_of(sent)
    assert packet.extensions.mid == "v1" and packet.extensions.abs_send_time == 0x20
    assert packet.extensions.audio_level == (False, 0x12)
    unwrapped = unwrap_rtx(packet, payload_type=100, ssrc=0xCAFE)
    again = parse(sent)
    assert unwrapped.sequence_number == again.sequence_number == 500
    assert (unwrapped.payload, unwrapped.timestamp) == (again.payload, again.timestamp)


def test_rtx_sequence_numbers_and_original_wrap() -> None:
    r = rewriter(first_sequence_number=65535, first_rtx_sequence_number=65534)
    views = [view(s) for s in (7, 8, 9)]
    outs = [r.rewrite(v, 0) for v in views]
    assert [seq_of(o) for o in outs] == [65535, 0, 1]
    rtxs = [r.rtx(v, 0) for v in views]
    assert [seq_of(x) for x in rtxs if x is not None] == [65534, 65535, 0]
    for rtx, out in zip(rtxs, outs):
        assert rtx is not None
        assert unwrap_rtx(parse(rtx), 100, 0xCAFE).sequence_number == seq_of(out)
    assert r.rtx_sequence_number == 1


def test_rtx_not_negotiated_or_no_epoch() -> None:
    assert rewriter(rtx_ssrc=None, rtx_payload_type=None).rtx(view(1), 0) is None
    assert rewriter(rtx_payload_type=None).rtx(view(1), 0) is None
    r = rewriter()
    assert r.rtx(view(1), 0) is None  # nothing rewritten yet
    r.rewrite(view(1), 0)
    r.switch_source()
    assert r.rtx(view(1), 0) is None


def test_rtx_without_extensions() -> None:
    r = rewriter(ext_ids={})
    r.rewrite(view(5, payload=b"p"), 0)
    assert r.rtx(view(5, payload=b"p"), 0) == (
        struct.pack("!BBHII", 0x80, 101, r.rtx_sequence_number - 1, 7_000_000, 0xCAFF)
        + b"\x01\xf4p"
    )


# ---------------------------------------------------------------- property


def test_random_loss_and_reordering_gives_a_consistent_bijection() -> None:
    rng = random.Random(2024)
    start = 65536 - 3000  # the input wraps, and so may the output
    r = rewriter(first_sequence_number=rng.randrange(0x8000), ext_ids={})
    sent: list[int] = [(start + i) & 0xFFFF for i in range(10_000) if rng.random() > 0.05]
    # reorder: local shuffles within windows of up to 8 packets
    arrived: list[int] = []
    for i in range(0, len(sent), 8):
        window = sent[i : i + 8]
        if rng.random() < 0.3:
            rng.shuffle(window)
        arrived.extend(window)
    # the first packet to arrive is the newest of its window at worst; make it
    # the oldest so the epoch starts at the stream's start
    arrived.remove(sent[0])
    arrived.insert(0, sent[0])

    mapping: dict[int, int] = {}
    first_out = None
    for s in arrived:
        out = seq_of(r.rewrite(view(s, s * 10), 0))
        if first_out is None:
            first_out = out
        assert s not in mapping
        mapping[s] = out
    assert first_out is not None
    # injective, and a constant 16-bit offset: gaps and order are preserved
    assert len(set(mapping.values())) == len(mapping)
    offsets = {(o - s) & 0xFFFF for s, o in mapping.items()}
    assert len(offsets) == 1
    assert (first_out - sent[0]) & 0xFFFF in offsets
    # every output maps back to its input
    for s, o in mapping.items():
        assert r.original_sequence_number(o) == s
    assert r.last_sequence_number == mapping[sent[-1]]
    assert r.packets_sent == len(sent)


def test_switch_source_can_leave_a_marked_gap() -> None:
    def view(seq: int) -> RtpView:
        return RtpView.parse(struct.pack("!BBHII", 0x80, 96, seq, seq * 10, 7) + b"x", {})

    def seq_of(packet: bytes) -> int:
        return int(struct.unpack("!H", packet[2:4])[0])

    r = Rewriter(ssrc=1, payload_type=97, ext_ids={Ext.MID: 1}, mid="0", first_sequence_number=100)
    assert seq_of(r.rewrite(view(5000), 0)) == 100
    r.switch_source(skip=600)
    assert [seq_of(r.rewrite(view(s), 0)) for s in (20, 21)] == [701, 702]
    fresh = Rewriter(ssrc=1, payload_type=97, ext_ids={}, mid="0", first_sequence_number=100)
    fresh.switch_source(skip=600)  # nothing sent yet: nothing to skip
    assert seq_of(fresh.rewrite(view(20), 0)) == 100
