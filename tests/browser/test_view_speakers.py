"""The call page's view.js and speakers.js in Chromium: a tile that is not
shown gets no video (packetsReceived stops), and shown again decodes the
right picture at once; the server's speaker order highlights the speaker."""

from __future__ import annotations

import time
from typing import Any, Callable

from tests.browser.conftest import Participant
from tests.browser.support import Server, wait_until
from tests.browser.test_media import ThreadedPeer, frames_by_mid, join, self_id, video_tiles, wait_decoding, wait_tile_colour

SHOWN_JS = """(pid) => {
  const tile = document.querySelector(`.tile[data-participant-id="${pid}"]`);
  tile.style.display = '';
  window.__shownAt = performance.now();
}"""


class SpeakingPeer(ThreadedPeer):
    """An aiortc participant whose tone carries its RFC 6464 level (-15 dBov) while it speaks."""

    async def _make(self, base_url: str, token: str, name: str, index: int) -> Any:
        import aiohttp

        from tests.media.peer import Peer

        self._http = aiohttp.ClientSession()
        peer = Peer(self._http, base_url, token, name, index, audio_level=15, encoded_video=True)
        await peer.join()
        return peer


def video_packets(page: Any, mid: str) -> int:
    return int(frames_by_mid(page).get(mid, {}).get("packetsReceived", 0))


def test_hidden_tiles_get_no_video_and_the_speaker_is_highlighted(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("video", "Views and speakers")
    viewer, other = browsers(0), browsers(1)
    join(viewer, link["url"], "Viewer")
    join(other, link["url"], "Other")
    oid = self_id(other.page)
    bot = SpeakingPeer(server.url, link["token"], "speaker bot", 3)
    try:
        bid = bot.read(lambda p: p.participant_id)
        page = viewer.page
        wait_until(lambda: {oid, bid} <= set(video_tiles(page)), 20, what="the viewer's tiles")
        mid = video_tiles(page)[oid]["video_mid"]
        wait_decoding(page, [mid])
        wait_tile_colour(page, oid, other.colour)
        wait_until(lambda: page.evaluate("() => window.callsfuView.lastSent"), 10, what="a first view sent")
        assert {v["participant_id"] for v in page.evaluate("() => window.callsfuView.lastSent.videos")} == {oid, bid}

        # The speaker: highlighted by the server's order, and moved to the front of the grid.
        bot.read(lambda p: p.speak())
        tile = f'.tile[data-participant-id="{bid}"]'
        wait_until(lambda: page.evaluate(f"() => document.querySelector('{tile}').classList.contains('server-speaking')"), 10,
                   what="the bot's tile marked as speaking by the server")
        assert int(page.evaluate(f"() => document.querySelector('{tile}').style.order")) < 0
        assert bid in page.evaluate("() => window.callsfuSpeakers.recent")

        # Other's tile hidden: its video stops arriving.
        page.evaluate("(pid) => { document.querySelector(`.tile[data-participant-id=\"${pid}\"]`).style.display = 'none'; }", oid)
        wait_until(lambda: [v["participant_id"] for v in page.evaluate("() => window.callsfuView.lastSent.videos")] == [bid], 5,
                   what="a view without the hidden tile")

        def stopped() -> bool:
            before = video_packets(page, mid)
            time.sleep(1.0)
            return video_packets(page, mid) == before

        wait_until(stopped, 10, interval=0.1, what="packetsReceived of the hidden tile's video no longer growing")
        assert video_packets(other.page, video_tiles(other.page)[bid]["video_mid"]) > 0  # others still get theirs
        frames = int(frames_by_mid(page)[mid]["framesDecoded"])

        # Shown again: new frames in Other's colour straight away.
        page.evaluate(SHOWN_JS, oid)
        wait_until(lambda: int(frames_by_mid(page)[mid]["framesDecoded"]) > frames + 2, 10, interval=0.05,
                   what="new frames decoded on the tile shown again")
        elapsed = page.evaluate("() => performance.now() - window.__shownAt")
        wait_tile_colour(page, oid, other.colour, timeout=5)
        print(f"a tile shown again decoded new frames {elapsed:.0f} ms after it was shown")
    finally:
        bot.close()
