"""Rewrite a publisher's RTP packets into one subscriber's negotiation.

One `Rewriter` per subscriber-side outgoing stream ("slot"). It owns the
slot's SSRC, payload type, sequence-number and timestamp spaces and the
subscriber's header-extension ids. Sources feeding the slot may change
(`switch_source`); the output sequence numbers and timestamps continue
without a jump, so the subscriber's decoder sees one continuous stream.

Within an epoch (the packets since the last source switch) the mapping is a
constant offset, so input losses and reordering show up unchanged in the
output, and a subscriber's NACK can be mapped back to the publisher's
sequence number (`original_sequence_number`) to find the packet in the cache.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from .extensions import Ext
from .packet import RtpView

__all__ = ["Rewriter", "mid_extension_element", "starting_points", "timestamp_gap"]

_SEQ = struct.Struct("!H")
_EXT_HEADER = struct.Struct("!HH")
_SSRC = struct.Struct("!I")


def timestamp_gap(clock_rate: int) -> int:
    """RTP timestamp step inserted between two epochs: one frame's worth.

    3000 for 90 kHz video (1/30 s), 960 for 48 kHz Opus (20 ms); other audio
    clock rates get 20 ms too.
    """
    if clock_rate == 90000:
        return clock_rate // 30
    return clock_rate // 50


class _Layout:
    """A precompiled header layout: one struct.pack call builds the header.

    The struct's fields are: the first two bytes (V/X and M/PT) as one H, the
    sequence number, the timestamp, one constant byte string (SSRC, and when
    there are elements the 0xBEDE block header and the MID element), then
    optionally the abs-send-time element as one I (id/length byte in
    `ast_id_word`, OR the 24-bit time in) and the audio-level element as one
    H (id/length byte in `al_id_word`, OR the level byte in), then zero
    padding to a 4-byte multiple.
    """

    __slots__ = ("packer", "head", "const", "ast_id_word", "al_id_word")

    packer: struct.Struct
    head: int
    const: bytes
    ast_id_word: int
    al_id_word: int

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        mid_element: bytes,
        ast_id: int | None,
        al_id: int | None,
    ) -> None:
        ext_len = len(mid_element) + (4 if ast_id else 0) + (2 if al_id else 0)
        padding = -ext_len % 4
        const = _SSRC.pack(ssrc)
        if ext_len:
            const += _EXT_HEADER.pack(0xBEDE, (ext_len + padding) // 4) + mid_element
        fmt = f"!HHI{len(const)}s"
        if ast_id:
            fmt += "I"  # id/length byte then the 24-bit value
        if al_id:
            fmt += "H"  # id/length byte then the level byte
        fmt += "x" * padding
        self.packer = struct.Struct(fmt)
        self.head = ((0x90 if ext_len else 0x80) << 8) | payload_type
        self.const = const
        self.ast_id_word = (ast_id << 28 | 2 << 24) if ast_id else 0
        self.al_id_word = (al_id << 12) if al_id else 0


def _one_byte_id(ext_ids: dict[Ext, int], kind: Ext) -> int | None:
    """The negotiated id if it can be written in the one-byte profile."""
    ext_id = ext_ids.get(kind)
    if ext_id is not None and 1 <= ext_id <= 14:
        return ext_id
    return None


def starting_points(
    first_sequence_number: int | None, first_timestamp: int | None, first_rtx_sequence_number: int | None
) -> tuple[int, int, int]:
    """The output spaces' starting points: those given, else random
    (sequence numbers below 32768, any 32-bit timestamp), drawn in that order."""
    if first_sequence_number is None:
        first_sequence_number = random.randrange(0x8000)
    if first_timestamp is None:
        first_timestamp = random.getrandbits(32)
    if first_rtx_sequence_number is None:
        first_rtx_sequence_number = random.randrange(0x8000)
    return first_sequence_number, first_timestamp, first_rtx_sequence_number


def mid_extension_element(ext_ids: dict[Ext, int], mid: str) -> bytes:
    """The one-byte MID element to write (b"" when MID is not negotiated as one).

    ValueError unless ``mid`` is 1..16 UTF-8 bytes when it is."""
    mid_id = _one_byte_id(ext_ids, Ext.MID)
    if mid_id is None:
        return b""
    raw = mid.encode("utf-8")
    if not 1 <= len(raw) <= 16:
        raise ValueError(f"MID must be 1..16 UTF-8 bytes, got {len(raw)}: {mid!r}")
    return bytes([mid_id << 4 | (len(raw) - 1)]) + raw


class Rewriter:
    """Rewrites one publisher stream at a time into one subscriber's slot.

    `ext_ids` are the subscriber's negotiated ids (`extensions.ids_by_kind`);
    only ids 1..14 can be written in the one-byte profile, others are not
    written. `mid` must be 1..16 UTF-8 bytes when MID is negotiated
    (ValueError otherwise). `clock_rate` sets the timestamp gap inserted at
    a source switch (`timestamp_gap`). `first_sequence_number` (default:
    random below 32768), `first_timestamp` (default: random 32-bit) and
    `first_rtx_sequence_number` (default: random below 32768) start the
    output spaces.
    """

    __slots__ = (
        "ssrc",
        "payload_type",
        "mid",
        "rtx_ssrc",
        "rtx_payload_type",
        "clock_rate",
        "gap",
        "packets_sent",
        "octets_sent",
        "last_sequence_number",
        "last_timestamp",
        "rtx_sequence_number",
        "seq_offset",
        "ts_offset",
        "_fresh",
        "_skip",
        "_started",
        "_epoch_span",
        "_plain",
        "_leveled",
        "_rtx_plain",
        "_rtx_leveled",
        "_pack",
        "_head",
        "_const",
        "_ast_word",
        "_pack_l",
        "_head_l",
        "_const_l",
        "_ast_word_l",
        "_level_word",
    )

    ssrc: int
    payload_type: int
    mid: str
    rtx_ssrc: int | None
    rtx_payload_type: int | None
    clock_rate: int
    gap: int
    packets_sent: int
    octets_sent: int
    last_sequence_number: int
    last_timestamp: int
    rtx_sequence_number: int
    seq_offset: int
    ts_offset: int
    _fresh: bool
    _started: bool
    _epoch_span: int
    _plain: _Layout
    _leveled: _Layout | None
    _rtx_plain: _Layout | None
    _rtx_leveled: _Layout | None
    # the two rewrite layouts, flattened for speed (see _Layout)
    _pack: Callable[..., bytes]
    _head: int
    _const: bytes
    _ast_word: int
    _pack_l: Callable[..., bytes]
    _head_l: int
    _const_l: bytes
    _ast_word_l: int
    _level_word: int  # 0 when audio level is not written

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
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.mid = mid
        self.rtx_ssrc = rtx_ssrc
        self.rtx_payload_type = rtx_payload_type
        self.clock_rate = clock_rate
        self.gap = timestamp_gap(clock_rate)

        first_sequence_number, first_timestamp, first_rtx_sequence_number = starting_points(
            first_sequence_number, first_timestamp, first_rtx_sequence_number
        )

        # RTCP sender-report counters, updated by `rewrite` only.
        self.packets_sent = 0
        self.octets_sent = 0  # payload bytes
        # Highest output sequence number sent and the timestamp it carried.
        # Before the first packet: the values the first packet continues from.
        self.last_sequence_number = (first_sequence_number - 1) & 0xFFFF
        self.last_timestamp = first_timestamp & 0xFFFFFFFF
        self.rtx_sequence_number = first_rtx_sequence_number & 0xFFFF  # next RTX seq
        self.seq_offset = 0
        self.ts_offset = 0
        self._fresh = True  # the next packet starts an epoch
        self._skip = 0  # sequence numbers left out before the next epoch
        self._started = False  # no packet rewritten yet at all
        self._epoch_span = 0  # output seqs from the epoch's first to the highest

        mid_element = mid_extension_element(ext_ids, mid)
        ast_id = _one_byte_id(ext_ids, Ext.ABS_SEND_TIME)
        al_id = _one_byte_id(ext_ids, Ext.AUDIO_LEVEL)

        self._plain = _Layout(ssrc, payload_type, mid_element, ast_id, None)
        self._leveled = None
        if al_id is not None:
            self._leveled = _Layout(ssrc, payload_type, mid_element, ast_id, al_id)
        self._rtx_plain = self._rtx_leveled = None
        if rtx_ssrc is not None and rtx_payload_type is not None:
            self._rtx_plain = _Layout(rtx_ssrc, rtx_payload_type, mid_element, ast_id, None)
            if al_id is not None:
                self._rtx_leveled = _Layout(
                    rtx_ssrc, rtx_payload_type, mid_element, ast_id, al_id
                )

        lay = self._plain
        self._pack = lay.packer.pack
        self._head = lay.head
        self._const = lay.const
        self._ast_word = lay.ast_id_word
        lay = self._leveled or self._plain
        self._pack_l = lay.packer.pack
        self._head_l = lay.head
        self._const_l = lay.const
        self._ast_word_l = lay.ast_id_word
        self._level_word = lay.al_id_word

    def switch_source(self, skip: int = 0) -> None:
        """Start a new epoch at the next packet (new source, or a resume).

        ``skip`` leaves that many sequence numbers out before it: a marked
        discontinuity, so that a receiver still waiting for the old source's
        lost tail flushes it instead of holding the new source behind it."""
        self._fresh = True
        self._skip = skip if self._started else 0

    def _start_epoch(self, view: RtpView) -> None:
        first_seq = (self.last_sequence_number + 1 + self._skip) & 0xFFFF
        self._skip = 0
        if self._started:
            first_ts = (self.last_timestamp + self.gap) & 0xFFFFFFFF
        else:
            first_ts = self.last_timestamp  # first_timestamp
        self.seq_offset = (first_seq - view.sequence_number) & 0xFFFF
        self.ts_offset = (first_ts - view.timestamp) & 0xFFFFFFFF
        self.last_sequence_number = (first_seq - 1) & 0xFFFF  # advanced by the caller
        self.last_timestamp = first_ts
        self._epoch_span = -1
        self._fresh = False
        self._started = True

    def rewrite(self, view: RtpView, abs_send_time: int) -> bytes:
        """The packet to send to the subscriber for this publisher packet.

        `abs_send_time` is the 24-bit 6.18 fixed-point send time written in
        the abs-send-time element when negotiated.

        A packet that arrives reordered right after a source switch (older
        than the epoch's first packet) maps onto sequence numbers of the
        previous epoch; callers that care can test `precedes_epoch` first.
        """
        if self._fresh:
            self._start_epoch(view)
        seq = (view.sequence_number + self.seq_offset) & 0xFFFF
        ts = (view.timestamp + self.ts_offset) & 0xFFFFFFFF
        ahead = (seq - self.last_sequence_number) & 0xFFFF
        if 0 < ahead < 0x8000:
            self.last_sequence_number = seq
            self.last_timestamp = ts
            self._epoch_span += ahead
        payload = view.payload
        self.packets_sent += 1
        self.octets_sent += len(payload)
        level = view.audio_level
        if level is None or not self._level_word:
            head = self._head | 0x80 if view.marker else self._head
            if self._ast_word:
                return (
                    self._pack(
                        head, seq, ts, self._const, self._ast_word | (abs_send_time & 0xFFFFFF)
                    )
                    + payload
                )
            return self._pack(head, seq, ts, self._const) + payload
        head = self._head_l | 0x80 if view.marker else self._head_l
        if self._ast_word_l:
            return (
                self._pack_l(
                    head,
                    seq,
                    ts,
                    self._const_l,
                    self._ast_word_l | (abs_send_time & 0xFFFFFF),
                    self._level_word | level[0],
                )
                + payload
            )
        return self._pack_l(head, seq, ts, self._const_l, self._level_word | level[0]) + payload

    def precedes_epoch(self, view: RtpView) -> bool:
        """True if `view` is older than the first packet of the current epoch.

        Such a packet (reordered across a source switch) would reuse output
        sequence numbers of the previous epoch. False before the epoch's
        first packet has been rewritten.
        """
        if self._fresh:
            return False
        seq = (view.sequence_number + self.seq_offset) & 0xFFFF
        back = (self.last_sequence_number - seq) & 0xFFFF
        return back < 0x8000 and back > self._epoch_span

    def original_sequence_number(self, out_seq: int) -> int | None:
        """The publisher's sequence number for an output sequence number.

        None if `out_seq` was not sent in the current epoch: before the
        epoch's first packet, after the highest one sent, or no packet
        sent since the last `switch_source`.
        """
        if self._fresh:
            return None
        back = (self.last_sequence_number - out_seq) & 0xFFFF
        if back >= 0x8000 or back > self._epoch_span:
            return None
        return (out_seq - self.seq_offset) & 0xFFFF

    def rtx(self, view: RtpView, abs_send_time: int) -> bytes | None:
        """An RFC 4588 retransmission of a cached publisher packet.

        Same timestamp mapping and extensions as `rewrite`, the RTX payload
        type and SSRC and the next RTX sequence number; the payload is the
        original output sequence number followed by the original payload.
        None when RTX was not negotiated or no epoch has started since the
        last `switch_source`. Does not update the sender-report counters.
        """
        level = view.audio_level
        lay = self._rtx_plain
        if level is not None and self._rtx_leveled is not None:
            lay = self._rtx_leveled
        if lay is None or self._fresh:
            return None
        rtx_seq = self.rtx_sequence_number
        self.rtx_sequence_number = (rtx_seq + 1) & 0xFFFF
        head = lay.head | 0x80 if view.marker else lay.head
        ts = (view.timestamp + self.ts_offset) & 0xFFFFFFFF
        args: list[int | bytes] = [head, rtx_seq, ts, lay.const]
        if lay.ast_id_word:
            args.append(lay.ast_id_word | (abs_send_time & 0xFFFFFF))
        if lay.al_id_word and level is not None:
            args.append(lay.al_id_word | level[0])
        osn = (view.sequence_number + self.seq_offset) & 0xFFFF
        return lay.packer.pack(*args) + _SEQ.pack(osn) + view.payload
