"""Request bodies: parsed strictly, every refusal naming the field.

A JSON body must come as ``Content-Type: application/json`` (a cross-site form
or ``text/plain`` POST is refused with 415 before anything happens), at most
:data:`MAX_BODY` bytes, nested at most :data:`MAX_DEPTH` levels, with numbers
of at most :data:`MAX_NUMBER_DIGITS` characters: whatever the body, the answer
is a precise ``400 bad_request``, never a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, NoReturn

from aiohttp import web

from control.errors import ApiError

MAX_BODY = 16 * 1024
MAX_DEPTH = 16
MAX_NUMBER_DIGITS = 32
JSON_TYPE = "application/json"

# Characters refused in names and titles: C0/C1 controls and DEL; bidi
# embeddings, overrides, isolates and marks (text shown after a name must not
# be turned around by it); invisible characters that make a name look like
# someone else's or like nothing (zero-width space, word joiner, invisible
# operators, BOM, soft hyphen, Hangul fillers, the Mongolian vowel separator,
# deprecated format controls, interlinear annotations); line/paragraph
# separators; lone surrogates; the noncharacters U+FFFE/U+FFFF. ZWJ and ZWNJ
# (U+200C/U+200D) stay allowed: emoji sequences and several scripts need them.
REFUSED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD), (0x034F, 0x034F),
    (0x061C, 0x061C), (0x115F, 0x1160), (0x180E, 0x180E), (0x200B, 0x200B),
    (0x200E, 0x200F), (0x2028, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xD800, 0xDFFF), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB),
    (0xFFFE, 0xFFFF),
)  # fmt: skip
# What str.strip() removes once the refused characters are out of the way.
WHITESPACE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x0020), (0x00A0, 0x00A0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# The same rules as regular expressions (ECMA-262, Python and Rust alike); the
# OpenAPI document carries them as the fields' ``pattern``. Lone surrogates are
# not characters to a schema's regex engine (nor valid Unicode): refused, but
# left out of the patterns.
_SCHEMA_REFUSED = _class(tuple(r for r in REFUSED_RANGES if r != (0xD800, 0xDFFF)))
TITLE_PATTERN = f"^[^{_SCHEMA_REFUSED}]*$"
NAME_PATTERN = f"^[^{_SCHEMA_REFUSED}]*[^{_SCHEMA_REFUSED}{_class(WHITESPACE_RANGES)}][^{_SCHEMA_REFUSED}]*$"
_REFUSED = re.compile(f"[{_class(REFUSED_RANGES)}]")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


_KINDS: dict[type, str] = {
    type(None): "null", bool: "true or false", int: "a number", float: "a number", list: "an array", dict: "an object"
}


def _too_long_number(text: str) -> NoReturn:
    raise ApiError(
        "bad_request",
        f"The body has a number of {len(text)} characters; at most {MAX_NUMBER_DIGITS} are accepted.",
    )


def _number(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_DIGITS:
            _too_long_number(text)
        return convert(text)

    return parse


def _constant(name: str) -> NoReturn:
    raise ApiError("bad_request", f"The body is not valid JSON ({name} is not a JSON value).")


def _check_depth(text: str) -> None:
    """Refuse deep nesting before the parser recurses into it."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub('""', text)):
        depth = depth + 1 if bracket in "[{" else depth - 1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise ApiError(
            "bad_request",
            f"The body nests arrays and objects {deepest} levels deep; at most {MAX_DEPTH} are accepted.",
        )


def check_json_content_type(request: web.Request) -> None:
    if request.content_type != JSON_TYPE:
        sent = request.headers.get("Content-Type")
        raise ApiError(
            "unsupported_media_type",
            "The body must be JSON sent with the header 'Content-Type: application/json'"
            + (f" (this request says '{sent[:60]}')." if sent else " (this request has no Content-Type)."),
        )


async def _read_bounded(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise ApiError("bad_request", f"The body is {length} bytes; at most {MAX_BODY} are accepted.")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError("bad_request", f"The body is larger than {MAX_BODY} bytes; at most {MAX_BODY} are accepted.")
    return b"".join(chunks)


async def json_object(request: web.Request) -> dict[str, Any]:
    check_json_content_type(request)
    raw = await _read_bounded(request)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("bad_request", "The body must be UTF-8 encoded JSON.") from None
    _check_depth(text)
    try:
        body = json.loads(
            text, parse_int=_number(int), parse_float=_number(float), parse_constant=_constant
        )
    except json.JSONDecodeError as exc:
        raise ApiError(
            "bad_request", f"The body is not valid JSON (it goes wrong at character {exc.pos + 1}, line {exc.lineno} column {exc.colno})."
        ) from None
    except RecursionError:  # not reached after _check_depth; kept so that it can never be a 500
        raise ApiError("bad_request", f"The body nests too deeply; at most {MAX_DEPTH} levels are accepted.") from None
    if not isinstance(body, dict):
        raise ApiError("bad_request", "The body must be a JSON object, like {\"type\": \"video\"}.")
    return body


def only_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse fields this request does not take (a typo, or a feature this
    server does not have, must not pass silently)."""
    for key in body:
        if key not in allowed:
            quoted = [f"'{f}'" for f in allowed]
            listed = " and ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)
            shown = json.dumps(key)[1:-1]  # escaped: a key may hold anything
            shown = shown if len(shown) <= 40 else shown[:40] + "…"
            raise ApiError("bad_request", f"The field '{shown}' is not known here; this body takes {listed}.")


def text_field(
    body: dict[str, Any], field: str, *, required: bool, min_len: int, max_len: int
) -> str | None:
    """A name or title: checked as sent (length, refused characters), returned
    with surrounding whitespace trimmed. ``null`` counts as absent only when the
    field is optional."""
    if field not in body or (body[field] is None and not required):
        if required:
            raise ApiError("bad_request", f"The field '{field}' is missing.")
        return None
    value = body[field]
    if not isinstance(value, str):
        kind = _KINDS.get(type(value), type(value).__name__)
        raise ApiError("bad_request", f"The field '{field}' must be a string, not {kind}.")
    if len(value) > max_len:
        raise ApiError(
            "bad_request", f"The field '{field}' is {len(value)} characters; at most {max_len} are allowed."
        )
    bad = _REFUSED.search(value)
    if bad:
        raise ApiError(
            "bad_request",
            f"The field '{field}' contains U+{ord(bad.group()):04X} at position {bad.start()}: control,"
            " bidirectional-override and invisible characters are not allowed.",
        )
    value = value.strip()
    if len(value) < min_len:
        raise ApiError("bad_request", f"The field '{field}' must not be empty or only spaces.")
    return value


def call_type_field(body: dict[str, Any]) -> str:
    value = body.get("type")
    if value is None:
        raise ApiError("bad_request", "The field 'type' is missing or null; use \"audio\" or \"video\".")
    if value not in ("audio", "video"):
        raise ApiError("bad_request", "The field 'type' must be \"audio\" or \"video\".")
    return str(value)


def bool_field(body: dict[str, Any], field: str) -> bool:
    """An optional flag: ``true`` or ``false``; absent or ``null`` is false."""
    value = body.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        kind = "a string" if isinstance(value, str) else _KINDS.get(type(value), type(value).__name__)
        raise ApiError("bad_request", f"The field '{field}' must be true or false, not {kind}.")
    return value
