"""A stall of the server's own event loop is not the clients' silence.

In process, so that the test can stall the very loop the sessions run on
(as a burst of work on a node would). Before, every session's watchdog woke
after the stall, found its client's last pong older than the silence limit
(the pongs were still unread in the socket) and dropped everyone on the node.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from control.app import SFU
from sfu.session import SILENCE_LIMIT
from tests.helpers import running_server
from tests.media.peer import wait_for
from tests.media.test_attacks import keep_reading


async def test_a_stall_of_the_node_drops_nobody(tmp_path: Path) -> None:
    async with running_server(tmp_path) as (client, _config):
        token = (await (await client.post("/api/links", json={"type": "audio"})).json())["token"]
        sockets, readers, pids = [], [], []
        for name in ("a", "b"):
            grant = await (await client.post(f"/api/links/{token}/join", json={"name": name})).json()
            ws = await client.session.ws_connect(grant["ws_url"])
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"
            sockets.append(ws)
            pids.append(grant["participant_id"])
            readers.append(asyncio.get_running_loop().create_task(keep_reading(ws, [])))
        node = client.app[SFU]
        assert await wait_for(lambda: len(node.calls) == 1 and len(next(iter(node.calls.values())).sessions) == 2, 5)
        try:
            await asyncio.sleep(2.5)  # pings and pongs flow
            time.sleep(SILENCE_LIMIT + 1.5)  # the whole node stalls (blocking the loop on purpose)
            await asyncio.sleep(2.5)  # every watchdog has woken at least twice since
            call = next(iter(node.calls.values()))
            assert sorted(call.sessions) == sorted(pids)
            assert not any(ws.closed for ws in sockets)
        finally:
            for task in readers:
                task.cancel()
            for ws in sockets:
                await ws.close()
