"""aiortc participants of an end-to-end encrypted call, with the tests'
reference of the frame format (tests/e2ee_frames.py): frames sent are sealed
before aiortc packetizes them, frames received are opened before aiortc's
decoder sees them (one that does not open is dropped and counted)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import aiohttp
import aiortc.rtcrtpreceiver

from tests.e2ee_frames import FrameSealer, open_frame, raw
from tests.media.peer import Peer


@dataclass
class Opened:
    opened: int = 0
    failed: int = 0


def e2ee_peer(http: aiohttp.ClientSession, base_url: str, token: str, name: str, index: int, key: str, **kw: Any) -> Peer:
    """A Peer that says it encrypts and does (video pre-encoded, so every frame can be sealed)."""
    sealers: dict[str, FrameSealer] = {}

    def seal(kind: str, data: bytes) -> bytes:
        return sealers.setdefault(kind, FrameSealer(raw(key))).seal(kind, data)

    return Peer(http, base_url, token, name, index, encoded_video=True, join_fields={"e2ee": True}, seal=seal, **kw)


@contextlib.contextmanager
def opening_decoders(key: str) -> Iterator[Opened]:
    """While inside, every aiortc receiver in this process opens frames with ``key``."""
    counts = Opened()
    original = aiortc.rtcrtpreceiver.get_decoder

    class OpeningDecoder:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def decode(self, encoded_frame: Any) -> Any:
            try:
                encoded_frame.data = open_frame(raw(key), bytes(encoded_frame.data))
            except Exception:
                counts.failed += 1
                return []  # dropped, never decoded
            counts.opened += 1
            return self.inner.decode(encoded_frame)

    aiortc.rtcrtpreceiver.get_decoder = lambda codec: OpeningDecoder(original(codec))  # type: ignore[assignment]
    try:
        yield counts
    finally:
        aiortc.rtcrtpreceiver.get_decoder = original
