"""The ``view`` message (docs/protocol.md): the videos a client shows, parsed strictly.

``{"type": "view", "videos": [{"participant_id", "source"?, "width", "height"}, ...]}``:
at most :data:`MAX_TILES` entries, each naming a participant id (a string
of at most :data:`MAX_ID` characters), an optional source (``camera``, the
default, or ``screen``) and its size in CSS pixels (integers from 1 to
:data:`MAX_SIZE`); no two entries for the same video, no other fields.
"""

from __future__ import annotations

from sfu.routing.view import Tile
from sfu.signaling.errors import SignalingError

__all__ = ["MAX_ID", "MAX_SIZE", "MAX_TILES", "parse_view"]

MAX_TILES = 64  # 32 participants, a camera and a screen each
MAX_ID = 64
MAX_SIZE = 16384
SOURCES = ("camera", "screen")
FIELDS = {"participant_id", "source", "width", "height"}


def _bad(message: str) -> SignalingError:
    return SignalingError("bad_request", message)


def _size(entry: dict[str, object], name: str, i: int) -> int:
    value = entry.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"videos[{i}].{name} must be an integer number of CSS pixels.")
    if not 1 <= value <= MAX_SIZE:
        raise _bad(f"videos[{i}].{name} must be between 1 and {MAX_SIZE}, not {value}.")
    return value


def parse_view(msg: dict[str, object]) -> list[Tile]:
    videos = msg.get("videos")
    if not isinstance(videos, list):
        raise _bad("A 'view' message needs 'videos', a list of the videos shown (it may be empty).")
    if len(videos) > MAX_TILES:
        raise _bad(f"A 'view' lists at most {MAX_TILES} videos, not {len(videos)}.")
    tiles: list[Tile] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(videos):
        if not isinstance(entry, dict):
            raise _bad(f"videos[{i}] must be an object with participant_id, width and height.")
        unknown = sorted(str(k)[:40] for k in entry if k not in FIELDS)
        if unknown:
            raise _bad(f"videos[{i}] has unknown field '{unknown[0]}'; expected participant_id, source, width, height.")
        pid = entry.get("participant_id")
        if not isinstance(pid, str) or not 1 <= len(pid) <= MAX_ID:
            raise _bad(f"videos[{i}].participant_id must be a participant id (a string of 1 to {MAX_ID} characters).")
        source = entry.get("source", "camera")
        if source not in SOURCES:
            raise _bad(f"videos[{i}].source must be 'camera' or 'screen'.")
        assert isinstance(source, str)
        if (pid, source) in seen:
            raise _bad(f"videos[{i}] repeats the {source} of participant '{pid}'.")
        seen.add((pid, source))
        tiles.append(Tile(pid, source, _size(entry, "width", i), _size(entry, "height", i)))
    return tiles
