"""Losses repaired by RTX from the SFU's packet cache; sender reports with true counters."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for


async def test_lost_video_packets_are_retransmitted_and_video_keeps_flowing(
    server: Server, http: aiohttp.ClientSession
) -> None:
    token = await new_link(http, server)
    publisher = Peer(http, server.url, token, "publisher", 0)
    lossy = Peer(http, server.url, token, "lossy network", 1, video=False, audio=False, drop_every=5)
    try:
        await publisher.join()
        await lossy.join()
        assert await wait_for(lambda: lossy.sees(publisher), 15)
        await asyncio.sleep(5)  # ~15 packets/s of video: one in five lost
        assert lossy.dropped >= 10, lossy.dropped
        # aiortc NACKs what it lost; the SFU answers from its cache with RTX
        assert lossy.rtx_received >= lossy.dropped * 0.8, (lossy.rtx_received, lossy.dropped)
        assert lossy.sees(publisher)  # still decoding, in the right colour
    finally:
        await asyncio.gather(publisher.leave(), lossy.leave(), return_exceptions=True)


async def test_sender_reports_carry_what_was_forwarded(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    a, b = Peer(http, server.url, token, "a", 0), Peer(http, server.url, token, "b", 1, video=False, audio=False)
    try:
        await a.join()
        await b.join()
        assert await wait_for(lambda: b.sees(a) and b.hears(a), 15)
        await asyncio.sleep(2.5)  # sender reports go out every 0.5-1.5 s
        assert b.subscribe_pc is not None
        for t in b.subscribe_pc.getTransceivers():
            stats = list((await t.receiver.getStats()).values())
            sent = [s.packetsSent for s in stats if s.type == "remote-outbound-rtp"]
            received = [s.packetsReceived for s in stats if s.type == "inbound-rtp"]
            assert sent and received, (t.kind, stats)
            # the SR was sent a little before these stats were read
            assert 0.5 * received[0] <= sent[0] <= received[0] + 5, (t.kind, sent, received)
    finally:
        await asyncio.gather(a.leave(), b.leave(), return_exceptions=True)
