"""Signaling messages from clients (docs/protocol.md), parsed strictly.

Each refusal is a :class:`SignalingError` whose code and sentence go back to
the client as ``{"type": "error", ...}``; the connection lives on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_MESSAGE = 256 * 1024  # an SDP with 32 sections and candidates is ~40 kB


class SignalingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Publish:
    sdp: str


@dataclass(frozen=True, slots=True)
class SubscribeAnswer:
    sdp: str


@dataclass(frozen=True, slots=True)
class Leave:
    pass


ClientMessage = Publish | SubscribeAnswer | Leave


def _sdp(msg: dict[str, object], type_: str) -> str:
    sdp = msg.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignalingError("bad_request", f"A '{type_}' message needs an 'sdp' string.")
    if not sdp.lstrip().startswith("v=0"):
        raise SignalingError("bad_sdp", f"The 'sdp' of '{type_}' is not an SDP (it must start with v=0).")
    return sdp


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
        return Publish(_sdp(msg, "publish"))
    if type_ == "subscribe_answer":
        return SubscribeAnswer(_sdp(msg, "subscribe_answer"))
    if type_ == "leave":
        return Leave()
    if not isinstance(type_, str):
        raise SignalingError("bad_request", "A message needs a 'type' string.")
    raise SignalingError(
        "bad_request",
        f"Unknown message type '{type_[:40]}'; expected publish, subscribe_answer or leave.",
    )
