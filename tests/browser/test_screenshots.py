"""Screenshots of a call with a shared screen, desktop and phone sizes, in
English and French (artifacts/call-screen-*.png), taken once the screen is
decoding on the large tile."""

from __future__ import annotations

from typing import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Participant
from tests.browser.support import ARTIFACTS, Server, wait_until
from tests.browser.test_media import assert_sees, join, self_id
from tests.browser.test_screen import SCREEN_COLOUR_JS

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def test_screenshots_of_a_shared_screen(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("video", "Design review")
    en, fr = browsers(0, viewport=DESKTOP), browsers(2, viewport=PHONE, locale="fr-FR")
    join(en, link["url"], "Alice")
    join(fr, link["url"], "Bruno")
    ida, idb = self_id(en.page), self_id(fr.page)
    assert_sees(fr, [(en, ida)])
    assert_sees(en, [(fr, idb)])
    en.page.click("#share-btn")
    for viewer in (en, fr):
        wait_until(lambda viewer=viewer: viewer.page.evaluate(SCREEN_COLOUR_JS, ida), 20, what=f"{viewer.name} showing the screen")
    expect(fr.page.locator(f'.screen-tile[data-sharer-id="{ida}"] .label')).to_have_text("Écran de Alice")
    expect(en.page.locator(f'.screen-tile[data-sharer-id="{ida}"] .label')).to_have_text("Your screen")
    fr.page.wait_for_timeout(800)  # a few more frames on the tiles
    en.page.screenshot(path=str(ARTIFACTS / "call-screen-desktop-en.png"))
    fr.page.screenshot(path=str(ARTIFACTS / "call-screen-phone-fr.png"))
    en.page.set_viewport_size(PHONE)
    fr.page.set_viewport_size(DESKTOP)
    fr.page.wait_for_timeout(800)
    en.page.screenshot(path=str(ARTIFACTS / "call-screen-phone-en.png"))
    fr.page.screenshot(path=str(ARTIFACTS / "call-screen-desktop-fr.png"))
    for name in ("desktop-en", "phone-fr", "phone-en", "desktop-fr"):
        assert (ARTIFACTS / f"call-screen-{name}.png").stat().st_size > 10_000
