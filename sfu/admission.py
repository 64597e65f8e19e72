"""The boundary between the control plane and the SFU.

The control plane decides *who* may enter a call (links, seats, tickets); the
SFU only ever sees an :class:`Admission`. It redeems a ticket through a
:class:`Gatekeeper` the control plane implements, and tells it when the
participant has left so the seat is freed. Nothing in ``sfu/`` imports
``control/``: a future SFU node in its own process only needs a Gatekeeper
that speaks to the shared store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Protocol

CallType = Literal["audio", "video"]

ADMISSION_HEADER = "X-Callsfu-Admission"  # how the front hands an Admission to a worker process


@dataclass(frozen=True, slots=True)
class Admission:
    """A participant the control plane has let into a call."""

    participant_id: str
    name: str
    call_id: str  # opaque and stable for the call's life; never the link token
    call_type: CallType
    title: str
    max_participants: int
    e2ee: bool = False  # the call's media is end-to-end encrypted by its clients (opaque to the SFU)


class Gatekeeper(Protocol):
    async def redeem(self, ticket: str) -> Admission | None:
        """Consume a single-use join ticket; None when bad, used or expired."""

    async def release(self, admission: Admission) -> None:
        """The participant has left: free their seat."""


class Refused(Exception):
    """The SFU refuses a WHIP publisher or WHEP viewer; ``code`` is one of
    docs/protocol.md's error codes (``forbidden``, ``call_full``...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def admission_from_header(raw: str) -> Admission:
    """The header the front sends; ValueError naming what is wrong."""
    try:
        fields = json.loads(raw)
    except ValueError:
        raise ValueError(f"{ADMISSION_HEADER} is not JSON") from None
    if not isinstance(fields, dict):
        raise ValueError(f"{ADMISSION_HEADER} must be a JSON object")
    try:
        admission = Admission(
            participant_id=str(fields["participant_id"]),
            name=str(fields["name"]),
            call_id=str(fields["call_id"]),
            call_type="audio" if fields["call_type"] == "audio" else "video",
            title=str(fields["title"]),
            max_participants=int(fields["max_participants"]),
            e2ee=fields.get("e2ee") is True,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{ADMISSION_HEADER} lacks or mistypes {exc}") from None
    return admission


def admission_header(admission: Admission) -> str:
    return json.dumps(
        {
            "participant_id": admission.participant_id,
            "name": admission.name,
            "call_id": admission.call_id,
            "call_type": admission.call_type,
            "title": admission.title,
            "max_participants": admission.max_participants,
            "e2ee": admission.e2ee,
        }
    )
