"""A track for subscriber-side senders that never yields a frame.

aiortc's sender loops on ``track.recv()``; with no track it polls every 20 ms.
The SFU writes packets straight to the transport instead, so the sender's
own RTP loop just waits here forever (and never encodes anything).
"""

from __future__ import annotations

import asyncio

from aiortc.mediastreams import MediaStreamTrack


class SilentTrack(MediaStreamTrack):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> None:  # type: ignore[override]
        await asyncio.shield(self._never)
        raise AssertionError("unreachable")

    def stop(self) -> None:
        super().stop()
        if not self._never.done():
            self._never.cancel()
