"""Errors a participant gets are our sentences, never a library's exception text."""

from __future__ import annotations

import aiohttp

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for


async def test_an_offer_aiortc_refuses_gets_our_sentence_not_aiortcs(server: Server, http: aiohttp.ClientSession) -> None:
    token = await new_link(http, server)
    a = Peer(http, server.url, token, "a", 0)
    try:
        await a.join()
        assert a.publish_pc is not None and a.ws is not None
        # a re-offer of the same sections whose audio offers only a codec nobody forwards:
        # it passes the SDP check, then aiortc raises OperationError("Failed to set remote ...")
        sdp = a.publish_pc.localDescription.sdp.replace("opus/48000/2", "G729/8000")
        await a.send({"type": "publish", "sdp": sdp})
        assert await wait_for(lambda: any(e["code"] == "bad_sdp" for e in a.errors), 5), a.errors
        (err,) = [e for e in a.errors if e["code"] == "bad_sdp"]
        assert err["message"].startswith("The publish offer was refused: the server could not apply it")
        assert "Opus" in err["message"] and "Failed to set" not in err["message"]
        assert "OperationError" not in err["message"] and not a.ws.closed
    finally:
        await a.leave()
