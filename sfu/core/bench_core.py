"""Micro-benchmark of the per-packet hot path.

Run: ``python -m sfu.core.bench_core``. Prints µs/op (best of several runs)
for `RtpView.parse` and `Rewriter.rewrite` on a 1100-byte VP8 payload with a
typical Chrome header-extension block, plus `rtx` and `is_vp8_keyframe_start`.
"""

from __future__ import annotations

import struct
import timeit
from collections.abc import Callable

from .extensions import Ext
from .packet import RtpView, is_vp8_keyframe_start
from .rewriter import Rewriter

_RUNS = 5


def _packet() -> bytes:
    # one-byte extensions as Chrome sends them: MID, abs-send-time,
    # transport-wide cc (id 5, not forwarded), audio level id 3 is audio-only
    elements = bytes([0x10, ord("1")])  # id 1 MID "1"
    elements += bytes([0x22, 0x12, 0x34, 0x56])  # id 2 abs-send-time
    elements += bytes([0x51, 0x00, 0x2A])  # id 5 transport-cc
    elements += b"\x00" * (-len(elements) % 4)
    header = struct.pack("!BBHII", 0x90, 0x80 | 96, 4242, 123456, 0x11223344)
    header += struct.pack("!HH", 0xBEDE, len(elements) // 4) + elements
    descriptor = bytes([0x90, 0x80, 0x80 | 0x12, 0x34])  # X, S, I with 15-bit id
    payload = descriptor + bytes([0x10]) + bytes(1100 - len(descriptor) - 1)
    return header + payload


def _best(stmt: Callable[[], object], number: int) -> float:
    stmt()
    return min(timeit.repeat(stmt, number=number, repeat=_RUNS)) / number * 1e6


def main() -> None:
    data = _packet()
    kinds = {1: Ext.MID, 2: Ext.ABS_SEND_TIME, 3: Ext.AUDIO_LEVEL}
    view = RtpView.parse(data, kinds)
    rewriter = Rewriter(
        0xCAFEBABE,
        100,
        {Ext.MID: 4, Ext.ABS_SEND_TIME: 3},
        "video0",
        rtx_ssrc=0xCAFEBABF,
        rtx_payload_type=101,
    )
    number = 200_000
    overhead = _best(lambda: None, number)
    rows = [
        ("RtpView.parse (3 ext elements)", _best(lambda: RtpView.parse(data, kinds), number)),
        ("Rewriter.rewrite", _best(lambda: rewriter.rewrite(view, 0x123456), number)),
        ("Rewriter.rtx", _best(lambda: rewriter.rtx(view, 0x123456), number)),
        ("is_vp8_keyframe_start", _best(lambda: is_vp8_keyframe_start(view.payload), number)),
    ]
    print(f"{len(data)}-byte packet, {len(view.payload)}-byte VP8 payload")
    print(f"(lambda call overhead {overhead:.3f} µs/op, subtracted)")
    for name, us in rows:
        print(f"{name:34s} {us - overhead:6.3f} µs/op")


if __name__ == "__main__":
    main()
