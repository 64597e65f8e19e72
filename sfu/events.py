"""Call events the SFU reports to whoever runs it (webhooks, in ``control/``).

An :data:`EventSink` is called synchronously, at the moment of the event,
with its type and a JSON-able ``data``; it must not block (the control
plane queues the event and delivers it later). Types: ``call.started``,
``participant.joined``, ``participant.left``, ``call.ended``. A call is
named by ``link_id``, the :class:`~sfu.admission.Admission`'s ``call_id``
(the SHA-256 of the link's token, never the token itself).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

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
