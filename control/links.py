"""Call links: create, resolve, revoke, join — and the Gatekeeper the SFU redeems
tickets through."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from control.clock import Clock, iso8601
from control.config import Config
from control.errors import ApiError
from control.store.base import LinkRecord, LinkStore
from control.tokens import looks_like_token, new_token, token_hash
from sfu.admission import Admission, CallType
from sfu.events import EventSink, emit


log = logging.getLogger("callsfu")

CALL_CLAIM_TTL = 20.0  # seconds a node holds a call it hosts without renewing
CALL_CLAIM_RENEW = 5.0  # how often a node renews its calls' claims and re-checks their links
HEARTBEAT_INTERVAL = 1.0  # how often a node says it is alive (and frees dead nodes' seats)
NODE_TTL = 3.0  # a node silent this long is dead: its seats are freed, its calls go to the next node to claim them
BACKOFF_MIN = 0.2  # seconds before following revocations again after the store failed
BACKOFF_MAX = 5.0


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
        self.viewers: Callable[[str], int] = lambda call_id: 0  # WHEP viewers of a call on this node
        self.on_event: EventSink | None = None  # link.created, link.revoked (the webhooks)
        self._recheck: asyncio.Future[None] | None = None

    def url(self, token: str) -> str:
        return f"{self.config.base_url}/call/{token}"

    async def create(self, call_type: CallType, title: str, e2ee: bool = False) -> tuple[str, LinkRecord]:
        now = self.clock.now()
        token = new_token()
        link = LinkRecord(
            token_hash=token_hash(token),
            type=call_type,
            title=title,
            created_at=now,
            expires_at=now + self.config.link_ttl,
            max_participants=self.config.max_participants,
            e2ee=e2ee,
        )
        await self.store.create_link(link)
        emit(self.on_event, "link.created", {
            "link_id": link.token_hash, "type": link.type, "title": link.title,
            "created_at": iso8601(link.created_at), "expires_at": iso8601(link.expires_at), "e2ee": link.e2ee,
        })  # fmt: skip
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
            "e2ee": link.e2ee,
            "participants": await self.store.count_connected(link.token_hash),
            "viewers": self.viewers(link.token_hash),
        }

    async def revoke(self, token: str) -> None:
        link = await self.lookup(token)
        await self.store.revoke_link(link.token_hash, self.clock.now())
        if link.revoked_at is None:  # (revoking again is answered 204 too, and is no event)
            emit(self.on_event, "link.revoked", {"link_id": link.token_hash})
        if self.media is not None:
            await self.media.end_call(link.token_hash, "link_revoked")
        await self.store.announce_revoked(link.token_hash)

    async def keep_calls(self, hosted: Callable[[], Iterable[str]]) -> None:
        """Every few seconds: heart-beat (and free the seats of dead nodes),
        renew this node's claim on the calls it hosts (so that joins through
        any node are sent here), and end those whose link was revoked. Survives
        the store going away: after an outage, links past their expiry end
        their calls too (their revocation or expiry may have gone unheard)."""
        outage = False
        while True:
            await asyncio.sleep(CALL_CLAIM_RENEW)
            try:
                for call_id in list(hosted()):
                    await self.store.claim_call(call_id, self.config.ws_base_url, CALL_CLAIM_TTL)
                await self.recheck_calls(hosted, after_outage=outage)
                if outage:
                    log.info("the store is back; hosted calls re-checked")
                outage = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not outage:
                    log.warning("the store failed (%s); retrying every %.0f s", type(exc).__name__, CALL_CLAIM_RENEW)
                outage = True

    async def keep_alive(self) -> None:
        """Heart-beat every second: a node silent for NODE_TTL is dead, and the
        next node to heart-beat frees the seats held through it (its calls are
        claimed anew by the next join, on a live node)."""
        if hasattr(self.store, "url"):
            self.store.url = self.config.ws_base_url  # (a shared store: where other nodes send its calls' joins)
        failed = False
        while True:
            try:
                released = await self.store.heartbeat(NODE_TTL)
                if released:
                    log.info("freed %d seats held through nodes that stopped heart-beating", released)
                failed = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failed:
                    log.warning("heart-beating failed (%s); retrying every %.0f s", type(exc).__name__, HEARTBEAT_INTERVAL)
                failed = True
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def drain_node(self) -> int:
        """This node takes no new calls (a shared store hands them to another
        node) and lets go of those it hosts; returns the claims dropped."""
        if hasattr(self.store, "draining"):
            self.store.draining = True
        try:
            await self.store.heartbeat(NODE_TTL)
            release = getattr(self.store, "release_claims", None)
            return int(await release()) if release is not None else 0
        except Exception as exc:  # the store is away: the claims lapse by themselves
            log.warning("could not hand this node's calls over (%s)", type(exc).__name__)
            return 0

    async def recheck_calls(self, hosted: Callable[[], Iterable[str]], after_outage: bool) -> None:
        """End the hosted calls whose link was revoked (a revocation this node
        may not have heard of); ``after_outage``: expired ones too."""
        if self.media is None:
            return
        for call_id in list(hosted()):
            link = await self.store.get_link(call_id)
            if link is None:
                continue  # a store that lost its data: nothing to go by
            if link.revoked_at is not None:
                await self.media.end_call(call_id, "link_revoked")
            elif after_outage and self.clock.now() >= link.expires_at:
                await self.media.end_call(call_id, "link_expired")

    async def follow_revocations(self, hosted: Callable[[], Iterable[str]] = tuple) -> None:
        """End, on this node, the calls of links revoked through other nodes.
        Reconnects with backoff when the store fails, then re-checks every
        hosted call (revocations announced meanwhile were not heard)."""
        delay = BACKOFF_MIN
        failed = False
        while True:
            try:
                stream = self.store.revocations()
                if failed:  # (a reference kept, so the task is not collected mid-way)
                    self._recheck = asyncio.ensure_future(self._recheck_soon(hosted))
                async for revoked in stream:
                    delay = BACKOFF_MIN
                    if self.media is not None:
                        await self.media.end_call(revoked, "link_revoked")
                return  # the store ended the stream (closing)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failed:
                    log.warning("following revocations failed (%s); reconnecting", type(exc).__name__)
                failed = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _recheck_soon(self, hosted: Callable[[], Iterable[str]]) -> None:
        """Once the subscription is back (it takes a round trip), re-check."""
        await asyncio.sleep(BACKOFF_MIN)
        try:
            await self.recheck_calls(hosted, after_outage=True)
        except Exception as exc:  # the store failed again: the next reconnect re-checks
            log.debug("re-check after reconnecting failed: %r", exc)

    @staticmethod
    def check_e2ee(link: LinkRecord, encrypts: bool, via: str | None = None) -> None:
        """An end-to-end encrypted call admits only clients that encrypt their
        media with the link's key themselves (a join says so: ``"e2ee": true``);
        anyone else would send the others plain media and receive noise.
        ``via``: WHIP or WHEP, which have no way to say so (refused outright)."""
        if link.e2ee and via is not None:
            raise ApiError(
                "e2ee_required",
                f"This call is end-to-end encrypted: {via} cannot take part, since the server cannot read"
                " its media and the others cannot read what it would send. Use the call page with the full"
                " link (its #key=...).",
            )
        if link.e2ee and not encrypts:
            raise ApiError(
                "e2ee_required",
                "This call is end-to-end encrypted and this join does not say it encrypts its media with the"
                " link's key: open the full link (with its #key=...) in a browser, or join with"
                " \"e2ee\": true if your client encrypts as docs/protocol.md describes.",
            )
        if encrypts and not link.e2ee:
            raise ApiError(
                "call_not_e2ee",
                "This call is not end-to-end encrypted: join without \"e2ee\": true (the others could not read your media).",
            )

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
            e2ee=link.e2ee,
        )

    async def release(self, admission: Admission) -> None:
        await self.store.release_seat(admission.participant_id)
