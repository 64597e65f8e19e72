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
"""

from __future__ import annotations

from collections import OrderedDict

from aiortc import sdp

__all__ = ["KEPT", "install", "remember"]

KEPT = 4  # parses kept at once

_original = sdp.SessionDescription.parse
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


def install() -> None:
    sdp.SessionDescription.parse = classmethod(_parse)  # type: ignore[method-assign,assignment]
