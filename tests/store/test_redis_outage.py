"""A real redis-server restarted mid-call, and nodes that stop heart-beating."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis

from control.config import Config
from control.store.redis import RedisStore
from tests.helpers import running_server
from tests.media.peer import wait_for
from tests.store.conftest import RedisServer, free_port, stop_redis, wait_for_ping
from tests.store.test_store_behaviour import T0, link, reserve


def start_persistent_redis(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """redis-server with an append-only file, so a restart keeps the links."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
         "--appendfsync", "always", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_ping(proc, port)
    return proc


async def in_call(client: Any, token: str, name: str) -> tuple[aiohttp.ClientWebSocketResponse, list[dict[str, Any]], asyncio.Task[None]]:
    grant = await (await client.post(f"/api/links/{token}/join", json={"name": name})).json()
    ws = await client.session.ws_connect(grant["ws_url"])
    heard: list[dict[str, Any]] = []

    async def read() -> None:
        async for msg in ws:  # answers pings, as every client does
            if msg.type == aiohttp.WSMsgType.TEXT:
                heard.append(msg.json())

    task = asyncio.get_running_loop().create_task(read())
    assert await wait_for(lambda: any(m["type"] == "welcome" for m in heard), 5)
    return ws, heard, task


async def test_revocations_still_end_calls_after_redis_restarts(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "redis").mkdir()
    proc = start_persistent_redis(tmp_path / "redis", port)
    url = f"redis://127.0.0.1:{port}/0"
    tasks: list[asyncio.Task[None]] = []
    try:
        async with (
            running_server(tmp_path / "a", store=url, node_id="a") as (a, _),
            running_server(tmp_path / "b", store=url, node_id="b") as (b, _),
        ):
            tokens = [(await (await b.post("/api/links", json={"type": "audio"})).json())["token"] for _ in range(2)]
            calls = []
            for token in tokens:  # two calls hosted on node a
                ws, heard, task = await in_call(a, token, "p")
                calls.append((ws, heard))
                tasks.append(task)

            stop_redis(proc)  # the outage
            await asyncio.sleep(2)
            proc = start_persistent_redis(tmp_path / "redis", port)

            # revoke the second through node b, once its store answers again
            deadline = time.monotonic() + 15
            while True:
                resp = await b.delete(f"/api/links/{tokens[1]}")
                if resp.status == 204 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert resp.status == 204
            ended = {"type": "ended", "reason": "link_revoked"}
            assert await wait_for(lambda: ended in calls[1][1], 10), calls[1][1][-3:]
            # the first call, never revoked, goes on
            assert ended not in calls[0][1] and not calls[0][0].closed
            # and a revocation written while node a was not listening is found by its re-check
            with redis.Redis(host="127.0.0.1", port=port) as raw:
                first = f"callsfu:link:{hashlib.sha256(tokens[0].encode()).hexdigest()}"
                assert raw.hsetnx(first, "revoked_at", repr(time.time()))
            assert await wait_for(lambda: ended in calls[0][1], 10), calls[0][1][-3:]
            for ws, _ in calls:
                await ws.close()
    finally:
        for task in tasks:
            task.cancel()
        stop_redis(proc)


async def test_seats_of_a_node_that_stops_heart_beating_are_freed(redis_db: RedisServer) -> None:
    a = RedisStore.from_url(redis_db.url(), node_id="a")
    b = RedisStore.from_url(redis_db.url(), node_id="b")
    try:
        rec = link(max_participants=2)
        await a.create_link(rec)
        await a.heartbeat(0.3)
        await b.heartbeat(30)
        seats = [await reserve(a, rec), await reserve(a, rec)]
        for _, _, ticket in seats:
            assert await a.redeem_ticket(ticket, T0 + 1) is not None
        assert not (await reserve(b, rec))[0]  # full
        assert await b.heartbeat(30) == 0  # a is alive: its seats stay
        await asyncio.sleep(0.5)  # a crashed: no more heartbeats
        assert await b.heartbeat(30) == 2
        assert await b.count_connected(rec.token_hash) == 0
        assert (await reserve(b, rec))[0]  # room again
        assert await b.redis.smembers("callsfu:nodes") == {"b"}
    finally:
        await a.close()
        await b.close()


def test_node_ids_are_stable_and_settable(redis_server: RedisServer) -> None:
    assert Config(port=8081).default_node_id == Config(port=8081).default_node_id  # same node, same id
    assert Config(port=8081).default_node_id != Config(port=8082).default_node_id
    url = f"redis://127.0.0.1:{redis_server.port}/0?node_id=from-url"
    assert RedisStore.from_url(url, default_node_id="d").node_id == "from-url"
    assert RedisStore.from_url(url, node_id="flag", default_node_id="d").node_id == "flag"
    assert RedisStore.from_url(f"redis://127.0.0.1:{redis_server.port}/0", default_node_id="d").node_id == "d"
