"""``callsfu serve --workers 2``: two SFU processes behind one HTTP port.

Real processes throughout: the server, its workers, aiortc peers. One server
for the module; each test makes its own links.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest

from tests.media.peer import Peer, wait_for
from tests.server import Server, http

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def free_udp_pair() -> int:
    """A UDP port P with P+1 free too."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free UDP ports")


@pytest.fixture(scope="module")
def udp_base() -> int:
    return free_udp_pair()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, udp_base: int) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("workers"), "--workers", "2", "--udp-port", str(udp_base))
    yield srv
    srv.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def workers(server: Server) -> list[dict[str, Any]]:
    status, body = http("GET", server.url + "/healthz")
    assert status == 200, body
    return list(body["workers"])


def all_ready(server: Server) -> bool:
    return all(w["ready"] for w in workers(server)) and len(workers(server)) == 2


async def raw_join(session: aiohttp.ClientSession, server: Server, token: str, name: str) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{server.url}/api/links/{token}/join", json={"name": name}) as resp:
        return resp.status, await resp.json()


def test_healthz_lists_each_worker_on_its_own_udp_port(server: Server, udp_base: int) -> None:
    listed = workers(server)
    assert [w["id"] for w in listed] == [0, 1]
    assert [w["udp_port"] for w in listed] == [udp_base, udp_base + 1]
    for w in listed:
        assert w["ready"] is True and w["pid"] != server.proc.pid
        os.kill(w["pid"], 0)  # a live process of its own
        assert set(w) >= {"id", "pid", "ready", "calls", "participants"}


async def test_100_racing_joins_give_exactly_32_seats_all_on_one_worker(server: Server, session: aiohttp.ClientSession) -> None:
    token = server.create_link("audio")["token"]
    results = await asyncio.gather(*(raw_join(session, server, token, f"p{i}") for i in range(100)))
    granted = [body for status, body in results if status == 200]
    refused = [body for status, body in results if status != 200]
    assert len(granted) == 32
    assert {b["error"]["code"] for b in refused} == {"call_full"}
    sockets = await asyncio.gather(*(session.ws_connect(g["ws_url"]) for g in granted))
    try:
        welcomes = [json.loads((await ws.receive(timeout=10)).data) for ws in sockets]
        assert {w["type"] for w in welcomes} == {"welcome"}
        # all 32 in one call on one worker, which says so in its load report
        assert await wait_for(lambda: sorted(w["participants"] for w in workers(server)) == [0, 32], 5), workers(server)
        status, link = http("GET", f"{server.url}/api/links/{token}")
        assert link["participants"] == 32
        # the 33rd is still refused
        status, body = await raw_join(session, server, token, "late")
        assert status == 409 and body["error"]["code"] == "call_full"
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    assert await wait_for(lambda: http("GET", f"{server.url}/api/links/{token}")[1]["participants"] == 0, 10)


async def test_a_new_call_goes_to_the_least_loaded_worker(server: Server, session: aiohttp.ClientSession) -> None:
    assert await wait_for(lambda: sum(w["participants"] for w in workers(server)) == 0, 10)
    busy = server.create_link("audio")["token"]
    sockets = []
    try:
        for i in range(3):
            status, grant = await raw_join(session, server, busy, f"b{i}")
            assert status == 200
            sockets.append(await session.ws_connect(grant["ws_url"]))
            assert json.loads((await sockets[-1].receive(timeout=10)).data)["type"] == "welcome"
        assert await wait_for(lambda: sorted(w["participants"] for w in workers(server)) == [0, 3], 5)
        loaded = next(w["id"] for w in workers(server) if w["participants"] == 3)
        other = server.create_link("audio")["token"]
        status, grant = await raw_join(session, server, other, "o")
        sockets.append(await session.ws_connect(grant["ws_url"]))
        assert json.loads((await sockets[-1].receive(timeout=10)).data)["type"] == "welcome"
        assert await wait_for(lambda: {w["id"]: w["participants"] for w in workers(server)} == {loaded: 3, 1 - loaded: 1}, 5)
        # a later join of the busy call still goes to the worker hosting it
        status, grant = await raw_join(session, server, busy, "b3")
        sockets.append(await session.ws_connect(grant["ws_url"]))
        welcome = json.loads((await sockets[-1].receive(timeout=10)).data)
        assert len(welcome["participants"]) == 3
        assert await wait_for(lambda: {w["id"]: w["participants"] for w in workers(server)} == {loaded: 4, 1 - loaded: 1}, 5)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


