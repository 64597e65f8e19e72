"""Parsed view of one incoming (already decrypted) RTP packet.

`RtpView.parse` is the only place where the SFU looks inside a publisher's RTP
header. It validates everything the forwarding path relies on and raises
`ValueError` with a precise message for each malformed case; the caller
catches it and drops the packet. It allocates one object per packet: the view
(plus the payload slice and, when present, the MID string and the audio-level
byte).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .extensions import Ext

__all__ = ["RTP_HEADER_BYTES", "RtpView", "is_vp8_keyframe_start"]

RTP_HEADER_BYTES = 12  # the fixed RTP header (RFC 3550 5.1), without CSRCs or extensions

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")

_MID = Ext.MID
_AUDIO_LEVEL = Ext.AUDIO_LEVEL
_RID = Ext.RID
_REPAIRED_RID = Ext.REPAIRED_RID


@dataclass(slots=True)
class RtpView:
    """The fields of an incoming RTP packet that the SFU forwards.

    `payload` has padding removed; `audio_level` is the raw one-byte value of
    the RFC 6464 element (V bit and level), `mid` the RFC 8843 MID, both None
    when absent or not negotiated; `data` is the whole original packet
    (empty once the packet cache holds the view: it keeps only what it sends).
    `rid` / `repaired_rid` are the RFC 8852 RtpStreamId / RepairedRtpStreamId
    (a simulcast layer's name), parsed only where negotiated.
    """

    payload_type: int
    marker: bool
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: memoryview | bytes
    audio_level: bytes | None
    mid: str | None
    data: bytes
    rid: str | None = None
    repaired_rid: str | None = None

    @classmethod
    def parse(cls, data: bytes, kinds_by_id: dict[int, Ext]) -> RtpView:
        """Parse and validate one RTP packet.

        `kinds_by_id` maps the negotiated header-extension ids of the
        publisher's session to the kinds we understand (see
        `extensions.kinds_by_id`); other elements are bounds-checked and
        skipped; in the one-byte profile, id 15 or a non-padding byte with id
        0 ends the block (RFC 8285, as libwebrtc). Elements of other profiles
        are ignored. Raises ValueError for: truncated header, version != 2, an
        RTCP packet (second byte 192..223, RFC 5761), truncated CSRC list,
        truncated extension header, extension block longer than the packet,
        truncated extension element, MID not UTF-8, RID not ASCII, padding length 0 or longer
        than the payload.
        """
        n = len(data)
        if n < 12:
            if n >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223:
                raise ValueError(f"looks like RTCP (packet type {data[1]})")
            raise ValueError(f"RTP packet truncated: {n} bytes, fixed header needs 12")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise ValueError(f"RTP version is {b0 >> 6}, expected 2")
        if 192 <= b1 <= 223:
            raise ValueError(f"looks like RTCP (packet type {b1})")
        pos = 12 + ((b0 & 0x0F) << 2)
        if pos > n:
            raise ValueError(
                f"RTP CSRC list truncated: {b0 & 0x0F} CSRCs need {pos} bytes, packet has {n}"
            )
        audio_level: bytes | None = None
        mid: str | None = None
        rid: str | None = None
        repaired_rid: str | None = None
        if b0 & 0x10:
            if pos + 4 > n:
                raise ValueError(
                    f"RTP header extension truncated: needs {pos + 4} bytes, packet has {n}"
                )
            profile, words = _EXT_HEADER.unpack_from(data, pos)
            i = pos + 4
            pos = i + (words << 2)
            if pos > n:
                raise ValueError(
                    f"RTP header extension of {words} words ends at byte {pos}, "
                    f"packet has {n}"
                )
            if profile == 0xBEDE:  # RFC 8285 one-byte header
                get = kinds_by_id.get
                while i < pos:
                    b = data[i]
                    if not b:  # padding
                        i += 1
                        continue
                    if b >= 0xF0 or b < 0x10:
                        # id 15 is reserved, id 0 with a length is not padding:
                        # stop processing the block (as libwebrtc does)
                        break
                    j = i + 2 + (b & 0x0F)
                    if j > pos:
                        raise ValueError(
                            f"RTP one-byte extension element id {b >> 4} runs past "
                            "the extension block"
                        )
                    kind = get(b >> 4)
                    if kind is not None:
                        if kind is _AUDIO_LEVEL:
                            audio_level = data[i + 1 : i + 2]
                        elif kind is _MID:
                            mid = _decode_mid(data[i + 1 : j])
                        elif kind is _RID:
                            rid = _decode_sdes(data[i + 1 : j], "RtpStreamId")
                        elif kind is _REPAIRED_RID:
                            repaired_rid = _decode_sdes(data[i + 1 : j], "RepairedRtpStreamId")
                    i = j
            elif profile & 0xFFF0 == 0x1000:  # RFC 8285 two-byte header
                get = kinds_by_id.get
                while i < pos:
                    ext_id = data[i]
                    if not ext_id:  # padding
                        i += 1
                        continue
                    if i + 2 > pos:
                        raise ValueError(
                            f"RTP two-byte extension element id {ext_id} has no length byte"
                        )
                    j = i + 2 + data[i + 1]
                    if j > pos:
                        raise ValueError(
                            f"RTP two-byte extension element id {ext_id} runs past "
                            "the extension block"
                        )
                    kind = get(ext_id)
                    if kind is not None and j > i + 2:  # empty elements carry nothing
                        if kind is _AUDIO_LEVEL:
                            audio_level = data[i + 2 : i + 3]
                        elif kind is _MID:
                            mid = _decode_mid(data[i + 2 : j])
                        elif kind is _RID:
                            rid = _decode_sdes(data[i + 2 : j], "RtpStreamId")
                        elif kind is _REPAIRED_RID:
                            repaired_rid = _decode_sdes(data[i + 2 : j], "RepairedRtpStreamId")
                    i = j
            # any other profile: a valid packet whose extension we ignore
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0:
                raise ValueError("RTP padding length is 0")
            if padding > n - pos:
                raise ValueError(
                    f"RTP padding length {padding} exceeds the {n - pos} bytes after the header"
                )
            payload = data[pos : n - padding]
        else:
            payload = data[pos:]
        if rid is None and repaired_rid is None:
            return cls(b1 & 0x7F, b1 >= 0x80, seq, ts, ssrc, payload, audio_level, mid, data)
        return cls(b1 & 0x7F, b1 >= 0x80, seq, ts, ssrc, payload, audio_level, mid, data, rid, repaired_rid)


def _decode_mid(raw: bytes) -> str:
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"RTP MID extension is not valid UTF-8: {bytes(raw)!r}") from None


def _decode_sdes(raw: bytes, what: str) -> str:
    try:
        return str(raw, "ascii")
    except UnicodeDecodeError:
        raise ValueError(f"RTP {what} extension is not ASCII: {bytes(raw)!r}") from None


def is_vp8_keyframe_start(payload: bytes | memoryview) -> bool:
    """True if this VP8 RTP payload (RFC 7741) starts a keyframe.

    That is: S=1 and PID=0 in the payload descriptor, and the P (inverse key
    frame) bit of the VP8 payload header is 0. The optional extension bytes
    (I with 7- or 15-bit PictureID, L, T/K) are skipped. Never raises; a payload
    too short to hold the descriptor and one payload-header byte gives False.
    """
    n = len(payload)
    if n < 2:
        return False
    b = payload[0]
    if b & 0x17 != 0x10:  # S (0x10) set, PID (low 3 bits) zero
        return False
    pos = 1
    if b & 0x80:  # X: extended control bits
        x = payload[1]
        pos = 2
        if x & 0x80:  # I: PictureID, 15 bits when its M bit is set
            if n <= pos:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            pos += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX
            pos += 1
    if n <= pos:
        return False
    return payload[pos] & 0x01 == 0
