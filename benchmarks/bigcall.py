"""The ``bigcall`` scenario's pieces (benchmarks/loadtest.py, benchmarks/synth.py).

32 participants publish Opus + VP8 (~300 kbps); 3 of them speak (their audio
carries an RFC 6464 level of -20 dBov, the others' 127: silence); every one
sends a ``view`` of 9 tiles (one large, eight small: the speakers first, then
others). Measured beside the everyone-receives-everything meeting of the same
size in the same run: download per receiver, server CPU per participant,
forwarded packets/s; then one speaker stops and another starts, and each
receiver's time until a ``speakers`` message names the new one first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SPEAKERS = 3  # of the N, who speak
TILES = 9  # videos in each receiver's view
LARGE = (640, 360)  # the first tile of a view
SMALL = (160, 90)  # the others
SPEAKING_LEVEL = 20  # -dBov while speaking
SILENT_LEVEL = 127
SWITCH_WAIT = 3.0  # seconds given to the speaker switch to reach everyone


def view_names(index: int, names: list[str]) -> list[str]:
    """The names participant ``index`` shows: the speakers, then the ones after it, TILES in all."""
    me = names[index]
    ordered = names[:SPEAKERS] + names[index + 1 :] + names[SPEAKERS:index]
    return [n for n in dict.fromkeys(ordered) if n != me][:TILES]


def view_message(names: list[str], ids: dict[str, str]) -> dict[str, Any]:
    videos = []
    for i, name in enumerate(n for n in names if n in ids):
        width, height = LARGE if i == 0 else SMALL
        videos.append({"participant_id": ids[name], "width": width, "height": height})
    return {"type": "view", "videos": videos}


def stamp_levels(sender: Any, level_of: Any) -> None:
    """Every frame ``sender`` sends carries ``level_of()`` (0..127) as its RFC 6464
    level (aiortc sets none on pre-encoded packets)."""
    original = sender._next_encoded_frame

    async def next_encoded_frame(codec: Any) -> Any:
        frame = await original(codec)
        if frame is not None:
            frame.audio_level = -level_of()  # aiortc writes -audio_level
        return frame

    sender._next_encoded_frame = next_encoded_frame


def first_named_after(log: list[tuple[float, list[str]]], since: float, pid: str) -> float | None:
    """When ``pid`` first led a ``speakers`` list received after ``since``."""
    for at, speakers in log:
        if at >= since and speakers[:1] == [pid]:
            return at
    return None


def summary_ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"p50": None, "p99": None, "max": None, "count": 0}
    a = np.asarray(values) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 1), "p99": round(float(np.percentile(a, 99)), 1),
            "max": round(float(a.max()), 1), "count": len(values)}  # fmt: skip
