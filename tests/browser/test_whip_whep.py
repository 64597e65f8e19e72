"""WHIP in and WHEP out with software nobody here wrote, watched in Chromium.

simple-whip-client (GStreamer webrtcbin) publishes a colour and a tone into a
call; a Chromium participant on the call page sees its named tile in that
colour and receives its audio; a third-party page in Chromium plays the
call's speaker with ``whip-whep``'s WHEPClient (npm, pinned in
tests/browser/whep/package-lock.json), cross-origin (CORS).
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests import gstreamer
from tests.browser.conftest import Participant
from tests.browser.support import COLOURS, Server, colour_distance, http, nearest, video_colour_js, wait_until
from tests.browser.test_media import join, self_id, wait_tile_colour

HERE = Path(__file__).resolve().parent / "whep"
INDEX = 3  # yellow
TONE = 450.0

pytestmark = pytest.mark.skipif(gstreamer.unavailable() is not None, reason=str(gstreamer.unavailable()))

PLAYER_STATS_JS = """async () => {
  const p = window.player;
  if (!p) return {error: 'no player'};
  const out = {error: p.error, state: p.pc.connectionState, audio: null};
  (await p.pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio')
      out.audio = {samples: r.totalSamplesReceived || 0, energy: r.totalAudioEnergy || 0};
  });
  return out;
}"""

VIDEO_COLOUR_JS = video_colour_js("document.getElementById('video')", arg="")

AUDIO_OF_JS = """async (pid) => {
  const c = window.callsfu, pc = c && c.subscribePc;
  if (!pc) return null;
  const mids = new Set((c.tracks || []).filter(t => t.participant_id === pid && t.kind === 'audio').map(t => t.mid));
  let out = null;
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio' && mids.has(String(r.mid)))
      out = {samples: r.totalSamplesReceived || 0, energy: r.totalAudioEnergy || 0};
  });
  return out;
}"""


@pytest.fixture(scope="module")
def encoder(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], gstreamer.WhipClient]]:
    """A video call with simple-whip-client publishing into it as "GStreamer"."""
    with gstreamer.loopback_for_libnice():
        libdir = gstreamer.igd_stub(tmp_path_factory.mktemp("igd"))
        link = server.create_link("video", "Encoder")
        client = gstreamer.WhipClient(
            f"{server.url}/whip/{link['token']}?name=GStreamer", COLOURS[INDEX], TONE, libdir,
            tmp_path_factory.mktemp("whip-client") / "whip-client.log",
        )  # fmt: skip
        try:
            wait_until(lambda: http("GET", f"{server.url}/api/links/{link['token']}")[1]["participants"] == 1, 20,
                       what=f"the encoder in the call (whip-client: {client.log()[-1500:]})")  # fmt: skip
            yield link, client
        finally:
            client.stop()


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    """The player page and its npm library, on a port of its own (another origin)."""
    if not (HERE / "node_modules" / "whip-whep" / "whep.js").exists():
        pytest.skip("whip-whep is not installed in tests/browser/whep (scripts/install-system-deps runs npm ci)")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(HERE))
    handler.log_message = lambda *args: None  # type: ignore[assignment]
    site = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site.server_address[1]}"
    site.shutdown()


def wait_audio_flowing(read: Callable[[], Any], what: str) -> None:
    first = wait_until(lambda: (s := read()) and s["samples"] > 0 and s, 20, what=what)

    seen: list[Any] = []

    def more() -> bool:
        now = read()
        seen.append(now)
        return bool(now and now["samples"] > first["samples"] + 4800 and now["energy"] > first["energy"])

    try:
        wait_until(more, 10, what=f"{what}, rising with energy")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: from {first} to {seen[-1]}") from None


def test_a_whep_player_plays_a_browser_speaker(
    server: Server, static_site: str, browsers: Callable[..., Participant]
) -> None:
    """The speaker is a call page (Chromium: simulcast video, RFC 6464 levels on
    its audio)."""
    link = server.create_link("video", "Browser speaker")
    person = browsers(1)
    join(person, link["url"], "Ben")
    self_id(person.page)
    viewer = browsers(0, fake_video=False)
    viewer.page.goto(f"{static_site}/player.html?whep={server.url}/whep/{link['token']}")

    def colour() -> Any:
        rgb = viewer.page.evaluate(VIDEO_COLOUR_JS)
        return rgb if rgb is not None and nearest(rgb, COLOURS) == 1 and colour_distance(rgb, COLOURS[1]) < 60 else None

    try:
        wait_until(colour, 25, what="the player showing the call page's camera")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; player: {viewer.page.evaluate(PLAYER_STATS_JS)}") from None
    viewer.page.click("#video")
    wait_audio_flowing(lambda: viewer.page.evaluate(PLAYER_STATS_JS)["audio"], "the player's audio of the call page")


def test_a_whep_player_from_npm_plays_the_speaker(
    server: Server, encoder: tuple[dict[str, Any], gstreamer.WhipClient], static_site: str, browsers: Callable[..., Participant]
) -> None:
    link, _ = encoder
    token = link["token"]
    viewer = browsers(0, fake_video=False)
    viewer.page.goto(f"{static_site}/player.html?whep={server.url}/whep/{token}")

    def colour() -> Any:
        rgb = viewer.page.evaluate(VIDEO_COLOUR_JS)
        return rgb if rgb is not None and nearest(rgb, COLOURS) == INDEX and colour_distance(rgb, COLOURS[INDEX]) < 60 else None

    try:
        wait_until(colour, 25, what="the player showing the encoder's colour")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; player: {viewer.page.evaluate(PLAYER_STATS_JS)}") from None
    viewer.page.click("#video")  # a person's click: the player unmutes (Chromium measures what it plays)
    wait_audio_flowing(lambda: viewer.page.evaluate(PLAYER_STATS_JS)["audio"], "the player's audio")
    assert http("GET", f"{server.url}/api/links/{token}")[1]["viewers"] == 1
    viewer.page.evaluate("() => window.player.stop()")  # the library's stop: DELETE on the Location
    wait_until(lambda: http("GET", f"{server.url}/api/links/{token}")[1]["viewers"] == 0, 10, what="the viewer gone")
    assert viewer.page.evaluate("() => window.player.error") is None


def test_a_chromium_participant_sees_and_hears_the_encoder(
    server: Server, encoder: tuple[dict[str, Any], gstreamer.WhipClient], browsers: Callable[..., Participant]
) -> None:
    link, _ = encoder
    person = browsers(1)
    join(person, link["url"], "Ann")
    self_id(person.page)
    pid = wait_until(
        lambda: next((i for i, n in person.page.evaluate("() => window.callsfu.participants").items() if n == "GStreamer"), None),
        15,
        what="GStreamer in the participant list",
    )
    tile = person.page.locator(f'.tile[data-participant-id="{pid}"]')
    wait_until(lambda: tile.get_attribute("data-name") == "GStreamer", 15, what="the encoder's named tile")
    wait_tile_colour(person.page, pid, COLOURS[INDEX], timeout=25)
    wait_audio_flowing(lambda: person.page.evaluate(AUDIO_OF_JS, pid), "the encoder's audio on the call page")

