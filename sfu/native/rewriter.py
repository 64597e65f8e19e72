"""The native Rewriter: ``sfu.core.rewriter.Rewriter``'s constructor over the C type.

Arguments are resolved here exactly as the reference does (random starting
points, the one-byte ids, the MID check with the same ValueError); the C type
(sfu/native/rewriter.c) gets the resolved layout and does the per-packet work.
"""

from __future__ import annotations

from sfu.core.extensions import Ext
from sfu.core.rewriter import _one_byte_id, mid_extension_element, starting_points, timestamp_gap
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
        first_sequence_number, first_timestamp, first_rtx_sequence_number = starting_points(
            first_sequence_number, first_timestamp, first_rtx_sequence_number
        )
        mid_element = mid_extension_element(ext_ids, mid)
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
