"""Call events the SFU reports to whoever runs it (webhooks, in ``control/``).

An :data:`EventSink` is called synchronously, at the moment of the event,
with its type and a JSON-able ``data``; it must not block (the control
plane queues the event and delivers it later). Types: ``call.started``,
``participant.joined``, ``participant.left``, ``call.ended``. A call is
named by ``link_id``, the :class:`~sfu.admission.Admission`'s ``call_id``
(the SHA-256 of the link's token, never the token itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable

log = logging.getLogger("callsfu.sfu")

EventSink = Callable[[str, dict[str, Any]], None]
CALL_EVENTS = ("call.started", "participant.joined", "participant.left", "call.ended")


def emit(sink: EventSink | None, type_: str, data: dict[str, Any]) -> None:
    """Report one event; a failing sink is logged, never raised into the call."""
    if sink is None:
        return
    try:
        sink(type_, data)
    except Exception:
        log.exception("reporting the event %s failed", type_)


class EventQueue:
    """An :data:`EventSink` for a process that is not the control plane (an SFU
    worker): events wait here, in order and bounded (the oldest go first when
    it is full), until :meth:`pump` hands them to whoever relays them."""

    def __init__(self, limit: int = 10_000) -> None:
        self.items: deque[tuple[str, dict[str, Any]]] = deque(maxlen=limit)
        self._ready = asyncio.Event()

    def __call__(self, type_: str, data: dict[str, Any]) -> None:
        self.items.append((type_, data))
        self._ready.set()

    async def pump(self, send: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        """Send every event as ``{"type": "event", "event", "data"}``, forever."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self.items:
                type_, data = self.items[0]
                await send({"type": "event", "event": type_, "data": data})
                self.items.popleft()
