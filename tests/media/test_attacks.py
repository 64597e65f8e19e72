"""Attacks on signaling (issue 9): two honest aiortc participants keep
receiving each other while one participant misbehaves, and it is the
attacker who gets the error or is dropped."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from pathlib import Path

import aiohttp
from aiortc import RTCSessionDescription
from aiortc import sdp as sdp_module

from control.api import LINKS
from control.app import SFU
from sfu.session import OUTBOX_LIMIT
from tests.helpers import running_server

from tests.media.attacker import (
    MediaWatch, RawClient, healthz_seconds, publish_message, publish_offer, raw_join, rss_kib, seats_held,
)  # fmt: skip
from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, new_pc, wait_for


async def honest_pair(http: aiohttp.ClientSession, server: Server, token: str) -> tuple[Peer, Peer]:
    a, b = Peer(http, server.url, token, "a", 0), Peer(http, server.url, token, "b", 1)
    await a.join()
    await b.join()
    assert await wait_for(lambda: a.sees(b) and b.sees(a) and a.hears(b) and b.hears(a), 15)
    return a, b


async def connected(http: aiohttp.ClientSession, server: Server, token: str) -> int:
    async with http.get(f"{server.url}/api/links/{token}") as resp:
        return int((await resp.json())["participants"])


async def test_a_client_that_does_not_read_does_not_block_revocation(tmp_path: Path) -> None:
    """In process, so that the server's send buffer towards the stuck client
    can be made small: its TCP window and that buffer are full within a few
    answers (on loopback the kernel would otherwise absorb megabytes)."""
    readers: list[asyncio.Task[None]] = []
    async with running_server(tmp_path) as (client, config):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        honest = []
        heard: list[list[dict[str, object]]] = []
        for name in ("a", "b"):
            grant = await (await client.post(f"/api/links/{token}/join", json={"name": name})).json()
            ws = await client.session.ws_connect(grant["ws_url"])
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"
            honest.append(ws)
            heard.append([])
            readers.append(asyncio.get_running_loop().create_task(keep_reading(ws, heard[-1])))
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "stuck"})).json()
        attacker = await asyncio.get_running_loop().run_in_executor(None, RawClient, grant["ws_url"])
        node = client.app[SFU]
        call = next(iter(node.calls.values()))
        assert await wait_for(lambda: grant["participant_id"] in call.sessions, 5)
        stuck = call.sessions[grant["participant_id"]]
        transport = stuck.ws._req.transport  # type: ignore[union-attr]
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        offer = publish_message(await publish_offer())
        for _ in range(30):  # answers it never reads, within its message budget
            assert attacker.send(offer)
            await asyncio.sleep(0.05)
        assert await wait_for(lambda: transport.get_write_buffer_size() > 0, 5), "the stuck client's buffers never filled"
        try:
            started = time.monotonic()
            resp = await client.delete(f"/api/links/{token}", timeout=aiohttp.ClientTimeout(total=15))
            assert resp.status == 204
            revoked_in = time.monotonic() - started
            ended = {"type": "ended", "reason": "link_revoked"}
            assert await wait_for(lambda: all(ended in h for h in heard), 5), heard
            assert await wait_for(lambda: all(ws.closed for ws in honest), 5)
            ended_in = time.monotonic() - started
            assert await wait_for(lambda: not node.calls, 5)  # every session closed, the stuck one too
            store = client.app[LINKS].store
            assert await store.count_connected(call.call_id) == 0
            print(f"revocation with a stuck client: DELETE {revoked_in:.2f} s, the others ended after {ended_in:.2f} s")
            # the node still ends later calls
            token2 = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
            grant2 = await (await client.post(f"/api/links/{token2}/join", json={"name": "c"})).json()
            ws2 = await client.session.ws_connect(grant2["ws_url"])
            assert (await ws2.receive_json(timeout=5))["type"] == "welcome"
            assert (await client.delete(f"/api/links/{token2}")).status == 204
            assert (await ws2.receive_json(timeout=5)) == {"type": "ended", "reason": "link_revoked"}
            await ws2.close()
        finally:
            attacker.close()
            for task in readers:
                task.cancel()
            for ws in honest:
                await ws.close()


async def keep_reading(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, object]]) -> None:
    async for msg in ws:  # answers the server's pings, as every client does
        if msg.type == aiohttp.WSMsgType.TEXT:
            into.append(json.loads(msg.data))


async def test_a_junk_flood_drops_the_flooder_and_nobody_else_stalls(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    a, b = await honest_pair(http, server, token)
    attacker_id, attacker = await raw_join(http, server, token, "flood")
    try:
        before = rss_kib(server.sfu_pid)
        junk = b"x" * 4000
        health: list[float] = []
        with MediaWatch([a, b]) as watch:
            deadline = time.monotonic() + 6
            sent = 0
            cut_off = False
            while time.monotonic() < deadline:
                if not attacker.send(junk, 0x1 if sent % 2 else 0x2):
                    cut_off = True  # the server reset the connection under its feet
                    break
                sent += 1
                if sent % 100 == 0:
                    health.append(await healthz_seconds(http, server))
                await asyncio.sleep(0)
            assert cut_off, f"the flooder was never dropped ({sent} junk frames taken)"
            health.append(await healthz_seconds(http, server))
            await asyncio.sleep(1)
        growth = rss_kib(server.sfu_pid) - before
        print(
            f"junk flood: {sent} frames sent, longest media gap {watch.longest:.2f} s ({watch.worst}),"
            f" slowest /healthz {max(health):.3f} s, server RSS +{growth} KiB"
        )
        assert await wait_for(lambda: attacker_id not in a.roster and attacker_id not in b.roster, 5)
        assert watch.longest < 1.0, f"{watch.worst} stalled {watch.longest:.2f} s"
        assert max(health) < 1.0
        assert growth < 30 * 1024, f"the server grew by {growth} KiB"
        assert a.sees(b) and b.sees(a) and not a.ws.closed and not b.ws.closed  # type: ignore[union-attr]
    finally:
        attacker.close()
        await asyncio.gather(a.leave(), b.leave(), return_exceptions=True)


async def test_junk_within_the_budget_does_not_keep_a_silent_client_alive(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    a, b = await honest_pair(http, server, token)
    attacker_id, attacker = await raw_join(http, server, token, "trickle")
    try:
        started = time.monotonic()
        # a few junk frames a second (under the rate budget), unsolicited pongs,
        # never a pong to the server's pings
        while not attacker.dropped() and time.monotonic() - started < 12:
            attacker.send(b"junk")
            attacker.send(b"made-up", 0xA)
            await asyncio.sleep(0.25)
        assert attacker.dropped(), "a client sending junk was kept alive"
        assert await wait_for(lambda: attacker_id not in a.roster, 5)
        assert a.sees(b) and b.sees(a)
    finally:
        attacker.close()
        await asyncio.gather(a.leave(), b.leave(), return_exceptions=True)


def flood_candidates(sdp: str, n: int) -> str:
    """``n`` made-up host candidates after the first real one."""
    lines = "".join(f"a=candidate:f{i} 1 udp 2130706431 127.0.{i // 250}.{i % 250 + 1} {10000 + i} typ host\r\n" for i in range(n))
    at = sdp.index("a=candidate:")
    return sdp[:at] + lines + sdp[at:]


async def test_ice_candidate_floods_get_an_error_and_nobody_stalls(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    a, b = await honest_pair(http, server, token)
    async with http.post(f"{server.url}/api/links/{token}/join", json={"name": "flood"}) as resp:
        grant = await resp.json()
    ws = await http.ws_connect(grant["ws_url"])
    heard: list[dict[str, object]] = []
    reader = asyncio.get_running_loop().create_task(keep_reading(ws, heard))
    answering = new_pc()
    try:
        assert await wait_for(lambda: any(m["type"] == "subscribe" for m in heard), 10)
        offer = next(str(m["sdp"]) for m in heard if m["type"] == "subscribe")
        await answering.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await answering.setLocalDescription(await answering.createAnswer())
        answer = flood_candidates(answering.localDescription.sdp, 3000)
        publish = flood_candidates(await publish_offer(), 3000)
        with MediaWatch([a, b]) as watch:
            started = time.monotonic()
            await ws.send_json({"type": "subscribe_answer", "sdp": answer})
            assert await wait_for(lambda: len([m for m in heard if m["type"] == "error"]) >= 1, 5), heard
            await ws.send_json({"type": "publish", "sdp": publish})
            assert await wait_for(lambda: len([m for m in heard if m["type"] == "error"]) >= 2, 5), heard
            answered_in = time.monotonic() - started
            health = await healthz_seconds(http, server)
            await asyncio.sleep(1.5)
        errors = [m for m in heard if m["type"] == "error"]
        print(
            f"candidate floods: both refused after {answered_in:.2f} s, longest media gap {watch.longest:.2f} s"
            f" ({watch.worst}), /healthz {health:.3f} s"
        )
        assert [e["code"] for e in errors] == ["bad_sdp", "bad_sdp"], errors
        assert all("ICE candidates" in str(e["message"]) for e in errors), errors
        assert watch.longest < 1.0, f"{watch.worst} stalled {watch.longest:.2f} s"
        assert health < 1.0
        assert not ws.closed and a.sees(b) and b.sees(a)
    finally:
        reader.cancel()
        await answering.close()
        await ws.close()
        await asyncio.gather(a.leave(), b.leave(), return_exceptions=True)


def rtp_with_mid(ssrc: int, seq: int, mid: str, ext_id: int, payload_type: int) -> bytes:
    """An RTP packet carrying the mid header extension (RFC 8843), one-byte form."""
    element = bytes([(ext_id << 4) | (len(mid) - 1)]) + mid.encode()
    element += b"\x00" * (-len(element) % 4)
    header = bytes([0x90, payload_type]) + struct.pack("!HII", seq & 0xFFFF, seq * 960, ssrc)
    return header + b"\xbe\xde" + struct.pack("!H", len(element) // 4) + element + b"\xfc\xff\xfe"


async def test_an_ssrc_churn_is_capped_and_nobody_stalls(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    a, b = await honest_pair(http, server, token)
    vandal = Peer(http, server.url, token, "churn", 2, video=False)
    try:
        await vandal.join()
        assert await wait_for(lambda: a.hears(vandal), 10)
        assert vandal.publish_pc is not None
        sender = vandal.publish_pc.getTransceivers()[0].sender
        section = sdp_module.SessionDescription.parse(vandal.publish_pc.remoteDescription.sdp).media[0]
        ext_id = next(e.id for e in section.rtp.headerExtensions if e.uri.endswith("sdes:mid"))
        pt = section.rtp.codecs[0].payloadType
        mid = str(vandal.publish_pc.getTransceivers()[0].mid)
        before = rss_kib(server.sfu_pid)
        with MediaWatch([a, b]) as watch:
            for i in range(20000):  # a fresh SSRC on every packet, all claiming the audio section
                try:
                    await sender.transport._send_rtp(rtp_with_mid(0x10000 + i, i, mid, ext_id, pt))
                except Exception:
                    pass
                if i % 100 == 0:
                    await asyncio.sleep(0.02)  # this process decodes the honest peers too
            await asyncio.sleep(1)
        growth = rss_kib(server.sfu_pid) - before
        print(f"SSRC churn: 20000 new SSRCs, server RSS +{growth} KiB, longest media gap {watch.longest:.2f} s ({watch.worst})")
        assert growth < 4 * 1024, f"the server kept {growth} KiB for 20000 SSRCs"
        assert watch.longest < 1.0, f"{watch.worst} stalled {watch.longest:.2f} s"
        assert a.sees(b) and b.sees(a) and a.hears(vandal)  # and the vandal's own real stream goes on
    finally:
        await asyncio.gather(a.leave(), b.leave(), vandal.leave(), return_exceptions=True)


async def test_a_client_that_lets_messages_pile_up_is_dropped(tmp_path: Path) -> None:
    """What the server queues towards a client that does not read is bounded:
    past OUTBOX_LIMIT bytes the client is dropped and leaves the call."""
    readers: list[asyncio.Task[None]] = []
    async with running_server(tmp_path) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "honest"})).json()
        ws = await client.session.ws_connect(grant["ws_url"])
        heard: list[dict[str, object]] = []
        readers.append(asyncio.get_running_loop().create_task(keep_reading(ws, heard)))
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "stuck"})).json()
        attacker = await asyncio.get_running_loop().run_in_executor(None, RawClient, grant["ws_url"])
        try:
            call = next(iter(client.app[SFU].calls.values()))
            assert await wait_for(lambda: grant["participant_id"] in call.sessions, 5)
            stuck = call.sessions[grant["participant_id"]]
            stuck.ws._req.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # type: ignore[union-attr]
            offer = publish_message(await publish_offer())
            roster = [{"mid": str(i), "participant_id": "p_" + "0" * 16, "kind": "video"} for i in range(200)]
            started = time.monotonic()
            # valid messages (within budget) keep it alive; it never reads
            while grant["participant_id"] in call.sessions and time.monotonic() - started < 10:
                attacker.send(offer)
                for _ in range(10):  # ~100 kB of snapshots a round, as a busy call would send
                    stuck.send({"type": "tracks", "tracks": roster})
                await asyncio.sleep(0.5)
            assert grant["participant_id"] not in call.sessions, "a client letting megabytes pile up was kept"
            assert await wait_for(lambda: {"type": "participant_left", "participant_id": grant["participant_id"]} in heard, 5)
            assert stuck._queued <= OUTBOX_LIMIT
            assert not ws.closed
        finally:
            attacker.close()
            for task in readers:
                task.cancel()
            await ws.close()


async def test_shutdown_does_not_wait_on_a_client_that_does_not_read(tmp_path: Path) -> None:
    serving = running_server(tmp_path)
    client, _ = await serving.__aenter__()
    try:
        token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "stuck"})).json()
        attacker = await asyncio.get_running_loop().run_in_executor(None, RawClient, grant["ws_url"])
        call = next(iter(client.app[SFU].calls.values()))
        assert await wait_for(lambda: grant["participant_id"] in call.sessions, 5)
        stuck = call.sessions[grant["participant_id"]]
        transport = stuck.ws._req.transport  # type: ignore[union-attr]
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        offer = publish_message(await publish_offer())
        for _ in range(30):
            attacker.send(offer)
            await asyncio.sleep(0.05)
        assert await wait_for(lambda: transport.get_write_buffer_size() > 0, 5)
    except BaseException:
        await serving.__aexit__(None, None, None)
        raise
    started = time.monotonic()
    await asyncio.wait_for(serving.__aexit__(None, None, None), 20)  # the app's cleanup ends every call
    print(f"shutdown with a stuck client: {time.monotonic() - started:.2f} s")
    attacker.close()


async def test_a_call_everyone_dropped_out_of_is_forgotten(tmp_path: Path) -> None:
    """Clients whose connections drop during their session's close (aiohttp
    then cancels the handler, as its test server does by default) leave no
    empty call behind, with its timer, on the node: neither after a
    revocation nor when they just vanish."""
    async with running_server(tmp_path) as (client, config):
        node = client.app[SFU]
        for revoke in (True, False):
            token = (await (await client.post("/api/links", json={"type": "video"})).json())["token"]
            raw = []
            for name in ("a", "b"):
                grant = await (await client.post(f"/api/links/{token}/join", json={"name": name})).json()
                raw.append(await asyncio.get_running_loop().run_in_executor(None, RawClient, grant["ws_url"]))
            assert await wait_for(lambda: sum(len(c.sessions) for c in node.calls.values()) == 2, 5)
            call_id = next(iter(node.calls))
            if revoke:
                assert (await client.delete(f"/api/links/{token}")).status == 204
            for r in raw:
                r.close()
            assert await wait_for(lambda: not node.calls, 5), {k: len(c.sessions) for k, c in node.calls.items()}
            assert await client.app[LINKS].store.count_connected(call_id) == 0  # the seats are free
