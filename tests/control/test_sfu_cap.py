"""The SFU caps a call at max_participants by itself, whatever the store's
seat count says (a count that drifted, a seat freed too early)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import aiohttp
import pytest

from control.api import LINKS
from control.app import SFU
from control.tokens import token_hash
from tests.helpers import running_server
from tests.media.peer import wait_for


async def test_the_sfu_refuses_a_participant_beyond_max_participants(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_participants=2) as (client, _):
        token = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
        store = client.app[LINKS].store
        now = time.time()
        tickets = []
        for i in range(3):  # a store that lost count: three seats for a call of two
            ticket = secrets.token_urlsafe(32)
            assert await store.reserve_seat(token_hash(token), f"p_{i:016x}", f"guest {i}", token_hash(ticket), now + 30, now, 99)
            tickets.append(ticket)
        sockets = []
        for ticket in tickets[:2]:
            ws = await client.ws_connect(f"/ws/{ticket}")
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"
            sockets.append(ws)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(f"/ws/{tickets[2]}")
        assert refused.value.status == 409
        resp = await client.get(f"/ws/{tickets[2]}")  # the ticket was used and its seat freed
        assert resp.status in (400, 403)
        assert await store.count_connected(token_hash(token)) == 2
        # once someone leaves, a newcomer gets in
        await sockets[0].close()
        assert await wait_for(lambda: not client.app[SFU].calls or len(next(iter(client.app[SFU].calls.values())).admitted) == 1, 5)
        grant = await (await client.post(f"/api/links/{token}/join", json={"name": "late"})).json()
        ws = await client.ws_connect("/ws/" + grant["ws_url"].rsplit("/", 1)[1])
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        await ws.close()
        await sockets[1].close()
