"""Byte front-ends of the fuzz targets, for coverage-guided fuzzing (atheris).

libFuzzer hands a target raw bytes. Each decoder here turns them into the
case its target's ``run`` takes (``benchmarks/fuzz_targets.py``): the RTP,
RTCP and text targets take the bytes almost as they are; the rewriter,
forwarder and sequence-guard targets read a small program of operations out
of them. Seed inputs come from the targets' Hypothesis strategies and the
real SDP offers, so libFuzzer starts from well-formed inputs and mutates
them.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from benchmarks.fuzz_targets import _EXT_MAPS, sample_offers
from sfu.core.extensions import Ext


class Reader:
    """Reads numbers off the front of the fuzzer's bytes; zeros once they run out."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        return self.byte() << 8 | self.byte()

    def u32(self) -> int:
        return self.u16() << 16 | self.u16()

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


def _kinds(r: Reader) -> dict[int, Ext]:
    return _EXT_MAPS[r.byte() % len(_EXT_MAPS)]


def packet_and_map(data: bytes) -> tuple[bytes, dict[int, Ext]]:
    """First byte: which negotiated extension map; the rest: the packet."""
    r = Reader(data)
    return data[1:], _kinds(r)


def _payload_type(b: int) -> int:
    return b % 64 if b < 128 else 96 + b % 32  # never 64..95 (RTCP's, RFC 5761)


def rewriter_case(data: bytes) -> dict[str, Any]:
    r = Reader(data)
    flags = r.byte()
    ids = [r.byte() % 21 for _ in range(3)]
    ext_ids: dict[Ext, int] = {}
    for kind, ext_id in zip(Ext, ids):
        if flags & (1 << kind) and ext_id not in ext_ids.values():
            ext_ids[kind] = ext_id
    mid = r.take(r.byte() % 18).decode("utf-8", "replace")
    rtx = bool(flags & 0x10)
    config = dict(
        ssrc=r.u32(), payload_type=_payload_type(r.byte()), ext_ids=ext_ids, mid=mid,
        rtx_ssrc=r.u32() if rtx else None, rtx_payload_type=_payload_type(r.byte()) if rtx else None,
        first_sequence_number=r.u16(), first_timestamp=r.u32(),
        clock_rate=(90000, 48000, 8000)[(flags >> 6) % 3],
    )  # fmt: skip
    ops: list[tuple[Any, ...]] = []
    while r.more() and len(ops) < 64:
        op = r.byte() % 4
        if op == 0:
            kinds = _kinds(r)
            ops.append(("rtp", r.take(r.byte()), kinds, r.u32()))
        elif op == 1:
            ops.append(("switch", r.u16() % 1001))
        elif op == 2:
            ops.append(("rtx", r.byte()))
        else:
            ops.append(("nack", r.u16()))
    return {"config": config, "ops": ops}


def sequence_case(data: bytes) -> tuple[int, list[int]]:
    r = Reader(data)
    start = r.u16()
    steps = []
    while r.more() and len(steps) < 256:
        steps.append(struct.unpack("!h", bytes([r.byte(), r.byte()]))[0])
    return start, steps


def forwarder_case(data: bytes) -> list[tuple[Any, ...]]:
    r = Reader(data)
    ops: list[tuple[Any, ...]] = []
    while r.more() and len(ops) < 64:
        op = r.byte() % 7
        if op == 0:
            ops.append(("rtp", r.take(r.byte())))
        elif op == 1:
            outlet, count = r.byte() % 2, r.byte() % 41
            ops.append(("nack", outlet, [r.u16() for _ in range(count)]))
        elif op == 2:
            ops.append(("pli", r.byte() % 2))
        elif op == 3:
            b = r.byte()
            ops.append(("attach", b % 2, bool(b & 2)))
        elif op == 4:
            ops.append(("tick", r.byte() / 64))
        elif op == 5:
            ops.append(("pace",))
        else:
            b = r.byte()
            ops.append(("hold", b % 2, bool(b & 2)))
    return ops


def offer_case(data: bytes) -> tuple[str, list[tuple[str, str | None]]]:
    currents: list[list[tuple[str, str | None]]] = [[], [("audio", "0")], [("audio", "0"), ("video", "1")]]
    return data.decode("utf-8", "replace"), currents[len(data) % 3]


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def raw(data: bytes) -> bytes:
    return data


DECODERS: dict[str, Callable[[bytes], Any]] = {
    "rtp_parse": packet_and_map,
    "vp8_keyframe": raw,
    "rewriter": rewriter_case,
    "rewriter_native": rewriter_case,
    "sequence_guard": sequence_case,
    "forwarder": forwarder_case,
    "rtx_unwrap": packet_and_map,
    "rtcp": raw,
    "sender_reports": raw,
    "sdp_check": offer_case,
    "signaling": text,
}


def seeds(name: str, count: int = 64) -> list[bytes]:
    """Well-formed starting inputs for ``name``, drawn from the Hypothesis strategies."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from benchmarks import fuzz_targets as ft

    if name == "sdp_check":
        return [o.encode() for o in sample_offers()]
    source: st.SearchStrategy[bytes] = {
        "rtp_parse": st.builds(lambda p, i: bytes([i]) + p, ft.valid_rtp(), st.integers(0, 3)),
        "rtx_unwrap": st.builds(lambda p, i: bytes([i]) + p, ft.valid_rtp(), st.integers(0, 3)),
        "vp8_keyframe": ft._vp8_payload(),
        "rtcp": ft.rtcp_compound(),
        "sender_reports": ft.rtcp_compound(),
        "signaling": ft.client_message().map(lambda t: t.encode("utf-8", "replace")),
        "sequence_guard": st.binary(min_size=2, max_size=64),
        # op bytes then a length-prefixed packet, as the decoders read them
        "rewriter": st.lists(ft.valid_rtp(), min_size=1, max_size=6).map(
            lambda ps: bytes(16) + b"".join(b"\x00\x01" + bytes([len(p) % 256]) + p[:255] + bytes(4) for p in ps)
        ),
        "rewriter_native": st.lists(ft.valid_rtp(), min_size=1, max_size=6).map(
            lambda ps: bytes(16) + b"".join(b"\x00\x01" + bytes([len(p) % 256]) + p[:255] + bytes(4) for p in ps)
        ),
        "forwarder": st.lists(ft.valid_rtp(96), min_size=1, max_size=8).map(
            lambda ps: b"".join(b"\x00" + bytes([len(p) % 256]) + p[:255] for p in ps) + b"\x01\x00\x05" + bytes(10)
        ),
    }[name]
    out: list[bytes] = []

    @seed(1)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(source)
    def collect(value: bytes) -> None:
        out.append(value)

    collect()
    return out
