"""Checks on a client's SDP before aiortc applies it.

aiortc accepts some offers that later break the connection they were applied
to (no media at all, sections dropped or reordered on a re-offer), so a
publish offer is checked first and refused with a precise ``bad_sdp`` error;
the participant's existing media is untouched.
"""

from __future__ import annotations

from aiortc import sdp

from sfu.signaling.messages import SignalingError

MAX_SECTIONS = 8  # a publisher sends audio and video; a few more for re-offers


def check_publish_offer(text: str, current: list[tuple[str, str | None]]) -> None:
    """``current``: (kind, mid) of the sections already negotiated, in order."""
    try:
        desc = sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises ValueError, IndexError, KeyError...
        raise SignalingError("bad_sdp", f"The publish offer is not a valid SDP ({type(exc).__name__}: {exc}).") from None
    if not desc.media:
        raise SignalingError("bad_sdp", "The publish offer has no media section; offer an audio and/or a video track.")
    if len(desc.media) > MAX_SECTIONS:
        raise SignalingError("bad_sdp", f"The publish offer has {len(desc.media)} media sections; at most {MAX_SECTIONS} are accepted.")
    for i, media in enumerate(desc.media):
        if media.kind not in ("audio", "video"):
            raise SignalingError("bad_sdp", f"Media section {i} is '{media.kind}'; only audio and video are published.")
        if not media.ice.usernameFragment or not media.ice.password:
            raise SignalingError("bad_sdp", f"Media section {i} lacks ICE credentials (a=ice-ufrag / a=ice-pwd).")
        if not media.dtls or not media.dtls.fingerprints:
            raise SignalingError("bad_sdp", f"Media section {i} lacks a DTLS fingerprint (a=fingerprint).")
        if not media.rtcp_mux:
            raise SignalingError("bad_sdp", f"Media section {i} must use a=rtcp-mux.")
    # With BUNDLE only the first bundled section carries the shared transport's
    # candidates (Chromium gives the others port 9 and none); without it, each does.
    bundle = next((g for g in desc.group if g.semantic == "BUNDLE" and g.items), None)
    carriers = [m for m in desc.media if m.rtp.muxId == bundle.items[0]] if bundle else desc.media
    if not carriers or not all(m.ice_candidates for m in carriers):
        raise SignalingError(
            "bad_sdp",
            "The publish offer has no ICE candidates; send it once ICE gathering is complete (no trickle).",
        )
    offered = [(m.kind, m.rtp.muxId) for m in desc.media]
    if offered[: len(current)] != current:
        raise SignalingError(
            "bad_sdp",
            "A re-offer must keep the earlier media sections in the same order"
            f" (had {current}, got {offered[: len(current)]}).",
        )
