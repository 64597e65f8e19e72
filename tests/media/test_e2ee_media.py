"""The SFU's media path on an end-to-end encrypted call, with aiortc
participants that encrypt as docs/protocol.md says (tests/media/e2ee_peer.py):
loss is repaired with the SFU's RTX, a late joiner's cache replay starts on a
key frame it recognises in the clear VP8 header, and every frame still opens
with the key and decodes to the publisher's colour."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.e2ee_frames import new_key
from tests.media.conftest import Server
from tests.media.e2ee_peer import e2ee_peer, opening_decoders
from tests.media.peer import wait_for


async def test_loss_repair_and_cache_replay_on_encrypted_frames(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{server.url}/api/links", json={"type": "video", "e2ee": True}) as resp:
        token = (await resp.json())["token"]
    key = new_key()
    with opening_decoders(key) as opened:
        publisher = e2ee_peer(http, server.url, token, "publisher", 0, key)
        lossy = e2ee_peer(http, server.url, token, "lossy network", 1, key, video=False, audio=False, drop_every=5)
        late = e2ee_peer(http, server.url, token, "late", 2, key, video=False, audio=False)
        try:
            await publisher.join()
            await lossy.join()
            assert await wait_for(lambda: lossy.sees(publisher) and lossy.hears(publisher), 15), (opened, lossy.received)
            await asyncio.sleep(3)
            assert lossy.dropped >= 5, lossy.dropped
            assert lossy.rtx_received >= lossy.dropped * 0.8, (lossy.rtx_received, lossy.dropped)
            await late.join()  # the SFU replays its cache since the last key frame, then live packets
            assert await wait_for(lambda: late.sees(publisher), 10), (opened, late.received)
            assert lossy.sees(publisher)  # still decoding, in the right colour
            assert opened.opened > 50 and opened.failed == 0, opened
        finally:
            await asyncio.gather(publisher.leave(), lossy.leave(), late.leave(), return_exceptions=True)
