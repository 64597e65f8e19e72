"""The operator page (/stats) in Chromium shows a running call's participants."""

from __future__ import annotations

import re
from typing import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Participant
from tests.browser.support import ARTIFACTS, Server, state, wait_until


def test_stats_page_shows_the_participants_of_a_running_call(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("video", "Ops review")
    people = [browsers(0), browsers(1)]
    for p, name in zip(people, ("Grace", "Linus")):
        p.name = name
        p.page.goto(f"{link['url']}?name={name}&autojoin=1")
    for p in people:
        wait_until(lambda p=p: state(p.page) == "connected", 20, what=f"{p.name} connected")

    page = people[0].context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(f"{server.url}/stats")
    call = page.locator(".call", has_text="Ops review")
    expect(call).to_be_visible(timeout=15000)
    for name in ("Grace", "Linus"):
        row = call.locator(f"tr:has(td:first-child b:text-is('{name}'))")
        expect(row).to_be_visible()
        expect(row).to_contain_text("audio + video")  # what they publish
    # it refreshes by itself: media flows, so bitrates appear in both directions
    grace = call.locator("tr:has(td:first-child b:text-is('Grace'))")
    expect(grace.locator("td").nth(2)).to_have_text(re.compile(r"[1-9][0-9.]* (k|M)bit/s"), timeout=20000)
    expect(grace.locator("td").nth(3)).to_have_text(re.compile(r"[1-9][0-9.]* (k|M)bit/s"), timeout=20000)
    expect(grace.locator(".receives")).to_contain_text("Linus video")
    expect(page.locator("#workers td[data-cpu]").first).to_have_text(re.compile(r"%$"), timeout=10000)
    expect(page.locator("#summary")).to_contain_text("2participants")
    page.screenshot(path=str(ARTIFACTS / "stats-page.png"), full_page=True)
    assert not [line for line in console if "Content Security Policy" in line or line.startswith("error")], console
