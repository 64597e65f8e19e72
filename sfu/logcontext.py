"""Which participant a log line is about: every media log line names one.

:data:`PARTICIPANT` is set for a participant's WebSocket task (``SfuNode``),
so every task it starts (its session's, aiortc's for its connections)
inherits it; code that runs outside that context (the UDP mux's datagram
callback, the call's timer) names the participant with ``extra=about(pid)``.
A handler's :class:`ParticipantFilter` puts it on every record as
``participant_id`` (None when no participant is concerned). Participant ids
only: tokens and tickets never go into a log line.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

PARTICIPANT: ContextVar[str | None] = ContextVar("callsfu_participant", default=None)


def about(participant_id: str | None) -> dict[str, str | None]:
    """``extra=`` for a log call about ``participant_id``."""
    return {"participant_id": participant_id}


class ParticipantFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "participant_id", None) is None:
            record.participant_id = PARTICIPANT.get()
        return True