async def _peers_in_call(session: aiohttp.ClientSession, server: Server, token: str, n: int) -> list[Peer]:
    peers = [Peer(session, server.url, token, f"peer{i}", i, auto_rejoin=True) for i in range(n)]
    for peer in peers:
        await peer.join()
    return peers


def everyone_sees_everyone(peers: list[Peer]) -> bool:
    return all(a.sees(b) for a in peers for b in peers if a is not b)


async def hosting_worker(server: Server, participants: int) -> dict[str, Any]:
    """The one worker whose load report counts the call's ``participants``."""
    assert await wait_for(lambda: any(w["participants"] == participants for w in workers(server)), 5), workers(server)
    return next(w for w in workers(server) if w["participants"] == participants)


async def test_kill_9_of_a_worker_everyone_is_back_within_5_s(server: Server, session: aiohttp.ClientSession) -> None:
    assert await wait_for(lambda: all_ready(server) and sum(w["participants"] for w in workers(server)) == 0, 20)
    link = server.create_link("video")
    peers = await _peers_in_call(session, server, link["token"], 3)
    try:
        assert await wait_for(lambda: everyone_sees_everyone(peers), 20), "the call never started"
        victim = await hosting_worker(server, 3)
        os.kill(victim["pid"], signal.SIGKILL)
        back = await wait_for(lambda: all(p.rejoins == 1 for p in peers) and everyone_sees_everyone(peers), 5, 0.02)
        assert back, f"not everyone sees everyone 5 s after the kill: rejoins {[p.rejoins for p in peers]}"
        assert {r for p in peers for r in p.rejoin_reasons} == {"worker_lost"}
        assert all(not p.errors for p in peers), [p.errors for p in peers]
        # the dead worker's seats were freed (3 people, not 6) and it was replaced
        assert http("GET", f"{server.url}/api/links/{link['token']}")[1]["participants"] == 3
        assert await wait_for(lambda: all_ready(server), 45)  # (its replacement starts up meanwhile)
        replaced = workers(server)[victim["id"]]
        assert replaced["pid"] != victim["pid"] and replaced["udp_port"] == victim["udp_port"]
        # the link still works, and revoking it still ends the call for all
        server.revoke(link["token"])
        assert await wait_for(lambda: all(p.ended == "link_revoked" for p in peers), 5)
        status, body = await raw_join(session, server, link["token"], "after")
        assert status == 410 and body["error"]["code"] == "link_revoked"
    finally:
        await asyncio.gather(*(p.close() for p in peers))


async def test_drain_moves_a_call_to_the_other_worker_without_an_error(server: Server, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    assert await wait_for(lambda: all_ready(server) and sum(w["participants"] for w in workers(server)) == 0, 20)
    link = server.create_link("video")
    peers = await _peers_in_call(session, server, link["token"], 2)
    try:
        assert await wait_for(lambda: everyone_sees_everyone(peers), 20), "the call never started"
        before = await hosting_worker(server, 2)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "control.cli", "drain", "--worker", str(before["id"]), "--server", server.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        assert await wait_for(lambda: all(p.rejoins == 1 for p in peers) and everyone_sees_everyone(peers), 10)
        assert {r for p in peers for r in p.rejoin_reasons} == {"worker_draining"}
        assert all(not p.errors for p in peers), [p.errors for p in peers]
        assert await wait_for(lambda: {w["id"] for w in workers(server) if w["participants"]} == {1 - before["id"]}, 5)
        # the drained worker is replaced by a fresh one, ready for new calls
        # (a fresh process imports aiortc: as slow as any start-up on a busy machine, see tests/server.py)
        assert await wait_for(lambda: all_ready(server) and workers(server)[before["id"]]["pid"] != before["pid"], 45)
    finally:
        await asyncio.gather(*(p.close() for p in peers))
