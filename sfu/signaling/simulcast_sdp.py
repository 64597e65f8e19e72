"""Simulcast in the publish offer and our answer (RFC 8853, RFC 8851, RFC 8852).

aiortc neither reads ``a=rid`` / ``a=simulcast`` nor answers them, and
negotiates only the header extensions it knows: answered as aiortc writes it,
a browser offering three encodings sends one. So the SFU reads the offer's
simulcast description itself (:func:`read_offer`), gives aiortc the offer as
it is (it ignores those lines), and adds to aiortc's answer, in each video
section it accepts, the rid header extensions (``rtp-stream-id`` and, when
offered, ``repaired-rtp-stream-id``, with the offer's ids), one
``a=rid:RID recv`` per layer and ``a=simulcast:recv`` (:func:`add_to_answer`).

Bounds: at most :data:`~sfu.core.simulcast.MAX_LAYERS` layers per section,
rids of 1..16 letters, digits, ``-`` or ``_``, each named once; otherwise the
offer is refused with a precise ``bad_sdp``. Alternatives (``a,b``) and
paused layers (``~a``) in ``a=simulcast`` are read as their first / as
sent. A section offering simulcast without the rtp-stream-id extension is
answered without simulcast (the browser then sends one encoding).
"""

from __future__ import annotations

from dataclasses import dataclass

from sfu.core.simulcast import MAX_LAYERS, validate_rid
from sfu.signaling.messages import SignalingError

__all__ = ["RID_URI", "RRID_URI", "SimulcastOffer", "add_to_answer", "read_offer"]

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
RRID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"


@dataclass(frozen=True, slots=True)
class SimulcastOffer:
    """One video section's simulcast: its layers, lowest first as the publisher
    lists them, and the offer's header-extension ids for the rids."""

    mid: str
    rids: tuple[str, ...]
    rid_id: int
    repaired_rid_id: int | None


def _sections(text: str) -> list[list[str]]:
    """The SDP's lines split into the session part and one list per m-section."""
    parts: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("m="):
            parts.append([])
        parts[-1].append(line)
    return parts


def _simulcast_rids(value: str, section: int) -> list[str]:
    """The rids of ``a=simulcast:send ...`` (first alternative of each, ``~`` removed)."""
    fields = value.split()
    if len(fields) < 2 or fields[0] != "send":
        raise SignalingError("bad_sdp", f"Media section {section} of the publish offer has an a=simulcast that does not send.")
    rids = [alternatives.split(",")[0].lstrip("~") for alternatives in fields[1].split(";")]
    return rids


def read_offer(text: str) -> dict[str, SimulcastOffer]:
    """The simulcast video sections of a publish offer, by mid.
    SignalingError (``bad_sdp``) for more than MAX_LAYERS layers, a bad or
    repeated rid, or a simulcast layer without its ``a=rid`` line."""
    out: dict[str, SimulcastOffer] = {}
    for index, lines in enumerate(_sections(text)[1:]):
        if not lines[0].startswith("m=video"):
            continue
        mid: str | None = None
        declared: list[str] = []
        simulcast: list[str] | None = None
        ext: dict[str, int] = {}
        for line in lines:
            if line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=rid:"):
                fields = line[6:].split()
                if len(fields) < 2 or fields[1] != "send":
                    continue  # a rid we would send: none here
                declared.append(fields[0])
            elif line.startswith("a=simulcast:"):
                simulcast = _simulcast_rids(line[12:], index)
            elif line.startswith("a=extmap:"):
                fields = line[9:].split()
                if len(fields) >= 2 and fields[1] in (RID_URI, RRID_URI):
                    try:
                        ext[fields[1]] = int(fields[0].split("/")[0])
                    except ValueError:
                        raise SignalingError("bad_sdp", f"Media section {index} of the publish offer has a bad a=extmap id.") from None
        if simulcast is None or mid is None:
            continue
        if len(simulcast) > MAX_LAYERS:
            raise SignalingError(
                "bad_sdp",
                f"Media section {index} of the publish offer has {len(simulcast)} simulcast layers; at most {MAX_LAYERS} are accepted.",
            )
        for rid in simulcast:
            try:
                validate_rid(rid)
            except ValueError as exc:
                raise SignalingError("bad_sdp", f"Media section {index} of the publish offer: {exc}.") from None
            if rid not in declared:
                raise SignalingError("bad_sdp", f"Media section {index} of the publish offer lists the simulcast layer {rid!r} without an a=rid line for it.")
        if len(set(simulcast)) != len(simulcast):
            raise SignalingError("bad_sdp", f"Media section {index} of the publish offer names a simulcast layer twice.")
        rid_id = ext.get(RID_URI)
        if rid_id is None or not 1 <= rid_id <= 14 or len(simulcast) < 2:
            continue  # no way to tell the layers apart (or one layer): answered without simulcast
        rrid_id = ext.get(RRID_URI)
        out[mid] = SimulcastOffer(mid, tuple(simulcast), rid_id, rrid_id if rrid_id and 1 <= rrid_id <= 14 else None)
    return out


def add_to_answer(text: str, accepted: list[SimulcastOffer]) -> str:
    """aiortc's answer with simulcast answered in the ``accepted`` sections."""
    by_mid = {offer.mid: offer for offer in accepted}
    if not by_mid:
        return text
    parts = _sections(text)
    for lines in parts[1:]:
        mid = next((line[6:].strip() for line in lines if line.startswith("a=mid:")), None)
        offer = by_mid.get(mid or "")
        if offer is None:
            continue
        extra = [f"a=extmap:{offer.rid_id} {RID_URI}"]
        if offer.repaired_rid_id is not None:
            extra.append(f"a=extmap:{offer.repaired_rid_id} {RRID_URI}")
        extra += [f"a=rid:{rid} recv" for rid in offer.rids]
        extra.append(f"a=simulcast:recv {';'.join(offer.rids)}")
        # extmaps beside aiortc's own, the rest at the end of the section
        at = max((i + 1 for i, line in enumerate(lines) if line.startswith("a=extmap:")), default=len(lines))
        lines[at:at] = extra[: 1 + (offer.repaired_rid_id is not None)]
        lines.extend(extra[1 + (offer.repaired_rid_id is not None) :])
    return "\r\n".join(line for part in parts for line in part) + "\r\n"
