"""The VP8 payload descriptor (RFC 7741 4.2) of a forwarded packet, rewritten
so that one subscriber's stream stays continuous across simulcast layers.

Each simulcast layer is its own encoding with its own PictureID, TL0PICIDX
and KEYIDX spaces. A subscriber's decoder follows one stream: when its
outlet switches layers (at a keyframe of the new layer), those fields must
continue from the last ones it got, or the decoder sees a jump and asks for
keyframes. :class:`Vp8Munger` does it per outlet, the way the sequence
numbers and timestamps are continued by ``sfu.core.rewriter.Rewriter``: within
an epoch (the packets since the last layer switch) each field is the
publisher's value plus a constant offset, so loss and reordering show up
unchanged, and a retransmission of a cached packet gets the same values.

Widths are kept (a 7-bit PictureID stays 7-bit, in its own modulus), so the
payload keeps its length and is rewritten in a copy of the same size. Pure:
no I/O, never raises on a payload (a descriptor too short or without the
fields is passed through unchanged).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Descriptor", "Vp8Munger", "keyframe_size", "parse_descriptor"]

PICTURE_ID_15 = 0x8000
PICTURE_ID_7 = 0x80
TL0PICIDX_MOD = 0x100
KEYIDX_MOD = 0x20


class Descriptor(NamedTuple):
    """Where the rewritable fields sit in a payload, and their values.

    Offsets are byte positions in the payload; None when the field is absent.
    ``picture_id_wide``: the 15-bit form (M bit set). ``header`` is the
    offset of the VP8 payload header (after the descriptor)."""

    start: bool  # S: the first packet of a partition
    partition: int  # PID
    picture_id: int | None
    picture_id_at: int | None
    picture_id_wide: bool
    tl0picidx: int | None
    tl0picidx_at: int | None
    keyidx: int | None  # present with K
    tk_at: int | None  # the TID/Y/KEYIDX byte
    header: int


def parse_descriptor(payload: bytes | memoryview) -> Descriptor | None:
    """The descriptor of a VP8 RTP payload; None when it is truncated."""
    n = len(payload)
    if n < 1:
        return None
    b = payload[0]
    pos = 1
    picture_id = picture_id_at = tl0 = tl0_at = keyidx = tk_at = None
    wide = False
    if b & 0x80:  # X
        if n < 2:
            return None
        x = payload[1]
        pos = 2
        if x & 0x80:  # I
            if n <= pos:
                return None
            if payload[pos] & 0x80:
                if n <= pos + 1:
                    return None
                picture_id = (payload[pos] & 0x7F) << 8 | payload[pos + 1]
                picture_id_at, wide = pos, True
                pos += 2
            else:
                picture_id, picture_id_at = payload[pos], pos
                pos += 1
        if x & 0x40:  # L
            if n <= pos:
                return None
            tl0, tl0_at = payload[pos], pos
            pos += 1
        if x & 0x30:  # T or K
            if n <= pos:
                return None
            tk_at = pos
            if x & 0x10:  # K
                keyidx = payload[pos] & 0x1F
            pos += 1
    return Descriptor(
        bool(b & 0x10), b & 0x07, picture_id, picture_id_at, wide, tl0, tl0_at, keyidx, tk_at, pos
    )


def keyframe_size(payload: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) from the first packet of a VP8 keyframe (RFC 6386
    9.1: the frame tag, the start code 9d 01 2a, then 14-bit width and
    height); None for any other packet."""
    d = parse_descriptor(payload)
    if d is None or not d.start or d.partition != 0:
        return None
    h = d.header
    if len(payload) < h + 10 or payload[h] & 0x01:  # P=1: an interframe
        return None
    if bytes(payload[h + 3 : h + 6]) != b"\x9d\x01\x2a":
        return None
    width = (payload[h + 6] | payload[h + 7] << 8) & 0x3FFF
    height = (payload[h + 8] | payload[h + 9] << 8) & 0x3FFF
    return (width, height) if width and height else None


