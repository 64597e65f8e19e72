"""Screen sharing between Chromium pages through the SFU: the sharer's screen
(Chromium's own fake desktop capture, mostly green) reaches the others on a
large tile with the sharer's name, as a second video beside the camera, and
goes away when the sharing stops (the button, or the browser's own "Stop
sharing", which ends the track)."""

from __future__ import annotations

import re
from typing import Any, Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Participant
from tests.browser.support import Server, colour_distance, wait_until
from tests.browser.test_media import assert_sees, join, self_id

MAX_COLOUR_DISTANCE = 60.0

SCREEN_COLOUR_JS = """(pid) => {
  const v = document.querySelector(`.screen-tile[data-sharer-id="${pid}"] video`);
  if (!v || !v.videoWidth || v.readyState < 2) return null;
  const c = document.createElement('canvas'); c.width = 64; c.height = 36;
  const g = c.getContext('2d', {willReadFrequently: true});
  g.drawImage(v, 0, 0, c.width, c.height);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let r = 0, gg = 0, b = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { r += d[i]; gg += d[i+1]; b += d[i+2]; n++; }
  return [r / n, gg / n, b / n];
}"""

# How much of the stage the screen tile covers (it is "shown large").
SCREEN_SHARE_OF_STAGE_JS = """(pid) => {
  const el = document.querySelector(`.screen-tile[data-sharer-id="${pid}"]`);
  const stage = document.getElementById('stage');
  if (!el) return 0;
  const a = el.getBoundingClientRect(), s = stage.getBoundingClientRect();
  return (a.width * a.height) / (s.width * s.height);
}"""


def screens(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("() => window.callsfu.screens()"))


def screen_colour(page: Page, pid: str) -> Any:
    return page.evaluate(SCREEN_COLOUR_JS, pid)


def test_a_shared_screen_is_seen_large_in_its_colour_and_goes_when_stopped(
    server: Server, browsers: Callable[..., Participant]
) -> None:
    link = server.create_link("video", "Screens")
    sharer, viewer = browsers(0), browsers(2)  # red and blue cameras: the fake screen is green
    join(sharer, link["url"], "Sharer")
    join(viewer, link["url"], "Viewer")
    sid, vid = self_id(sharer.page), self_id(viewer.page)
    assert_sees(viewer, [(sharer, sid)])

    for stop in ("button", "browser"):
        sharer.page.click("#share-btn")
        expect(sharer.page.locator("#share-btn")).to_have_attribute("aria-pressed", "true")
        # the sharer sees its own screen; its colour is what the others must see
        own = wait_until(lambda: screen_colour(sharer.page, sid), 15, what="the sharer's own screen tile")
        assert colour_distance(own, sharer.colour) > 100, own  # not the camera

        wait_until(lambda: any(s["participant_id"] == sid for s in screens(viewer.page)), 20, what="the viewer's screen tile")
        tile = viewer.page.locator(f'.screen-tile[data-sharer-id="{sid}"]')
        expect(tile.locator(".label")).to_have_text("Sharer's screen")
        seen = wait_until(
            lambda: (rgb := screen_colour(viewer.page, sid)) is not None and colour_distance(rgb, own) < MAX_COLOUR_DISTANCE and rgb,
            20,
            what="the viewer decoding the screen in its colour",
        )
        assert colour_distance(seen, sharer.colour) > 100, seen
        assert viewer.page.evaluate(SCREEN_SHARE_OF_STAGE_JS, sid) > 0.35  # large: most of the stage
        tracks = viewer.page.evaluate("() => window.callsfu.tracks")
        mine = {t["source"] for t in tracks if t["participant_id"] == sid}
        assert mine == {"microphone", "camera", "screen"}, tracks
        # the camera is still the camera, on its own tile
        expect(viewer.page.locator(f'.tile[data-participant-id="{sid}"]')).to_have_class(re.compile(r"\bhas-video\b"))
        if stop == "button":
            # someone joining while the screen is shared gets it at once too
            late = browsers(4)
            join(late, link["url"], "Late")
            wait_until(
                lambda: (rgb := screen_colour(late.page, sid)) is not None and colour_distance(rgb, own) < MAX_COLOUR_DISTANCE,
                25,
                what="the late joiner decoding the screen",
            )
            late.page.close()  # it leaves (pagehide)
            sharer.page.click("#share-btn")
        else:  # what the browser's own "Stop sharing" bar does: the capture track ends
            sharer.page.evaluate("() => { const t = window.callsfu.client.localTracks().screen; t.stop(); t.dispatchEvent(new Event('ended')); }")
        expect(sharer.page.locator("#share-btn")).to_have_attribute("aria-pressed", "false")
        wait_until(lambda: screens(viewer.page) == [], 10, what=f"the screen gone from the viewer ({stop})")
        assert screens(sharer.page) == []
        wait_until(
            lambda: {t["source"] for t in viewer.page.evaluate("() => window.callsfu.tracks") if t["participant_id"] == sid}
            == {"microphone", "camera"},
            10,
            what="the screen withdrawn from tracks",
        )
        expect(viewer.page.locator("#stage")).not_to_have_class(re.compile(r"\bsharing\b"))
    assert_sees(viewer, [(sharer, sid)])  # the camera never stopped
    assert vid
