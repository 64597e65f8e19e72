"""When camera and microphone cannot be had: the lobby says what happened and
what to do, and joining to listen and watch still works; a page opened over
plain HTTP off localhost says HTTPS is needed."""

from __future__ import annotations

from typing import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Participant
from tests.browser.support import Server, state, wait_until
from tests.browser.test_media import assert_sees, join, self_id, tiles

# no fake "allow" UI: Chromium refuses the permission prompt. A page without
# camera permission gets mDNS (.local) host candidates only, which nothing
# resolves in the tests' loopback-only namespace: show the real addresses.
DENY = {
    "--use-fake-ui-for-media-stream": "--deny-permission-prompts",
    "--disable-quic": "--disable-features=WebRtcHideLocalIpsWithMdns",
}


def test_denied_camera_and_microphone_show_guidance_and_join_to_watch(
    server: Server, browsers: Callable[..., Participant]
) -> None:
    link = server.create_link("video", "Guidance")
    other = browsers(1)
    join(other, link["url"], "Camera")
    oid = self_id(other.page)

    watcher = browsers(3, args_replace=DENY)
    page = watcher.page
    page.goto(link["url"] + "?name=Watcher")
    help_box = page.locator("#media-help")
    expect(help_box).to_be_visible()
    assert help_box.get_attribute("data-problem") == "denied"
    expect(page.locator("#media-help-title")).to_have_text("Camera and microphone are blocked")
    expect(page.locator("#media-help-text")).to_contain_text("address bar")
    expect(page.locator("#media-help-text")).to_contain_text("You can still join to listen and watch.")
    expect(page.locator("#media-retry")).to_be_visible()
    page.click("#join-btn")
    watcher.name = "Watcher"
    wait_until(lambda: state(page) == "connected", 20, what="the watcher connected")
    wid = self_id(page)
    assert page.evaluate("() => window.callsfu.publishPc") is None  # nothing sent
    expect(page.locator("#mic-btn")).to_be_disabled()
    expect(page.locator("#cam-btn")).to_be_disabled()
    assert_sees(watcher, [(other, oid)])  # it watches the other's camera
    # and the other sees the watcher as a named tile without media
    wait_until(lambda: any(t["participant_id"] == wid and t["name"] == "Watcher" for t in tiles(other.page)), 10,
               what="the watcher's tile on the other page")  # fmt: skip
    assert not [t for t in page.evaluate("() => window.callsfu.tracks") if t["participant_id"] == wid]


def test_plain_http_off_localhost_says_https_is_needed(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("video")
    port = server.url.rsplit(":", 1)[1]
    p = browsers(0, args_replace={"--disable-quic": "--host-resolver-rules=MAP callsfu.test 127.0.0.1"})
    page = p.page
    page.goto(f"http://callsfu.test:{port}/call/{link['token']}")
    assert page.evaluate("() => window.isSecureContext") is False
    expect(page.locator("#media-help")).to_be_visible()
    assert page.locator("#media-help").get_attribute("data-problem") == "insecure"
    expect(page.locator("#media-help-title")).to_contain_text("https://")
    expect(page.locator("#media-help-text")).to_contain_text("You can still join to listen and watch.")
    expect(page.locator("#media-retry")).to_be_hidden()
