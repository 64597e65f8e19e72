"""Which source (microphone, camera, screen) each section of a publish offer
carries: the ``sources`` of the publish message, checked against the offer
(docs/protocol.md, "publish"). Pure.

Without an entry a new audio section is the microphone and a new video
section the camera (as before ``sources`` existed: a second camera section
takes the camera over). A section keeps its source for the whole
connection; a re-offer may repeat it, not change it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from sfu.signaling.messages import SignalingError

KIND_OF = {"microphone": "audio", "camera": "video", "screen": "video"}


def resolve_sources(
    sources: Mapping[str, str] | None,
    offered: Sequence[tuple[str, str | None]],
    known: Mapping[str, str],
) -> dict[str, str]:
    """mid -> source for every section of the offer that has a mid.

    ``offered``: (kind, mid) of the offer's sections; ``known``: the sources of
    the sections negotiated before (by mid)."""
    kinds = {mid: kind for kind, mid in offered if mid is not None}
    given = dict(sources or {})
    for mid, source in given.items():
        if mid not in kinds:
            raise SignalingError("bad_request", f"'sources' names mid '{mid}', which is not a section of the offer.")
        if KIND_OF[source] != kinds[mid]:
            raise SignalingError(
                "bad_request", f"'sources' makes the {kinds[mid]} section '{mid}' the {source}; a {source} is {KIND_OF[source]}."
            )
        if mid in known and known[mid] != source:
            raise SignalingError(
                "bad_request", f"Section '{mid}' is already the {known[mid]}; a section's source cannot change (offer a new section)."
            )
    resolved: dict[str, str] = {}
    for mid, kind in kinds.items():
        resolved[mid] = given.get(mid) or known.get(mid) or ("microphone" if kind == "audio" else "camera")
    return resolved
