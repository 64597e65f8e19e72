"""Request bodies: parsed strictly, every refusal naming the field."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from aiohttp import web

from control.errors import ApiError

MAX_BODY = 16 * 1024


async def json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise ApiError("bad_request", f"The body is larger than {MAX_BODY} bytes.")
    try:
        body = json.loads(raw.decode("utf-8") if raw else "")
    except UnicodeDecodeError:
        raise ApiError("bad_request", "The body must be UTF-8 encoded JSON.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            "bad_request", f"The body is not valid JSON ({exc.msg} at position {exc.pos})."
        ) from None
    if not isinstance(body, dict):
        raise ApiError("bad_request", "The body must be a JSON object, like {\"type\": \"video\"}.")
    return body


def text_field(
    body: dict[str, Any], field: str, *, required: bool, min_len: int, max_len: int
) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise ApiError("bad_request", f"The field '{field}' is missing.")
        return None
    if not isinstance(value, str):
        raise ApiError("bad_request", f"The field '{field}' must be a string.")
    value = value.strip()
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ApiError("bad_request", f"The field '{field}' must not contain control characters.")
    if len(value) < min_len:
        raise ApiError("bad_request", f"The field '{field}' must not be empty.")
    if len(value) > max_len:
        raise ApiError(
            "bad_request", f"The field '{field}' is {len(value)} characters; at most {max_len} are allowed."
        )
    return value


def call_type_field(body: dict[str, Any]) -> str:
    value = body.get("type")
    if value is None:
        raise ApiError("bad_request", "The field 'type' is missing; use \"audio\" or \"video\".")
    if value not in ("audio", "video"):
        raise ApiError("bad_request", "The field 'type' must be \"audio\" or \"video\".")
    return str(value)
