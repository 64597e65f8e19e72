"""An encoder nobody here wrote: Debian's simple-whip-client (GStreamer 1.22
webrtcbin, an RSA DTLS certificate) publishes a colour and a tone over WHIP;
an aiortc participant and an aiortc WHEP viewer decode them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from tests import gstreamer
from tests.media.conftest import Server, new_link
from tests.media.peer import COLOURS, Peer, tone_of, wait_for
from tests.media.whip_peers import WhepViewer

INDEX = 3  # the encoder's colour and tone (tests.media.peer's palette)

pytestmark = pytest.mark.skipif(gstreamer.unavailable() is not None, reason=str(gstreamer.unavailable()))


@pytest.fixture(scope="module")
def libdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with gstreamer.loopback_for_libnice():
        yield gstreamer.igd_stub(tmp_path_factory.mktemp("igd"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("gst-server"))
    yield srv
    srv.stop()


async def test_simple_whip_client_publishes_to_an_aiortc_participant_and_a_whep_viewer(
    server: Server, http: aiohttp.ClientSession, libdir: Path, tmp_path: Path
) -> None:
    token = await new_link(http, server)
    watcher = Peer(http, server.url, token, "watcher", 0, video=False, audio=False)
    viewer = WhepViewer()
    encoder = gstreamer.WhipClient(
        f"{server.url}/whip/{token}?name=GStreamer", COLOURS[INDEX], tone_of(INDEX), libdir, tmp_path / "whip-client.log"
    )
    try:
        await watcher.join()
        joined = await wait_for(lambda: "GStreamer" in watcher.roster.values(), 20)
        assert joined, f"{watcher.roster}\n--- whip-client:\n{encoder.log()[-3000:]}\n--- server:\n{server.log()[-3000:]}"
        pid = next(p for p, n in watcher.roster.items() if n == "GStreamer")

        class Encoder:  # what Peer.sees/hears look for
            participant_id, index = pid, INDEX

        got = await wait_for(lambda: watcher.sees(Encoder) and watcher.hears(Encoder), 25)  # type: ignore[arg-type]
        assert got, (watcher.tracks, {m: (r.frames, r.colour, r.tone()) for m, r in watcher.received.items()}, encoder.log()[-2000:])
        assert "DTLS up as client" in server.log()  # GStreamer (RSA certificate) was the DTLS server

        await viewer.view(http, f"{server.url}/whep/{token}")
        assert await wait_for(lambda: viewer.sees(INDEX) and viewer.hears(INDEX), 20), {
            k: (r.frames, r.colour, r.tone()) for k, r in viewer.received.items()
        }
        async with http.get(f"{server.url}/api/links/{token}") as resp:
            info = await resp.json()
        assert (info["participants"], info["viewers"]) == (2, 1)

        encoder.stop()  # Ctrl-C: it DELETEs its session
        assert await wait_for(lambda: pid not in watcher.roster, 10), encoder.log()[-2000:]
        assert encoder.proc.returncode == 0, encoder.log()[-2000:]
        assert watcher.errors == []
    finally:
        encoder.stop()
        await asyncio.gather(watcher.leave(), viewer.close(), return_exceptions=True)
