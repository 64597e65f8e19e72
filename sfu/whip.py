"""WHIP ingest (RFC 9725): an encoder publishes into a call over one HTTP POST.

A WHIP publisher is a participant like any other: it holds a seat (redeemed
from a join ticket the control plane issued), others get
``participant_joined`` with its name and its tracks in ``tracks``, and a
revocation or a shutdown ends it. It only publishes: it has no signaling
socket and subscribes to nothing. Its session ends on ``DELETE`` of its
resource, when its media connection fails or closes, or when it never
connects within :data:`CONNECT_TIMEOUT`.

:class:`WhipSession` reuses :class:`~sfu.session.Session`'s publish path as
it is (whatever the publish answer does for a browser, it does for an
encoder); what a WebSocket did is replaced: messages go nowhere, and the
peer connection's state is its liveness.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from aiortc import RTCPeerConnection

from sfu.admission import Admission
from sfu.call import Call
from sfu.session import Session

log = logging.getLogger("callsfu.sfu")

CONNECT_TIMEOUT = 20.0  # seconds an answered publisher has to bring its media connection up


class NoSocket:
    """Where a WHIP session's signaling would go: nowhere (it has no socket)."""

    closed = True
    _req = None


class WhipSession(Session):
    require_candidates = False  # an encoder that trickles (PATCH is refused) is found by its checks

    def __init__(
        self,
        admission: Admission,
        call: Call,
        release: Callable[[], Awaitable[None]],
        on_closed: Callable[[WhipSession], None],
    ) -> None:
        super().__init__(admission, NoSocket(), call, release=release)  # type: ignore[arg-type]
        self._on_closed = on_closed
        self._deadline: asyncio.TimerHandle | None = None

    def send(self, message: dict[str, Any]) -> None:
        """Nothing to tell an encoder: ``ended`` is a closed connection to it."""

    def tracks_changed(self) -> None:
        """A WHIP publisher receives nothing: no subscribe connection."""

    async def answer(self, sdp: str) -> str:
        """Join the call and answer the encoder's offer (SignalingError: refused)."""
        self.call.join(self)
        await self._on_publish(sdp)
        pc = self.publish_pc
        assert pc is not None and pc.localDescription is not None
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(CONNECT_TIMEOUT, self._check_connected, pc)
        return pc.localDescription.sdp

    def _check_connected(self, pc: RTCPeerConnection) -> None:
        if pc.connectionState != "connected":
            log.info("WHIP publisher %s never connected its media: dropped", self.pid)
            self.end()

    def _watch(self, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.end()

    def end(self) -> None:
        """Close in the background (from callbacks that cannot wait)."""
        asyncio.get_running_loop().create_task(self.close())

    async def close(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        await super().close()
        self._on_closed(self)


async def publish(
    admission: Admission,
    call: Call,
    sdp: str,
    release: Callable[[], Awaitable[None]],
    on_closed: Callable[[WhipSession], None],
) -> tuple[WhipSession, str]:
    """A WHIP publisher admitted into ``call`` (its place already held): its
    session and the SDP answer. Refused offers close it and raise SignalingError."""
    session = WhipSession(admission, call, release, on_closed)
    try:
        return session, await session.answer(sdp)
    except Exception:  # SignalingError (a refused offer) or worse: the seat goes back
        await session.close()
        raise
