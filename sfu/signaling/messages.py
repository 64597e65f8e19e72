"""Signaling messages from clients (docs/protocol.md), parsed strictly.

Each refusal is a :class:`SignalingError` whose code and sentence go back to
the client as ``{"type": "error", ...}``; the connection lives on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sfu.routing.view import Tile
from sfu.signaling.errors import SignalingError
from sfu.signaling.view_message import parse_view

__all__ = ["MAX_MESSAGE", "ClientMessage", "Leave", "Publish", "SignalingError", "SubscribeAnswer", "View", "parse_client_message"]

MAX_MESSAGE = 256 * 1024  # an SDP with 32 sections and candidates is ~40 kB
SOURCES = ("microphone", "camera", "screen")  # what a published section carries
MAX_MID = 32  # characters of a mid named in 'sources' (browsers use "0", "1", ...)


@dataclass(frozen=True, slots=True)
class Publish:
    sdp: str
    sources: dict[str, str] | None = None  # mid -> microphone | camera | screen (None: the defaults)


@dataclass(frozen=True, slots=True)
class SubscribeAnswer:
    sdp: str


@dataclass(frozen=True, slots=True)
class Leave:
    pass


@dataclass(frozen=True, slots=True)
class View:
    videos: list[Tile]


ClientMessage = Publish | SubscribeAnswer | Leave | View


def _sdp(msg: dict[str, object], type_: str) -> str:
    sdp = msg.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignalingError("bad_request", f"A '{type_}' message needs an 'sdp' string.")
    if not sdp.lstrip().startswith("v=0"):
        raise SignalingError("bad_sdp", f"The 'sdp' of '{type_}' is not an SDP (it must start with v=0).")
    return sdp


def _sources(value: object) -> dict[str, str] | None:
    """The publish message's optional ``sources``: {mid: source}, each source once."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SignalingError("bad_request", "'sources' must be an object mapping the offer's mids to sources.")
    if len(value) > len(SOURCES):
        raise SignalingError("bad_request", f"'sources' names {len(value)} sections; each source names at most one, so at most {len(SOURCES)}.")
    seen: set[str] = set()
    for mid, source in value.items():
        if not mid or len(mid) > MAX_MID:
            raise SignalingError("bad_request", f"A mid in 'sources' must be 1 to {MAX_MID} characters.")
        if source not in SOURCES:
            shown = repr(source)[:40]
            raise SignalingError("bad_request", f"'sources' gives mid '{mid}' the source {shown}; expected microphone, camera or screen.")
        if source in seen:
            raise SignalingError("bad_request", f"'sources' names the source '{source}' twice; each source is one section.")
        seen.add(source)
    return dict(value)


def parse_client_message(text: str) -> ClientMessage:
    if len(text) > MAX_MESSAGE:
        raise SignalingError("bad_request", f"Messages are limited to {MAX_MESSAGE} bytes.")
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SignalingError("bad_request", f"The message is not valid JSON (it goes wrong at character {exc.pos + 1}).") from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise SignalingError("bad_request", "The message has a number too long to read.") from None
    except RecursionError:
        raise SignalingError("bad_request", "The message nests arrays or objects too deeply.") from None
    if not isinstance(msg, dict):
        raise SignalingError("bad_request", "A message must be a JSON object with a 'type'.")
    type_ = msg.get("type")
    if type_ == "publish":
        return Publish(_sdp(msg, "publish"), _sources(msg.get("sources")))
    if type_ == "subscribe_answer":
        return SubscribeAnswer(_sdp(msg, "subscribe_answer"))
    if type_ == "leave":
        return Leave()
    if type_ == "view":
        return View(parse_view(msg))
    if not isinstance(type_, str):
        raise SignalingError("bad_request", "A message needs a 'type' string.")
    raise SignalingError(
        "bad_request",
        f"Unknown message type '{type_[:40]}'; expected publish, subscribe_answer, view or leave.",
    )
