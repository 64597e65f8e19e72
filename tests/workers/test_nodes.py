"""Two ``callsfu serve`` nodes on a real redis-server: a node that dies (kill -9)
or shuts down (SIGTERM) loses its call to the other, and everyone is back.

The call is started through node A (so A hosts it); everyone rejoins through
node B, as a load balancer in front of both would send them.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.media.peer import Peer, wait_for
from tests.server import Server, http
from tests.store.conftest import RedisServer, start_redis, stop_redis

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield RedisServer(server.port).url()
    finally:
        stop_redis(proc)


@pytest.fixture
def nodes(tmp_path: Path, redis_url: str) -> Iterator[tuple[Server, Server]]:
    a = Server(tmp_path / "a", "--store", redis_url, "--node-id", "node-a")
    b = Server(tmp_path / "b", "--store", redis_url, "--node-id", "node-b")
    yield a, b
    for node in (a, b):
        node.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def call_on_a(session: aiohttp.ClientSession, a: Server, b: Server, n: int) -> tuple[str, list[Peer]]:
    token = a.create_link("video")["token"]
    peers = [Peer(session, a.url, token, f"peer{i}", i, auto_rejoin=True) for i in range(n)]
    await peers[0].join()  # the first join claims the call for node A
    for peer in peers:
        peer.base_url = b.url  # from now on (rejoins too) through node B
    for peer in peers[1:]:
        await peer.join()
    assert all(p.ws is not None and f":{a.port}/" in str(p.ws._response.url) for p in peers)
    return token, peers


def everyone_sees_everyone(peers: list[Peer]) -> bool:
    return all(a.sees(b) for a in peers for b in peers if a is not b)


def on_node(peers: list[Peer], node: Server) -> bool:
    return all(p.ws is not None and not p.ws.closed and f":{node.port}/" in str(p.ws._response.url) for p in peers)


async def test_a_node_killed_its_call_is_replaced_on_the_other_within_5_s(nodes: tuple[Server, Server], session: aiohttp.ClientSession) -> None:
    a, b = nodes
    token, peers = await call_on_a(session, a, b, 3)
    try:
        assert await wait_for(lambda: everyone_sees_everyone(peers), 20), "the call never started"
        workers_of_a = [w["pid"] for w in http("GET", a.url + "/healthz")[1]["workers"]]
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        back = await wait_for(lambda: all(p.rejoins >= 1 for p in peers) and on_node(peers, b) and everyone_sees_everyone(peers), 5, 0.02)
        assert back, f"not back on node B 5 s after node A died: rejoins {[p.rejoins for p in peers]}"
        assert all(not p.errors for p in peers), [p.errors for p in peers]
        # A's seats were reclaimed by B (3 people, not 6), and A's workers did not outlive it
        assert await wait_for(lambda: http("GET", f"{b.url}/api/links/{token}")[1]["participants"] == 3, 10)
        assert await wait_for(lambda: not any(_alive(pid) for pid in workers_of_a), 10)
        # the link and its revocation still work, through the node that is left
        b.revoke(token)
        assert await wait_for(lambda: all(p.ended == "link_revoked" for p in peers), 5)
    finally:
        await asyncio.gather(*(p.close() for p in peers))


async def test_sigterm_moves_a_nodes_call_to_the_other_without_an_error(nodes: tuple[Server, Server], session: aiohttp.ClientSession) -> None:
    a, b = nodes
    token, peers = await call_on_a(session, a, b, 2)
    try:
        assert await wait_for(lambda: everyone_sees_everyone(peers), 20), "the call never started"
        a.proc.send_signal(signal.SIGTERM)
        assert await wait_for(lambda: all(p.rejoins >= 1 for p in peers) and on_node(peers, b) and everyone_sees_everyone(peers), 10)
        assert {r for p in peers for r in p.rejoin_reasons} == {"node_draining"}
        assert all(not p.errors and p.ended is None for p in peers), [(p.errors, p.ended) for p in peers]
        try:
            assert a.proc.wait(15) == 0  # and node A stopped by itself
        except subprocess.TimeoutExpired:
            raise AssertionError("node A did not stop after SIGTERM") from None
        assert http("GET", f"{b.url}/api/links/{token}")[1]["participants"] == 2
    finally:
        await asyncio.gather(*(p.close() for p in peers))


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