class Vp8Munger:
    """Continues PictureID, TL0PICIDX and KEYIDX across source switches for
    one outlet. Call :meth:`switch` when the next packet comes from a new
    layer (it must start a keyframe there), :meth:`rewrite` on every packet
    sent, :meth:`translate` for a retransmission (same mapping, no state)."""

    __slots__ = ("_pid_offset", "_tl0_offset", "_key_offset", "_last_pid", "_last_tl0", "_last_key", "_fresh")

    def __init__(self) -> None:
        self._pid_offset = 0
        self._tl0_offset = 0
        self._key_offset = 0
        self._last_pid: int | None = None  # highest output PictureID (15-bit space)
        self._last_tl0: int | None = None
        self._last_key: int | None = None
        self._fresh = False  # the next packet starts an epoch

    @property
    def identity(self) -> bool:
        """True while the mapping changes nothing (no switch yet, or offsets 0)."""
        return not (self._pid_offset or self._tl0_offset or self._key_offset or self._fresh)

    def seed(self, payload: bytes) -> None:
        """Take ``payload`` (sent unchanged, by another path) as the last one sent."""
        d = parse_descriptor(payload)
        if d is not None and self.identity:
            self._observe(d)

    def switch(self) -> None:
        """The next packet is the first of a new epoch (a new layer's keyframe)."""
        self._fresh = True

    def rewrite(self, payload: bytes, d: Descriptor | None = None) -> bytes:
        """The payload with this outlet's PictureID, TL0PICIDX and KEYIDX
        (``d``: its descriptor, when the caller parsed it once for all outlets)."""
        if d is None:
            d = parse_descriptor(payload)
            if d is None:
                return payload
        if self._fresh:
            self._start_epoch(d)
        out = self._apply(payload, d) if self._pid_offset or self._tl0_offset or self._key_offset else payload
        self._observe(d)
        return out

    def translate(self, payload: bytes, d: Descriptor | None = None) -> bytes:
        """The payload mapped as in the current epoch, without moving it (RTX)."""
        if d is None:
            d = parse_descriptor(payload)
        return payload if d is None or self._fresh else self._apply(payload, d)

    def _start_epoch(self, d: Descriptor) -> None:
        self._fresh = False
        if d.picture_id is not None and self._last_pid is not None:
            self._pid_offset = (self._last_pid + 1 - d.picture_id) % PICTURE_ID_15
        if d.tl0picidx is not None and self._last_tl0 is not None:
            self._tl0_offset = (self._last_tl0 + 1 - d.tl0picidx) % TL0PICIDX_MOD
        if d.keyidx is not None and self._last_key is not None:
            self._key_offset = (self._last_key + 1 - d.keyidx) % KEYIDX_MOD

    def _observe(self, d: Descriptor) -> None:
        picture_id = d.picture_id
        if picture_id is not None:
            mod = PICTURE_ID_15 if d.picture_id_wide else PICTURE_ID_7
            pid = (picture_id + self._pid_offset) % mod
            last = self._last_pid
            if last is None or 0 < (pid - last) % mod < mod >> 1:
                self._last_pid = pid
        tl0 = d.tl0picidx
        if tl0 is not None:
            tl0 = (tl0 + self._tl0_offset) & 0xFF
            last = self._last_tl0
            if last is None or 0 < (tl0 - last) & 0xFF < 0x80:
                self._last_tl0 = tl0
        key = d.keyidx
        if key is not None:
            key = (key + self._key_offset) & 0x1F
            last = self._last_key
            if last is None or 0 < (key - last) & 0x1F < 0x10:
                self._last_key = key

    def _apply(self, payload: bytes, d: Descriptor) -> bytes:
        if not (self._pid_offset or self._tl0_offset or self._key_offset):
            return payload
        head = d.header
        buf = bytearray(payload[:head])  # the descriptor only (at most 6 bytes); the rest joined once
        at = d.picture_id_at
        if d.picture_id is not None and at is not None and self._pid_offset:
            if d.picture_id_wide:
                pid = (d.picture_id + self._pid_offset) % PICTURE_ID_15
                buf[at] = 0x80 | pid >> 8
                buf[at + 1] = pid & 0xFF
            else:
                buf[at] = (d.picture_id + self._pid_offset) % PICTURE_ID_7
        if d.tl0picidx is not None and d.tl0picidx_at is not None and self._tl0_offset:
            buf[d.tl0picidx_at] = (d.tl0picidx + self._tl0_offset) % TL0PICIDX_MOD
        if d.keyidx is not None and d.tk_at is not None and self._key_offset:
            b = buf[d.tk_at]
            buf[d.tk_at] = (b & 0xE0) | (d.keyidx + self._key_offset) % KEYIDX_MOD
        return b"".join((buf, memoryview(payload)[head:]))
