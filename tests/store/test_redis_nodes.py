"""What only the Redis store has: several nodes sharing it."""

from __future__ import annotations

import time

import pytest
import redis

from control.store.redis import RedisStore
from tests.store.conftest import RedisServer
from tests.store.test_store_behaviour import T0, h, link, reserve


async def test_node_id_comes_from_the_url(redis_db: RedisServer) -> None:
    named = RedisStore.from_url(redis_db.url(node_id="node-a"))
    anonymous = RedisStore.from_url(redis_db.url())
    other = RedisStore.from_url(redis_db.url())
    try:
        assert named.node_id == "node-a"
        assert anonymous.node_id != other.node_id  # made up, never shared by accident
        await named.create_link(link())  # the query does not confuse the client
    finally:
        for store in (named, anonymous, other):
            await store.close()


async def test_clear_seats_keeps_the_seats_of_other_nodes(redis_db: RedisServer) -> None:
    a = RedisStore.from_url(redis_db.url(node_id="a"))
    b = RedisStore.from_url(redis_db.url(node_id="b"))
    try:
        rec = link(max_participants=5)
        await a.create_link(rec)
        on_a, on_b = await reserve(a, rec), await reserve(a, rec)
        assert (await a.redeem_ticket(on_a[2], T0 + 1)) is not None
        assert (await b.redeem_ticket(on_b[2], T0 + 1)) is not None
        live = await reserve(b, rec)  # someone joining right now, through either node
        stale = await reserve(b, rec, now=time.time() - 100)  # expired by the wall clock
        assert live[0] and stale[0]
        assert await a.count_connected(rec.token_hash) == 2

        await b.clear_seats()  # node b restarts: only its own seat goes
        assert await a.count_connected(rec.token_hash) == 1
        seat = await a.redeem_ticket(live[2], T0 + 2)  # the live ticket still works
        assert seat is not None and seat.participant_id == live[1]
        assert await a.count_connected(rec.token_hash) == 2
        raw = a.redis
        assert not await raw.exists(f"callsfu:seat:{stale[1]}", f"callsfu:ticket:{stale[2]}")

        # a restarted node a (same node_id) frees the seats it held
        a2 = RedisStore.from_url(redis_db.url(node_id="a"))
        await a2.clear_seats()
        await a2.close()
        assert await b.count_connected(rec.token_hash) == 0
        assert await raw.smembers("callsfu:node:a") == set()
    finally:
        await a.close()
        await b.close()


async def test_unused_tickets_carry_a_ttl_connected_seats_do_not(redis_db: RedisServer) -> None:
    store = RedisStore.from_url(redis_db.url())
    try:
        rec = link()
        await store.create_link(rec)
        ok, pid, ticket = await reserve(store, rec)
        assert ok
        r = store.redis
        assert 30 < await r.ttl(f"callsfu:seat:{pid}") <= 91
        assert 30 < await r.ttl(f"callsfu:ticket:{ticket}") <= 91
        assert await r.ttl(f"callsfu:link:{rec.token_hash}") == -1  # links stay (expired ones answer 410)
        assert await store.redeem_ticket(ticket, T0 + 1) is not None
        assert await r.ttl(f"callsfu:seat:{pid}") == -1
        assert await r.exists(f"callsfu:ticket:{ticket}") == 0
    finally:
        await store.close()


async def test_duplicates_are_refused(redis_db: RedisServer) -> None:
    store = RedisStore.from_url(redis_db.url())
    try:
        rec = link()
        await store.create_link(rec)
        with pytest.raises(ValueError):
            await store.create_link(rec)
        await store.reserve_seat(rec.token_hash, "p_1", "Ann", h("t1"), T0 + 30, T0, 32)
        with pytest.raises(ValueError):
            await store.reserve_seat(rec.token_hash, "p_1", "Bob", h("t2"), T0 + 30, T0, 32)
        with pytest.raises(ValueError):
            await store.reserve_seat(rec.token_hash, "p_2", "Bob", h("t1"), T0 + 30, T0, 32)
    finally:
        await store.close()


def test_server_fixture_answers(redis_server: RedisServer) -> None:
    with redis.Redis(host="127.0.0.1", port=redis_server.port) as client:
        assert client.ping()
