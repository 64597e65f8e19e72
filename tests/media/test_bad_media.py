"""Malformed RTP and RTCP from a participant: dropped, and nobody else is harmed."""

from __future__ import annotations

import asyncio
import random
import struct

import aiohttp

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for


async def test_garbage_rtp_and_rtcp_are_dropped_and_the_call_goes_on(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    vandal = Peer(http, server.url, token, "vandal", 0)
    others = [Peer(http, server.url, token, f"p{i}", i) for i in (1, 2)]
    try:
        for p in [vandal, *others]:
            await p.join()
        everyone = [vandal, *others]
        assert await wait_for(lambda: all(a.sees(b) for a in everyone for b in everyone if a is not b), 15)
        assert vandal.publish_pc is not None and vandal.subscribe_pc is not None
        rng = random.Random(3)
        publish = vandal.publish_pc.getTransceivers()[0].sender.transport
        subscribe = vandal.subscribe_pc.getTransceivers()[0].receiver.transport
        # Garbage goes out on SSRCs of its own: protecting it on the vandal's
        # real SSRCs would move its own SRTP replay state past its real sender,
        # whose next packets libsrtp then refuses ("index too old") in the test
        # process itself (and the server's replay window the same way).
        ssrcs = [rng.randrange(1 << 32) for _ in range(4)]
        for i in range(3000):
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
            rtp = bytes([0x80 | rng.randrange(0, 64), rng.choice([96, 97, 111, 127, 35])])
            rtp += struct.pack("!HII", i, i * 90, rng.choice(ssrcs + [rng.randrange(1 << 32)])) + body
            # an RTCP-looking packet: version 2, feedback types, bogus lengths and contents
            rtcp = bytes([0x80 | rng.randrange(32), rng.choice([200, 201, 202, 203, 205, 206])]) + body
            for transport, data in ((publish, rtp), (publish, rtcp), (subscribe, rtcp)):
                try:
                    await transport._send_rtp(data)  # SRTP-protected like real traffic
                except Exception:
                    pass  # libsrtp refuses some of it on our side already
            if i % 50 == 0:
                await asyncio.sleep(0.005)  # let this process's other peers run too
            if i % 1000 == 999:
                # the others' media to each other goes on while it lasts
                assert await wait_for(lambda: all(a.sees(b) and a.hears(b) for a in others for b in others if a is not b), 3)
        # the server is alive and nobody was disconnected
        assert server.proc.poll() is None
        for p in everyone:
            assert p.ws is not None and not p.ws.closed
        # the vandal's own stream may have shown its garbage (a forwarder cannot
        # tell a corrupt VP8 payload from a real one); it heals with a keyframe
        assert await wait_for(lambda: all(a.sees(b) and a.hears(b) for a in others for b in everyone if a is not b), 15)
        async with http.get(f"{server.url}/api/links/{token}") as resp:
            assert (await resp.json())["participants"] == 3
    finally:
        await asyncio.gather(*(p.leave() for p in [vandal, *others]), return_exceptions=True)
    assert "Traceback" not in server.log(), server.log()[-3000:]
