"""The native Rewriter: ``sfu.core.rewriter.Rewriter``'s constructor over the C type.

Arguments are resolved here exactly as the reference does (random starting
points, the one-byte ids, the MID check with the same ValueError); the C type
(sfu/native/rewriter.c) gets the resolved layout and does the per-packet work.
"""

from __future__ import annotations

import random

from sfu.core.extensions import Ext
from sfu.core.rewriter import _one_byte_id, timestamp_gap
from sfu.native import _fanout

__all__ = ["Rewriter"]


class Rewriter(_fanout.Rewriter):
    """Drop-in for ``sfu.core.rewriter.Rewriter`` (same arguments, methods and
    attributes, the same bytes); attributes are read-only."""

    __slots__ = ()

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        ext_ids: dict[Ext, int],
        mid: str,
        rtx_ssrc: int | None = None,
        rtx_payload_type: int | None = None,
        first_sequence_number: int | None = None,
        first_timestamp: int | None = None,
        clock_rate: int = 90000,
        first_rtx_sequence_number: int | None = None,
    ) -> None:
        if first_sequence_number is None:
            first_sequence_number = random.randrange(0x8000)
        if first_timestamp is None:
            first_timestamp = random.getrandbits(32)
        if first_rtx_sequence_number is None:
            first_rtx_sequence_number = random.randrange(0x8000)
        mid_element = b""
        mid_id = _one_byte_id(ext_ids, Ext.MID)
        if mid_id is not None:
            raw = mid.encode("utf-8")
            if not 1 <= len(raw) <= 16:
                raise ValueError(f"MID must be 1..16 UTF-8 bytes, got {len(raw)}: {mid!r}")
            mid_element = bytes([mid_id << 4 | (len(raw) - 1)]) + raw
        super().__init__(
            ssrc,
            payload_type,
            mid,
            mid_element,
            _one_byte_id(ext_ids, Ext.ABS_SEND_TIME) or 0,
            _one_byte_id(ext_ids, Ext.AUDIO_LEVEL) or 0,
            rtx_ssrc,
            rtx_payload_type,
            first_sequence_number & 0xFFFF,
            first_timestamp & 0xFFFFFFFF,
            clock_rate,
            timestamp_gap(clock_rate),
            first_rtx_sequence_number & 0xFFFF,
        )
