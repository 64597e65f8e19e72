"""Invite from the call: alone, the page says so and offers the link; the
Invite button gives the link with Copy (and Share where the browser has Web
Share); the link is the call's own, fragment included, without ?name=."""

from __future__ import annotations

from typing import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Participant
from tests.browser.support import HeldSeat, Server, state, wait_until


def test_alone_the_page_offers_the_link_and_invite_copies_it(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("audio", "Invite test")
    p = browsers(fake_video=False)
    p.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = p.page
    page.goto(link["url"] + "?name=Host&autojoin=1#key=kept-in-the-link")
    wait_until(lambda: state(page) == "connected", 15, what="connected")
    alone = page.locator("#alone")
    expect(alone).to_be_visible()
    expect(alone).to_contain_text("You're the only one here")
    want = link["url"] + "#key=kept-in-the-link"
    expect(page.locator("#alone-url")).to_have_value(want)
    has_share = page.evaluate("() => typeof navigator.share === 'function'")
    assert page.locator("#alone-share").count() == (1 if has_share else 0)
    page.click("#alone-copy")
    expect(page.locator(".toast")).to_contain_text("Link copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == want

    # someone joins: no longer alone; the Invite button still gives the link
    seat = HeldSeat(server.url, link["token"], "Guest")
    try:
        expect(alone).to_be_hidden()
        page.click("#invite-btn")
        expect(page.locator("#invite-panel")).to_be_visible()
        expect(page.locator("#invite-url")).to_have_value(want)
        page.evaluate("() => navigator.clipboard.writeText('')")
        page.click("#invite-copy")
        wait_until(lambda: page.evaluate("() => navigator.clipboard.readText()") == want, 5, what="the link copied")
        page.click("#invite-close")
        expect(page.locator("#invite-panel")).to_be_hidden()
    finally:
        seat.close()
    expect(alone).to_be_visible()  # alone again once the guest left
