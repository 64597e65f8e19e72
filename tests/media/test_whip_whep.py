"""WHIP ingest and WHEP egress with aiortc peers over plain HTTP (docs/protocol.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for
from tests.media.whip_peers import SDP, HttpRefused, WhepViewer, WhipPublisher

MAX = 3  # seats per call on this module's server
VIEWERS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    secret = tmp_path_factory.mktemp("turn") / "secret"
    secret.write_text("not-a-real-turn-server\n")  # (no TURN server runs: the Link headers are what is checked)
    srv = Server(
        tmp_path_factory.mktemp("whip"), "--max-participants", str(MAX), "--max-viewers", str(VIEWERS),
        "--ice-server", "stun:127.0.0.1:3478", "--ice-server", "turn:127.0.0.1:3478?transport=udp", "--turn-secret-file", str(secret),
    )  # fmt: skip
    yield srv
    srv.stop()


async def link_info(http: aiohttp.ClientSession, server: Server, token: str) -> dict[str, object]:
    async with http.get(f"{server.url}/api/links/{token}") as resp:
        return dict(await resp.json())


async def test_whip_publisher_is_a_participant_others_see_and_hear(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    watcher = Peer(http, server.url, token, "watcher", 1, video=False, audio=False)
    encoder = WhipPublisher(4)
    try:
        await watcher.join()
        location = await encoder.publish(http, f"{server.url}/whip/{token}?name=Studio%20A")
        assert location.startswith(f"{server.url}/whip/{token}/")
        stun, turn = encoder.links.split(", <")  # RFC 9725 4.6: the ICE servers, TURN with credentials
        assert stun == '<stun:127.0.0.1:3478>; rel="ice-server"'
        assert turn.startswith('turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="') and 'credential-type="password"' in turn
        assert await wait_for(lambda: "Studio A" in watcher.roster.values(), 10), watcher.roster
        pid = next(p for p, n in watcher.roster.items() if n == "Studio A")
        assert await wait_for(lambda: sorted(k for p, k in watcher.tracks.values() if p == pid) == ["audio", "video"], 10)

        class Encoder:  # what Peer.sees/hears look for
            participant_id, index = pid, 4

        assert await wait_for(lambda: watcher.sees(Encoder) and watcher.hears(Encoder), 20)  # type: ignore[arg-type]
        assert (await link_info(http, server, token))["participants"] == 2
        async with http.patch(location, data="a=candidate:x", headers={"Content-Type": "application/trickle-ice-sdpfrag"}) as resp:
            assert resp.status == 405 and "DELETE" in resp.headers["Allow"]
        async with http.delete(location) as resp:
            assert resp.status == 200
        assert await wait_for(lambda: pid not in watcher.roster, 10)
        assert await wait_for(lambda: not watcher.tracks, 10)
        async with http.delete(location) as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        assert watcher.errors == []
    finally:
        await asyncio.gather(watcher.leave(), encoder.close(), return_exceptions=True)


async def test_whip_http_rules(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    url = f"{server.url}/whip/{token}"
    async with http.post(url, data="v=0\r\n", headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415
        assert (await resp.json())["error"]["code"] == "unsupported_media_type"
        assert resp.headers["Accept-Post"] == "application/sdp"
    async with http.post(url, data="hello", headers=SDP) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    async with http.post(url, data="v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", headers=SDP) as resp:
        body = await resp.json()
        assert resp.status == 400 and "no media" in body["error"]["message"], body
    assert (await link_info(http, server, token))["participants"] == 0
    async with http.post(f"{server.url}/whip/no-such-link-token-at-all-here", data="v=0", headers=SDP) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "link_not_found"
    async with http.options(url, headers={"Origin": "https://player.example", "Access-Control-Request-Method": "POST"}) as resp:
        assert resp.status == 204
        assert resp.headers["Accept-Post"] == "application/sdp"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "Location" in resp.headers["Access-Control-Expose-Headers"]


async def test_whip_takes_seats_and_revocation_ends_it(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server, "audio")
    watcher = Peer(http, server.url, token, "watcher", 1, video=False, audio=False)
    encoders = [WhipPublisher(i) for i in range(MAX)]
    try:
        await watcher.join()
        for e in encoders[:-1]:
            await e.publish(http, f"{server.url}/whip/{token}")
        with pytest.raises(HttpRefused) as full:
            await encoders[-1].publish(http, f"{server.url}/whip/{token}")
        assert full.value.status == 409 and full.value.body["error"]["code"] == "call_full"
        # an audio call: the video section is answered inactive, only audio is forwarded
        answer = encoders[0].pc.remoteDescription.sdp
        video = [s for s in answer.split("m=")[1:] if s.startswith("video")]
        assert len(video) == 1 and "a=inactive" in video[0]
        assert await wait_for(lambda: len(watcher.tracks) == MAX - 1, 15), watcher.tracks
        assert {k for _, k in watcher.tracks.values()} == {"audio"}
        assert await wait_for(lambda: encoders[0].pc.connectionState == "connected", 10)
        server.revoke(token)
        assert await wait_for(lambda: watcher.ended == "link_revoked", 10)
        async with http.delete(encoders[0].location) as resp:
            assert resp.status == 404  # the session ended with the call
        async with http.post(f"{server.url}/whip/{token}", data="v=0", headers=SDP) as resp:
            assert resp.status == 410 and (await resp.json())["error"]["code"] == "link_revoked"
    finally:
        await asyncio.gather(watcher.close(), *(e.close() for e in encoders), return_exceptions=True)


async def test_whep_viewer_follows_the_speaker_on_one_continuous_stream(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    first, second = Peer(http, server.url, token, "first", 2), Peer(http, server.url, token, "second", 5)
    viewers = [WhepViewer() for _ in range(VIEWERS + 1)]
    try:
        await first.join()
        await viewers[0].view(http, f"{server.url}/whep/{token}")
        assert await wait_for(lambda: viewers[0].sees(2) and viewers[0].hears(2), 20)
        await second.join()
        await viewers[1].view(http, f"{server.url}/whep/{token}")
        with pytest.raises(HttpRefused) as full:
            await viewers[2].view(http, f"{server.url}/whep/{token}")
        assert full.value.status == 409 and full.value.body["error"]["code"] == "call_full"
        info = await link_info(http, server, token)
        assert (info["participants"], info["viewers"]) == (2, VIEWERS)  # viewers take no seat
        assert all(not p.roster or set(p.roster.values()) <= {"first", "second"} for p in (first, second))
        await asyncio.sleep(1)
        assert viewers[0].sees(2) and viewers[0].hears(2)  # the speaker stays while they speak
        before = viewers[0].ssrcs()
        assert set(before) == {"audio", "video"}, before
        await first.leave()
        assert await wait_for(lambda: all(v.sees(5) and v.hears(5) for v in viewers[:2]), 20)
        assert viewers[0].ssrcs() == before  # the same stream per kind, now someone else's media
        async with http.delete(viewers[1].location) as resp:
            assert resp.status == 200
        assert (await link_info(http, server, token))["viewers"] == 1
    finally:
        await asyncio.gather(first.close(), second.leave(), *(v.close() for v in viewers), return_exceptions=True)


async def test_whep_viewer_switches_to_whoever_speaks_by_their_audio_levels(server: Server, http: aiohttp.ClientSession) -> None:
    """Publishers whose packets carry RFC 6464 levels: the call's own speaker
    detector decides, and the viewer's one stream per kind follows it."""
    token = await new_link(http, server)
    a, b = (Peer(http, server.url, token, name, i, audio_level=15) for name, i in (("a", 1), ("b", 6)))
    viewer = WhepViewer()
    try:
        await a.join()
        await b.join()
        a.speak()
        await viewer.view(http, f"{server.url}/whep/{token}")
        assert await wait_for(lambda: viewer.sees(1) and viewer.hears(1), 20)
        before = viewer.ssrcs()
        a.speak(False)
        b.speak()
        assert await wait_for(lambda: viewer.sees(6) and viewer.hears(6), 20)
        a.speak()
        b.speak(False)
        assert await wait_for(lambda: viewer.sees(1) and viewer.hears(1), 20)
        assert viewer.ssrcs() == before and set(before) == {"audio", "video"}
    finally:
        await asyncio.gather(a.leave(), b.leave(), viewer.close(), return_exceptions=True)


async def test_whep_viewer_of_an_empty_call_is_ended_by_revocation(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    viewer = WhepViewer()
    try:
        await viewer.view(http, f"{server.url}/whep/{token}")  # before anyone publishes
        assert await wait_for(lambda: viewer.pc.connectionState == "connected", 10)
        assert (await link_info(http, server, token))["viewers"] == 1
        server.revoke(token)
        async with http.delete(viewer.location) as resp:
            assert resp.status == 404  # ended with the call
        async with http.post(f"{server.url}/whep/{token}", data="v=0", headers=SDP) as resp:
            assert resp.status == 410 and (await resp.json())["error"]["code"] == "link_revoked"
    finally:
        await viewer.close()
