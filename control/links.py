"""Call links: create, resolve, revoke, join — and the Gatekeeper the SFU redeems
tickets through."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from control.clock import Clock, iso8601
from control.config import Config
from control.errors import ApiError
from control.store.base import LinkRecord, LinkStore
from control.tokens import looks_like_token, new_token, token_hash
from sfu.admission import Admission, CallType


CALL_CLAIM_TTL = 20.0  # seconds a node holds a call it hosts without renewing
CALL_CLAIM_RENEW = 5.0


class CallEnder(Protocol):
    async def end_call(self, call_id: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class JoinGrant:
    participant_id: str
    ticket: str
    type: CallType
    ws_url: str  # on the node that hosts the call's media


class LinkService:
    def __init__(self, config: Config, store: LinkStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.media: CallEnder | None = None

    def url(self, token: str) -> str:
        return f"{self.config.base_url}/call/{token}"

    async def create(self, call_type: CallType, title: str) -> tuple[str, LinkRecord]:
        now = self.clock.now()
        token = new_token()
        link = LinkRecord(
            token_hash=token_hash(token),
            type=call_type,
            title=title,
            created_at=now,
            expires_at=now + self.config.link_ttl,
            max_participants=self.config.max_participants,
        )
        await self.store.create_link(link)
        return token, link

    async def find(self, token: str) -> LinkRecord:
        """The link, or ApiError: unknown, revoked (wins over expired), expired."""
        link = await self.lookup(token)
        if link.revoked_at is not None:
            raise ApiError("link_revoked", "This call link was revoked by its host; ask them for a new one.")
        if self.clock.now() >= link.expires_at:
            raise ApiError(
                "link_expired",
                f"This call link expired on {iso8601(link.expires_at)}; ask the host for a new one.",
            )
        return link

    async def lookup(self, token: str) -> LinkRecord:
        link = await self.store.get_link(token_hash(token)) if looks_like_token(token) else None
        if link is None:
            raise ApiError("link_not_found", "There is no call link with this token; check the link you were sent.")
        return link

    async def describe(self, token: str) -> dict[str, Any]:
        link = await self.find(token)
        return {
            "type": link.type,
            "title": link.title,
            "created_at": iso8601(link.created_at),
            "expires_at": iso8601(link.expires_at),
            "max_participants": link.max_participants,
            "participants": await self.store.count_connected(link.token_hash),
        }

    async def revoke(self, token: str) -> None:
        link = await self.lookup(token)
        await self.store.revoke_link(link.token_hash, self.clock.now())
        if self.media is not None:
            await self.media.end_call(link.token_hash, "link_revoked")
        await self.store.announce_revoked(link.token_hash)

    async def keep_calls(self, hosted: Callable[[], Iterable[str]]) -> None:
        """Renew this node's claim on the calls it hosts, so that joins through
        any node are sent here (several nodes sharing a Redis store)."""
        while True:
            await asyncio.sleep(CALL_CLAIM_RENEW)
            for call_id in list(hosted()):
                await self.store.claim_call(call_id, self.config.ws_base_url, CALL_CLAIM_TTL)

    async def follow_revocations(self) -> None:
        """End, on this node, the calls of links revoked through other nodes."""
        async for revoked in self.store.revocations():
            if self.media is not None:
                await self.media.end_call(revoked, "link_revoked")

    async def join(self, link: LinkRecord, name: str) -> JoinGrant:
        """Hold a seat in ``link``'s call (found live by :meth:`find`)."""
        now = self.clock.now()
        participant_id = "p_" + secrets.token_hex(8)
        ticket = new_token()
        ok = await self.store.reserve_seat(
            link.token_hash,
            participant_id,
            name,
            token_hash(ticket),
            now + self.config.ticket_ttl,
            now,
            link.max_participants,
        )
        if not ok:
            raise ApiError(
                "call_full",
                f"This call is full ({link.max_participants} of {link.max_participants}); try again when someone leaves.",
            )
        host = await self.store.claim_call(link.token_hash, self.config.ws_base_url, CALL_CLAIM_TTL)
        return JoinGrant(participant_id, ticket, link.type, f"{host}/ws/{ticket}")

    # -- Gatekeeper (what the SFU calls) ------------------------------------
    async def redeem(self, ticket: str) -> Admission | None:
        if not looks_like_token(ticket):
            return None
        now = self.clock.now()
        seat = await self.store.redeem_ticket(token_hash(ticket), now)
        if seat is None:
            return None
        link = await self.store.get_link(seat.token_hash)
        if link is None or link.revoked_at is not None or now >= link.expires_at:
            await self.store.release_seat(seat.participant_id)
            return None
        return Admission(
            participant_id=seat.participant_id,
            name=seat.name,
            call_id=link.token_hash,
            call_type=link.type,
            title=link.title,
            max_participants=link.max_participants,
        )

    async def release(self, admission: Admission) -> None:
        await self.store.release_seat(admission.participant_id)
