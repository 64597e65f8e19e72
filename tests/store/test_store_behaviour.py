"""The same behaviour from every LinkStore: SQLite (embedded) and Redis (shared)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets

from control.store.base import LinkRecord, LinkStore
from tests.store.conftest import StoreFactory

T0 = 1_800_000_000.0
TICKET_TTL = 30.0


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def link(max_participants: int = 32, **changes: object) -> LinkRecord:
    record = LinkRecord(
        token_hash=h(secrets.token_urlsafe(24)),
        type="video",
        title="Standup — ünïcode",
        created_at=T0,
        expires_at=T0 + 90 * 24 * 3600,
        max_participants=max_participants,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


async def reserve(store: LinkStore, rec: LinkRecord, now: float = T0, name: str = "Ann") -> tuple[bool, str, str]:
    """Reserve a seat; returns (ok, participant_id, ticket_hash)."""
    pid = "p_" + secrets.token_hex(8)
    ticket = h(secrets.token_urlsafe(24))
    ok = await store.reserve_seat(rec.token_hash, pid, name, ticket, now + TICKET_TTL, now, rec.max_participants)
    return ok, pid, ticket


async def test_create_get_revoke(store: LinkStore) -> None:
    rec = link()
    assert await store.get_link(rec.token_hash) is None
    await store.create_link(rec)
    assert await store.get_link(rec.token_hash) == rec
    audio = link(type="audio", title="", max_participants=2, created_at=T0 + 0.25, expires_at=T0 + 3600.5)
    await store.create_link(audio)
    assert await store.get_link(audio.token_hash) == audio

    await store.revoke_link(rec.token_hash, T0 + 10)
    assert await store.get_link(rec.token_hash) == dataclasses.replace(rec, revoked_at=T0 + 10)
    await store.revoke_link(rec.token_hash, T0 + 20)  # idempotent: the first time is kept
    got = await store.get_link(rec.token_hash)
    assert got is not None and got.revoked_at == T0 + 10
    assert await store.get_link(audio.token_hash) == audio  # the other link is untouched

    await store.revoke_link(h("unknown"), T0)  # revoking nothing creates nothing
    assert await store.get_link(h("unknown")) is None


async def test_an_e2ee_link_keeps_its_flag_and_nothing_else(store: LinkStore) -> None:
    rec, plain = link(e2ee=True), link()
    await store.create_link(rec)
    await store.create_link(plain)
    assert await store.get_link(rec.token_hash) == rec and rec.e2ee
    got = await store.get_link(plain.token_hash)
    assert got == plain and got is not None and not got.e2ee


async def test_100_concurrent_reservations_hold_exactly_n_seats(store: LinkStore) -> None:
    for n in (32, 5):
        rec = link(max_participants=n)
        await store.create_link(rec)
        results = await asyncio.gather(*(reserve(store, rec) for _ in range(100)))
        assert [ok for ok, _, _ in results].count(True) == n
        assert (await reserve(store, rec))[0] is False
        # unused tickets hold seats but nobody is connected
        assert await store.count_connected(rec.token_hash) == 0


async def test_seats_are_per_link(store: LinkStore) -> None:
    a, b = link(max_participants=2), link(max_participants=2)
    await store.create_link(a)
    await store.create_link(b)
    assert [(await reserve(store, a))[0] for _ in range(3)] == [True, True, False]
    assert [(await reserve(store, b))[0] for _ in range(3)] == [True, True, False]


async def test_expired_tickets_free_their_seats(store: LinkStore) -> None:
    rec = link(max_participants=3)
    await store.create_link(rec)
    first = await reserve(store, rec, now=T0)
    assert first[0]
    assert (await reserve(store, rec, now=T0 + 10))[0]
    assert (await reserve(store, rec, now=T0 + 20))[0]
    assert (await reserve(store, rec, now=T0 + 29.9))[0] is False
    # at T0 + 30 the first ticket is dead (expires_at <= now): its seat is free again
    assert (await reserve(store, rec, now=T0 + 30))[0]
    assert (await reserve(store, rec, now=T0 + 30))[0] is False
    # and the dead ticket cannot be redeemed any more
    assert await store.redeem_ticket(first[2], T0 + 30) is None


async def test_connected_seats_do_not_expire(store: LinkStore) -> None:
    rec = link(max_participants=2)
    await store.create_link(rec)
    ok, pid, ticket = await reserve(store, rec, now=T0)
    assert ok and await store.redeem_ticket(ticket, T0 + 29) is not None
    assert (await reserve(store, rec, now=T0 + 1000))[0]
    assert (await reserve(store, rec, now=T0 + 1000))[0] is False
    assert await store.count_connected(rec.token_hash) == 1


async def test_redeem_once_only(store: LinkStore) -> None:
    rec = link()
    await store.create_link(rec)
    ok, pid, ticket = await reserve(store, rec, name="Zoë")
    assert ok
    assert await store.redeem_ticket(h("not a ticket"), T0) is None
    seat = await store.redeem_ticket(ticket, T0 + 1)
    assert seat is not None
    assert (seat.participant_id, seat.token_hash, seat.name) == (pid, rec.token_hash, "Zoë")
    assert await store.redeem_ticket(ticket, T0 + 2) is None
    assert await store.count_connected(rec.token_hash) == 1


async def test_ticket_expires_after_30_seconds(store: LinkStore) -> None:
    rec = link()
    await store.create_link(rec)
    _, _, late = await reserve(store, rec)
    _, _, on_time = await reserve(store, rec)
    assert await store.redeem_ticket(late, T0 + TICKET_TTL) is None  # expires_at is exclusive
    assert await store.redeem_ticket(on_time, T0 + TICKET_TTL - 0.001) is not None


async def test_20_concurrent_redeems_of_one_ticket_one_wins(stores: StoreFactory) -> None:
    # several store objects race, as several nodes would
    nodes = [await stores.open() for _ in range(4)]
    rec = link()
    await nodes[0].create_link(rec)
    ok, pid, ticket = await reserve(nodes[0], rec)
    assert ok
    seats = await asyncio.gather(*(nodes[i % 4].redeem_ticket(ticket, T0 + 1) for i in range(20)))
    winners = [s for s in seats if s is not None]
    assert len(winners) == 1 and winners[0].participant_id == pid
    assert await nodes[1].count_connected(rec.token_hash) == 1


async def test_release_and_count_connected(store: LinkStore) -> None:
    rec = link(max_participants=3)
    await store.create_link(rec)
    tickets = [await reserve(store, rec) for _ in range(3)]
    assert all(ok for ok, _, _ in tickets)
    for _, _, ticket in tickets[:2]:
        assert await store.redeem_ticket(ticket, T0 + 1) is not None
    assert await store.count_connected(rec.token_hash) == 2
    assert (await reserve(store, rec, now=T0 + 1))[0] is False

    await store.release_seat(tickets[0][1])  # a connected seat
    assert await store.count_connected(rec.token_hash) == 1
    await store.release_seat(tickets[2][1])  # an unused ticket: gone, and not redeemable
    assert await store.redeem_ticket(tickets[2][2], T0 + 2) is None
    await store.release_seat(tickets[0][1])  # twice is fine
    await store.release_seat("p_unknown")
    assert await store.count_connected(rec.token_hash) == 1
    assert [(await reserve(store, rec, now=T0 + 2))[0] for _ in range(3)] == [True, True, False]
    assert await store.count_connected(h("no such link")) == 0


async def test_reopened_store_keeps_links_and_revocations(stores: StoreFactory) -> None:
    first = await stores.open()
    live, revoked = link(), link(type="audio")
    await first.create_link(live)
    await first.create_link(revoked)
    await first.revoke_link(revoked.token_hash, T0 + 5)
    await first.close()
    again = await stores.open()
    assert await again.get_link(live.token_hash) == live
    assert await again.get_link(revoked.token_hash) == dataclasses.replace(revoked, revoked_at=T0 + 5)


async def test_clear_seats_frees_the_seats_of_this_node(store: LinkStore) -> None:
    rec = link(max_participants=2)
    await store.create_link(rec)
    for _ in range(2):
        ok, _, ticket = await reserve(store, rec)
        assert ok and await store.redeem_ticket(ticket, T0 + 1) is not None
    assert await store.count_connected(rec.token_hash) == 2
    await store.clear_seats()
    assert await store.count_connected(rec.token_hash) == 0
    assert [(await reserve(store, rec, now=T0 + 2))[0] for _ in range(3)] == [True, True, False]
