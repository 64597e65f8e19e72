"""The SFU forwards packets: during a call nothing is decoded or encoded."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tests.media.conftest import ROOT, Server, new_link
from tests.media.peer import Peer, wait_for


async def test_a_video_call_decodes_and_encodes_nothing_in_the_sfu(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    out = tmp_path / "probe.json"
    os.environ["CALLSFU_PROBE_OUT"] = str(out)
    server = Server(tmp_path, wrapper=[sys.executable, str(ROOT / "tests" / "media" / "decode_probe.py")])
    peers: list[Peer] = []
    try:
        token = await new_link(http, server)
        peers = [Peer(http, server.url, token, f"p{i}", i) for i in range(3)]
        for p in peers:
            await p.join()
        assert await wait_for(lambda: all(a.sees(b) and a.hears(b) for a in peers for b in peers if a is not b), 20)
        await asyncio.sleep(1.5)  # plenty of frames that a transcoder would have decoded
        server.proc.send_signal(signal.SIGUSR1)
        assert await wait_for(out.exists, 5)
        probe = json.loads(out.read_text())
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
        server.stop()
    counts = probe["counts"]
    # aiortc's receive() would start a decoder thread per received track; the
    # SFU never calls it (its receive path does not run at all)
    assert counts.get("decoder_threads_started", 0) == 0, counts
    assert probe["decoder_threads_alive"] == []
    assert {k: v for k, v in counts.items() if k.startswith(("decode:", "encode:"))} == {}, counts
    # and the peers themselves did decode what they got: the probe is not blind
    assert all(r.frames > 10 for p in peers for r in p.received.values())
