"""The boundary between the control plane and the SFU.

The control plane decides *who* may enter a call (links, seats, tickets); the
SFU only ever sees an :class:`Admission`. It redeems a ticket through a
:class:`Gatekeeper` the control plane implements, and tells it when the
participant has left so the seat is freed. Nothing in ``sfu/`` imports
``control/``: a future SFU node in its own process only needs a Gatekeeper
that speaks to the shared store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

CallType = Literal["audio", "video"]


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
