"""Firefox ESR and Chromium in the same call, both on the call page: each sees
the other's camera in its colour and hears the other; an audio-only call
carries audio both ways; Firefox leaves and rejoins."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.support import COLOURS, TILE_COLOUR_JS, colour_distance, write_y4m
from tests.firefox.browser import STATE_JS, Firefox, wait_until
from tests.server import Server

MAX_COLOUR_DISTANCE = 60.0
SELF_ID_JS = "() => window.callsfu && window.callsfu.selfId"
AUDIO_IN_JS = """async () => {
  const pc = window.callsfu && window.callsfu.subscribePc;
  if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.totalSamplesReceived || 0; });
  return n;
}"""

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover
    async_playwright = None  # type: ignore[assignment]


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    if async_playwright is None or not Path(CHROMIUM).exists():
        pytest.skip("no Playwright or Chromium")
    clip = write_y4m(tmp_path / "red.y4m", COLOURS[0])
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"]
        )
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        page.set_default_timeout(15000)
        yield page
        await browser.close()


async def rising(read: Any, what: str) -> None:
    first = await read()

    async def more() -> bool:
        return bool(await read() > first + 4800)  # 0.1 s of 48 kHz audio more

    await wait_until(more, 20, what=what)


async def test_firefox_and_chromium_see_and_hear_each_other(server: Server, firefox: Firefox, chromium: Any) -> None:
    link = server.create_link("video", "Two browsers")
    await chromium.goto(link["url"] + "?name=Chromium&autojoin=1")
    fox = await firefox.open(link["url"] + "?name=Firefox&autojoin=1")
    cid = await wait_until(lambda: chromium.evaluate(SELF_ID_JS), 20, what="Chromium joined")
    fid = await wait_until(lambda: firefox.eval(fox, SELF_ID_JS), 20, what="Firefox joined")

    # Firefox sees Chromium's red camera
    rgb = await wait_until(
        lambda: _near(firefox.eval(fox, TILE_COLOUR_JS, cid), COLOURS[0]), 30, what="Firefox showing Chromium's red"
    )
    assert colour_distance(rgb, COLOURS[0]) < MAX_COLOUR_DISTANCE
    # Chromium sees Firefox's fake camera as Firefox itself shows it
    own = await wait_until(lambda: firefox.eval(fox, TILE_COLOUR_JS, fid), 20, what="Firefox's self view")

    async def chromium_sees_firefox() -> Any:
        seen, mine = await chromium.evaluate(TILE_COLOUR_JS, fid), await firefox.eval(fox, TILE_COLOUR_JS, fid)
        return seen is not None and mine is not None and colour_distance(seen, mine) < MAX_COLOUR_DISTANCE and seen

    await wait_until(chromium_sees_firefox, 30, what=f"Chromium showing Firefox's camera (Firefox shows {own})")
    # and each hears the other
    await rising(lambda: firefox.eval(fox, AUDIO_IN_JS), "Firefox receiving Chromium's audio")
    await rising(lambda: chromium.evaluate(AUDIO_IN_JS), "Chromium receiving Firefox's audio")

    # Firefox leaves: its tile goes from Chromium's page; it rejoins and is seen again
    await firefox.eval(fox, "() => document.getElementById('leave-btn').click()")
    assert await wait_until(lambda: _eq(firefox.eval(fox, STATE_JS), "left"), 10, what="Firefox left")
    await wait_until(lambda: _eq(chromium.locator(f'.tile[data-participant-id="{fid}"]').count(), 0), 10, what="Firefox's tile gone")
    await firefox.eval(fox, "() => document.getElementById('rejoin-btn').click()")
    assert await wait_until(lambda: _eq(firefox.eval(fox, STATE_JS), "connected"), 20, what="Firefox back in")
    fid2 = await firefox.eval(fox, SELF_ID_JS)
    assert fid2 != fid
    await wait_until(lambda: _near(firefox.eval(fox, TILE_COLOUR_JS, cid), COLOURS[0]), 30, what="Firefox seeing red again")
    await firefox.close_page(fox)


async def test_firefox_and_chromium_in_an_audio_call(server: Server, firefox: Firefox, chromium: Any) -> None:
    link = server.create_link("audio", "Voices")
    await chromium.goto(link["url"] + "?name=Chromium&autojoin=1")
    fox = await firefox.open(link["url"] + "?name=Firefox&autojoin=1")
    await wait_until(lambda: firefox.eval(fox, SELF_ID_JS), 20, what="Firefox joined")
    await rising(lambda: firefox.eval(fox, AUDIO_IN_JS), "Firefox receiving Chromium's audio")
    await rising(lambda: chromium.evaluate(AUDIO_IN_JS), "Chromium receiving Firefox's audio")
    assert await firefox.eval(fox, "() => document.querySelectorAll('.tile video').length") == 0
    assert await chromium.evaluate("() => window.callsfu.tracks.every(t => t.kind === 'audio')")
    await firefox.close_page(fox)


async def _near(value: Any, colour: tuple[int, int, int]) -> Any:
    rgb = await value
    return rgb if rgb is not None and colour_distance(rgb, colour) < MAX_COLOUR_DISTANCE else None


async def _eq(value: Any, want: Any) -> bool:
    return bool(await value == want)
