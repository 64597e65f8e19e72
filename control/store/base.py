"""The store interface: links, revocations and seats.

Handlers talk only to :class:`LinkStore`; SQLite (embedded, one node) and
Redis (several nodes) implement it. Tokens and tickets arrive already hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Literal, Protocol

CallType = Literal["audio", "video"]


@dataclass(frozen=True, slots=True)
class LinkRecord:
    token_hash: str
    type: CallType
    title: str
    created_at: float
    expires_at: float
    max_participants: int
    revoked_at: float | None = None
    e2ee: bool = False  # end-to-end encrypted: the key travels in the link's #fragment, never here


@dataclass(frozen=True, slots=True)
class SeatRecord:
    participant_id: str
    token_hash: str
    name: str


class LinkStore(Protocol):
    async def create_link(self, link: LinkRecord) -> None: ...

    async def get_link(self, token_hash: str) -> LinkRecord | None: ...

    async def revoke_link(self, token_hash: str, now: float) -> None:
        """Mark revoked (idempotent: the first revocation time is kept)."""

    async def reserve_seat(
        self,
        token_hash: str,
        participant_id: str,
        name: str,
        ticket_hash: str,
        ticket_expires_at: float,
        now: float,
        max_participants: int,
    ) -> bool:
        """Atomically hold a seat unless connected seats plus live tickets
        already reach ``max_participants``."""

    async def redeem_ticket(self, ticket_hash: str, now: float) -> SeatRecord | None:
        """Atomically turn a live, unused ticket into a connected seat."""

    async def release_seat(self, participant_id: str) -> None: ...

    async def count_connected(self, token_hash: str) -> int: ...

    async def clear_seats(self) -> None:
        """Forget every seat (a node starting has nobody connected)."""

    async def claim_call(self, token_hash: str, node: str, ttl: float) -> str:
        """The node hosting this call's media: ``node`` if nobody holds the call
        (or ``node`` already does: the claim is then renewed for ``ttl`` s)."""

    async def heartbeat(self, ttl: float) -> int:
        """This node is alive for ``ttl`` more seconds; the seats held through
        nodes that stopped heart-beating are released. Returns how many."""

    async def announce_revoked(self, token_hash: str) -> None:
        """Tell every node sharing this store that a link was revoked."""

    def revocations(self) -> AsyncIterator[str]:
        """Token hashes of links revoked through any node, as they happen."""

    async def close(self) -> None: ...
