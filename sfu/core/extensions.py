"""RTP header extensions the SFU forwards, and their negotiated ids.

Only three extensions survive forwarding: the MID (RFC 8843 BUNDLE demux),
abs-send-time (rewritten by the SFU for the subscriber's bandwidth estimator)
and the audio level (RFC 6464, used for active-speaker detection). Every other
element a publisher sends is dropped by the rewriter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Ext", "URIS", "ids_by_kind", "kinds_by_id"]


class Ext(enum.IntEnum):
    """Kinds of header extension the SFU understands (not wire ids)."""

    MID = 1
    ABS_SEND_TIME = 2
    AUDIO_LEVEL = 3
    RID = 4  # RFC 8852 RtpStreamId: which simulcast layer (read, never forwarded)
    REPAIRED_RID = 5  # RFC 8852 RepairedRtpStreamId: the layer an RTX packet repairs


URIS: dict[str, Ext] = {
    "urn:ietf:params:rtp-hdrext:sdes:mid": Ext.MID,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": Ext.ABS_SEND_TIME,
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": Ext.AUDIO_LEVEL,
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": Ext.RID,
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": Ext.REPAIRED_RID,
}


def _known(extensions: Iterable[tuple[int, str]]) -> Iterable[tuple[int, Ext]]:
    """Yield (id, kind) for the negotiated pairs we understand.

    Unknown URIs and ids outside RFC 8285's range 1..255 are skipped.
    """
    for ext_id, uri in extensions:
        kind = URIS.get(uri)
        if kind is not None and 1 <= ext_id <= 255:
            yield ext_id, kind


def ids_by_kind(extensions: Iterable[tuple[int, str]]) -> dict[Ext, int]:
    """Map each known extension kind to its negotiated id.

    `extensions` are the negotiated (id, uri) pairs (SDP ``a=extmap``).
    """
    return {kind: ext_id for ext_id, kind in _known(extensions)}


def kinds_by_id(extensions: Iterable[tuple[int, str]]) -> dict[int, Ext]:
    """Map each negotiated id of a known extension to its kind (for parsing)."""
    return {ext_id: kind for ext_id, kind in _known(extensions)}
