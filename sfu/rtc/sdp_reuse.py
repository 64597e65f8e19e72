"""Let aiortc reuse the SDP the SFU has just parsed (aiortc glue).

Every subscribe answer is parsed by ``check_subscribe_answer`` (to refuse a
bad one with a precise error) and then again by aiortc's
``setRemoteDescription``: a 62-section answer is ~67 KB and 4-7 ms of the
SFU's ~30 ms per negotiation, paid twice, for everyone, in a join storm.
:func:`remember` keeps the one parse; the next ``SessionDescription.parse``
of that very string object (the text handed to ``setRemoteDescription``)
returns it instead of parsing again. Any other text is parsed as before.
At most :data:`KEPT` parses are kept (answers of a storm arrive
interleaved: another is checked before the first reaches aiortc), the
oldest let go first. aiortc is pinned; its parser has no state.

The same goes for the SFU's own descriptions: ``createOffer`` and
``createAnswer`` build a ``SessionDescription``, write it out, and
``setLocalDescription`` parses that text back (6-10 ms for 62 sections).
What they built is remembered for the text they return; a differential
test (``tests/rtc/test_sdp_reuse.py``) checks that it equals the parse,
field by field, for the offers and answers the SFU makes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription, rtcpeerconnection, sdp

__all__ = ["KEPT", "install", "remember"]

KEPT = 16  # parses kept at once (a storm's answers checked and not yet applied)

_original = sdp.SessionDescription.parse
_original_wrap = rtcpeerconnection.wrap_session_description
_original_create = {"offer": RTCPeerConnection.createOffer, "answer": RTCPeerConnection.createAnswer}
_creating = [0]  # inside createOffer / createAnswer (no await in either: nothing else runs meanwhile)
_kept: OrderedDict[int, tuple[str, sdp.SessionDescription]] = OrderedDict()


def remember(text: str, parsed: sdp.SessionDescription) -> None:
    """``parsed`` is what parsing ``text`` gives: the next parse of ``text`` (that object) is free."""
    _kept[id(text)] = (text, parsed)  # (the text is held too: its id stays its own)
    while len(_kept) > KEPT:
        _kept.popitem(last=False)


def _parse(cls: type[sdp.SessionDescription], text: str) -> sdp.SessionDescription:
    kept = _kept.get(id(text))
    if kept is not None and kept[0] is text:
        del _kept[id(text)]  # once: aiortc keeps (and may change) what it was given
        return kept[1]
    return _original(text)


def _wrap(description: sdp.SessionDescription | None) -> RTCSessionDescription | None:
    wrapped = _original_wrap(description)
    if _creating[0] and wrapped is not None and description is not None:
        remember(wrapped.sdp, description)  # setLocalDescription parses that text next
    return wrapped


def _creator(kind: str) -> Any:
    original = _original_create[kind]

    async def create(self: RTCPeerConnection) -> RTCSessionDescription:
        _creating[0] += 1
        try:
            return await original(self)  # type: ignore[no-any-return]
        finally:
            _creating[0] -= 1

    return create


def install() -> None:
    sdp.SessionDescription.parse = classmethod(_parse)  # type: ignore[method-assign,assignment]
    rtcpeerconnection.wrap_session_description = _wrap  # type: ignore[assignment]  # what createOffer / createAnswer return through
    RTCPeerConnection.createOffer = _creator("offer")  # type: ignore[method-assign]
    RTCPeerConnection.createAnswer = _creator("answer")  # type: ignore[method-assign]
