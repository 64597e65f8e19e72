"""Two callsfu nodes (two apps) sharing one Redis, end to end over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import redis

from tests.helpers import running_server
from tests.store.conftest import RedisServer


async def test_two_nodes_share_links_seats_and_revocations(tmp_path: Path, redis_db: RedisServer) -> None:
    async with (
        running_server(tmp_path / "a", store=redis_db.url(node_id="a")) as (a, a_config),
        running_server(tmp_path / "b", store=redis_db.url(node_id="b")) as (b, _),
    ):
        link = await (await a.post("/api/links", json={"type": "video", "title": "Shared"})).json()
        token = link["token"]
        shown = await b.get(f"/api/links/{token}")
        assert shown.status == 200
        assert (await shown.json())["title"] == "Shared"

        async def join(i: int) -> tuple[int, dict[str, str]]:
            resp = await (a if i % 2 == 0 else b).post(f"/api/links/{token}/join", json={"name": f"guest {i}"})
            return resp.status, await resp.json()

        results = await asyncio.gather(*(join(i) for i in range(40)))
        statuses = [status for status, _ in results]
        assert statuses.count(200) == 32 and statuses.count(409) == 8
        assert {body["error"]["code"] for status, body in results if status == 409} == {"call_full"}
        # both nodes granted seats
        from_a = [body for i, (status, body) in enumerate(results) if status == 200 and i % 2 == 0]
        from_b = [body for i, (status, body) in enumerate(results) if status == 200 and i % 2 == 1]
        assert from_a and from_b

        # someone connects through node a; node b counts them
        # (each node redeems any ticket of the shared store; joins normally go to
        # the node hosting the call, see the next test)
        ws = await a.ws_connect("/ws/" + from_a[0]["ws_url"].rsplit("/", 1)[1])
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        assert (await (await b.get(f"/api/links/{token}")).json())["participants"] == 1

        # a third node starting (or b restarting) does not forget a's participant
        async with running_server(tmp_path / "c", store=redis_db.url(node_id="c")) as (c, _):
            assert (await (await c.get(f"/api/links/{token}")).json())["participants"] == 1

        # someone else is in the same call through node b
        ws_b = await b.ws_connect("/ws/" + from_b[0]["ws_url"].rsplit("/", 1)[1])
        assert (await ws_b.receive_json(timeout=5))["type"] == "welcome"

        # revoked on a, refused on b
        assert (await a.delete(f"/api/links/{token}")).status == 204
        for resp in [await b.get(f"/api/links/{token}"), await b.post(f"/api/links/{token}/join", json={"name": "late"})]:
            assert resp.status == 410 and (await resp.json())["error"]["code"] == "link_revoked"
        ended = await ws.receive_json(timeout=5)
        assert ended == {"type": "ended", "reason": "link_revoked"}
        # the call ends on node b too: revocations travel between nodes
        msg = await ws_b.receive_json(timeout=5)
        while msg["type"] != "ended":
            msg = await ws_b.receive_json(timeout=5)
        assert msg == {"type": "ended", "reason": "link_revoked"}
        await ws.close()
        await ws_b.close()

    # Redis holds hashes only: neither the link token nor any ticket in clear
    with redis.Redis(host="127.0.0.1", port=redis_db.port, decode_responses=True) as client:
        dump = "\n".join(f"{key} {everything_in(client, key)}" for key in client.scan_iter())
    tickets = [body["ws_url"].rsplit("/", 1)[1] for body in from_a + from_b]
    assert token not in dump and not [t for t in tickets if t in dump]
    assert f"link:{hashlib.sha256(token.encode()).hexdigest()}" in dump  # it is the hash that is kept


def everything_in(client: redis.Redis, key: str) -> object:
    kind = client.type(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "set":
        return client.smembers(key)
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    return client.get(key)


async def test_joins_through_any_node_go_to_the_node_hosting_the_call(tmp_path: Path, redis_db: RedisServer) -> None:
    async with (
        running_server(tmp_path / "a", store=redis_db.url(node_id="a")) as (a, a_config),
        running_server(tmp_path / "b", store=redis_db.url(node_id="b")) as (b, b_config),
    ):
        token = (await (await a.post("/api/links", json={"type": "audio"})).json())["token"]
        first = await (await b.post(f"/api/links/{token}/join", json={"name": "first"})).json()
        assert first["ws_url"].startswith(f"ws://127.0.0.1:{b_config.port}/ws/")  # b hosts this call now
        second = await (await a.post(f"/api/links/{token}/join", json={"name": "second"})).json()
        assert second["ws_url"].startswith(f"ws://127.0.0.1:{b_config.port}/ws/")  # so a sends its joiner there
        ws1 = await b.ws_connect(first["ws_url"].split(str(b_config.port), 1)[1])
        assert (await ws1.receive_json(timeout=5))["type"] == "welcome"
        ws2 = await b.ws_connect(second["ws_url"].split(str(b_config.port), 1)[1])
        welcome = await ws2.receive_json(timeout=5)
        assert [p["name"] for p in welcome["participants"]] == ["first"]  # one call, not two
        # another link is free to live on a
        other = (await (await a.post("/api/links", json={"type": "audio"})).json())["token"]
        grant = await (await a.post(f"/api/links/{other}/join", json={"name": "x"})).json()
        assert grant["ws_url"].startswith(f"ws://127.0.0.1:{a_config.port}/ws/")
        await ws1.close()
        await ws2.close()
