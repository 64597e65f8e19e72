"""Checks on a client's SDP before aiortc applies it.

aiortc accepts some offers that later break the connection they were applied
to (no media at all, sections dropped or reordered on a re-offer), and pairs
every remote ICE candidate with every local one (thousands of candidates
stall the event loop for seconds). So a publish offer and a subscribe answer
are checked first and refused with a precise ``bad_sdp`` error; the
participant's existing media is untouched.
"""

from __future__ import annotations

import ipaddress

from aiortc import sdp
from aiortc.rtcicetransport import RTCIceCandidate

from sfu.signaling.messages import SignalingError

MAX_SECTIONS = 8  # a publisher sends audio and video; a few more for re-offers
MAX_CANDIDATES = 16  # per section: a browser gathers a few per interface (UDP and TCP, IPv4 and IPv6)
CANDIDATE_TYPES = ("host", "srflx", "relay")  # what a client gathers; prflx is never signalled
PROTOCOLS = ("udp", "tcp")


def _parse(text: str, what: str, max_sections: int) -> sdp.SessionDescription:
    # a cheap count first: aiortc's parser is not run on a flood
    lines = text.count("a=candidate:")
    if lines > MAX_CANDIDATES * max_sections:
        raise SignalingError(
            "bad_sdp", f"The {what} has {lines} ICE candidates; at most {MAX_CANDIDATES} per media section are accepted."
        )
    try:
        return sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises ValueError, IndexError, KeyError...
        raise SignalingError("bad_sdp", f"The {what} is not a valid SDP ({type(exc).__name__}).") from None


def _candidate_problem(c: RTCIceCandidate) -> str | None:
    if c.type not in CANDIDATE_TYPES:
        return f"type '{c.type[:20]}' (only {', '.join(CANDIDATE_TYPES)})"
    if c.protocol.lower() not in PROTOCOLS:
        return f"transport '{c.protocol[:20]}' (only UDP or TCP)"
    if c.component not in (1, 2):
        return f"component {c.component}"
    if not 0 <= c.port <= 65535:
        return f"port {c.port}"
    if not c.ip.endswith(".local"):  # an mDNS name stands in for a browser's host address
        try:
            ipaddress.ip_address(c.ip)
        except ValueError:
            return f"address '{c.ip[:60]}'"
    return None


def check_candidates(desc: sdp.SessionDescription, what: str) -> None:
    """A small number of well-formed host/srflx/relay candidates per section."""
    for i, media in enumerate(desc.media):
        if len(media.ice_candidates) > MAX_CANDIDATES:
            raise SignalingError(
                "bad_sdp",
                f"Media section {i} of the {what} has {len(media.ice_candidates)} ICE candidates;"
                f" at most {MAX_CANDIDATES} are accepted.",
            )
        # A repeat is legal and harmless: a browser on two interfaces that
        # share an address offers the same TCP-active candidate ("port 9",
        # RFC 6544) once per interface. Repeats count toward the cap above.
        for c in media.ice_candidates:
            problem = _candidate_problem(c)
            if problem is not None:
                raise SignalingError("bad_sdp", f"An ICE candidate in media section {i} of the {what} has an unusable {problem}.")


def check_subscribe_answer(text: str, offered: list[tuple[str, str | None]]) -> sdp.SessionDescription:
    """``offered``: (kind, mid) of the sections of the offer being answered.
    Returns the parsed answer."""
    what = "subscribe answer"
    desc = _parse(text, what, max(1, len(offered)))
    answered = [(m.kind, m.rtp.muxId) for m in desc.media]
    if answered != offered:
        raise SignalingError(
            "bad_sdp",
            f"The subscribe answer must answer the offer's {len(offered)} media sections in order"
            f" (got {len(answered)}{'' if len(answered) != len(offered) else ', other kinds or mids'}).",
        )
    # the first section not rejected carries the bundled transport's ICE and DTLS
    first = next(((i, m) for i, m in enumerate(desc.media) if m.port != 0), None)
    if first is not None:
        i, media = first
        if not media.ice.usernameFragment or not media.ice.password:
            raise SignalingError("bad_sdp", f"Media section {i} of the subscribe answer lacks ICE credentials.")
        if not media.dtls or not media.dtls.fingerprints:
            raise SignalingError("bad_sdp", f"Media section {i} of the subscribe answer lacks a DTLS fingerprint.")
    check_candidates(desc, what)
    return desc


def check_publish_offer(
    text: str, current: list[tuple[str, str | None]], require_candidates: bool = True
) -> list[tuple[str, str | None]]:
    """``current``: (kind, mid) of the sections already negotiated, in order.
    ``require_candidates=False`` (WHIP/WHEP): an offer with no candidate at all
    passes; its peer's connectivity checks then reveal its address
    (peer-reflexive, RFC 8445 7.3.1.3). Returns the (kind, mid) of every
    section of the offer."""
    desc = _parse(text, "publish offer", MAX_SECTIONS)
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
    if require_candidates and (not carriers or not all(m.ice_candidates for m in carriers)):
        raise SignalingError(
            "bad_sdp",
            "The publish offer has no ICE candidates; send it once ICE gathering is complete (no trickle).",
        )
    check_candidates(desc, "publish offer")
    offered = [(m.kind, m.rtp.muxId) for m in desc.media]
    if offered[: len(current)] != current:
        raise SignalingError(
            "bad_sdp",
            "A re-offer must keep the earlier media sections in the same order"
            f" (had {current}, got {offered[: len(current)]}).",
        )
    return offered
