"""An end-to-end encrypted call between Firefox ESR (RTCRtpScriptTransform in
its worker) and an aiortc participant that encrypts with the tests' own
implementation of the documented frame format: each decodes the other."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.e2ee_frames import new_key, safety_code
from tests.firefox.browser import INBOUND_VIDEO_JS, TILE_COLOUR_JS, Firefox, wait_until
from tests.media.e2ee_peer import e2ee_peer, opening_decoders
from tests.media.peer import COLOURS, nearest_colour, wait_for
from tests.server import Server, http as http_call

MAX_COLOUR_DISTANCE = 60.0


E2EE_JS = "() => { const e = window.callsfu && window.callsfu.e2ee; return e ? {api: e.api, code: e.safetyCode, totals: e.totals} : null; }"


async def test_firefox_and_an_encrypting_aiortc_peer_decode_each_other(server: Server, firefox: Firefox) -> None:
    status, link = http_call("POST", server.url + "/api/links", {"type": "video", "e2ee": True})
    assert status == 201
    key = new_key()
    async with aiohttp.ClientSession() as http:
        with opening_decoders(key) as opened:
            peer = e2ee_peer(http, server.url, link["token"], "aiortc", 0, key)
            try:
                await peer.join()
                page = await firefox.open(f"{link['url']}?name=Fox&autojoin=1#key={key}")
                state = await wait_until(lambda: firefox.eval(page, E2EE_JS), 20, what="the E2EE call page in Firefox")
                assert state["api"] == "script-transform" and state["code"] == safety_code(key), state
                try:
                    await wait_until(
                        lambda: _decoding(firefox, page), 30, what="Firefox decoding the peer's encrypted video"
                    )
                    colour = await wait_until(
                        lambda: firefox.eval(page, TILE_COLOUR_JS, peer.participant_id), 15, what="the peer's tile"
                    )
                except AssertionError:
                    print(await firefox.eval(page, E2EE_JS), await firefox.logs(page))
                    raise
                assert nearest_colour(tuple(colour)) == 0, colour
                assert sum((a - b) ** 2 for a, b in zip(colour, COLOURS[0])) ** 0.5 < MAX_COLOUR_DISTANCE, colour
                # Firefox's frames open with the key in aiortc and decode, none fails
                fox = await wait_until(lambda: _other(peer), 10, what="the peer seeing Firefox")
                assert await wait_for(lambda: any(
                    peer.received.get(m) and peer.received[m].frames > 5 for m in peer.mids_of(fox, "video")
                ), 20), (opened, peer.received)
                # the worker reports its counts to the page every half second
                totals = await wait_until(
                    lambda: _counted(firefox, page), 10, what="the page's E2EE counts (encrypted and decrypted frames)"
                )
                assert totals["failed"] == 0, totals
                assert opened.opened > 0 and opened.failed == 0, opened
                await firefox.close_page(page)
            finally:
                await peer.leave()


async def _counted(firefox: Firefox, page: int) -> dict[str, int] | None:
    totals: dict[str, int] = (await firefox.eval(page, E2EE_JS))["totals"]
    return totals if totals["encrypted"] > 0 and totals["decrypted"] > 0 else None


async def _decoding(firefox: Firefox, page: int) -> bool:
    return any(s["framesDecoded"] > 0 for s in await firefox.eval(page, INBOUND_VIDEO_JS))


async def _other(peer: Any) -> str | None:
    others = [pid for pid in peer.roster if pid != peer.participant_id]
    return others[0] if others else None
