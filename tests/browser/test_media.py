"""Real calls between Chromium pages (and an aiortc peer) through the SFU.

Whose media is whose is told by colour: each page's fake camera plays a
solid-colour clip. Remote media is checked the way the page itself keys it:
by subscribe ``mid`` and the ``tracks`` snapshot (exposed by ``window.callsfu``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Participant
from tests.browser.support import (
    ARTIFACTS,
    COLOURS,
    TILE_COLOUR_JS,
    Server,
    colour_distance,
    inbound,
    nearest,
    outbound,
    state,
    tiles,
    wait_until,
)

MAX_COLOUR_DISTANCE = 60.0  # mean RGB of a decoded tile vs the clip's colour


def join(p: Participant, url: str, name: str) -> None:
    p.name = name
    p.page.goto(f"{url}?name={name}&autojoin=1")


def self_id(page: Page) -> str:
    return wait_until(lambda: page.evaluate("() => window.callsfu.selfId"), 15, what="participant id")  # type: ignore[no-any-return]


def video_tiles(page: Page) -> dict[str, dict[str, Any]]:
    return {t["participant_id"]: t for t in tiles(page) if t["kind"] == "video" and t["video_mid"]}


def frames_by_mid(page: Page, kind: str = "video") -> dict[str, dict[str, Any]]:
    return {s["mid"]: s for s in inbound(page) if s["kind"] == kind}


def wait_decoding(page: Page, mids: list[str], timeout: float = 20.0) -> None:
    """framesDecoded rises on every one of ``mids``."""

    def rising() -> bool:
        before = frames_by_mid(page)
        time.sleep(0.7)
        after = frames_by_mid(page)
        return all(
            m in before and m in after and after[m]["framesDecoded"] > before[m]["framesDecoded"] > 0 for m in mids
        )

    wait_until(rising, timeout, interval=0.1, what=f"framesDecoded rising on video mids {mids} ({page.url})")


def tile_colour(page: Page, pid: str) -> Any:
    return page.evaluate(TILE_COLOUR_JS, pid)


def wait_tile_colour(page: Page, pid: str, colour: tuple[int, int, int], timeout: float = 15.0) -> list[float]:
    def matches() -> Any:
        rgb = tile_colour(page, pid)
        if rgb is not None and colour_distance(rgb, colour) < MAX_COLOUR_DISTANCE and nearest(rgb, COLOURS) == COLOURS.index(colour):
            return rgb
        return None

    try:
        return wait_until(matches, timeout, what=f"tile {pid} showing colour {colour}")  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last sampled colour {tile_colour(page, pid)}") from None


def assert_sees(viewer: Participant, others: list[tuple[Participant, str]], timeout: float = 25.0) -> None:
    """``viewer`` has a named video tile per other participant, decoding, in their colour."""
    page = viewer.page
    want = {pid for _, pid in others}
    wait_until(lambda: want <= set(video_tiles(page)), timeout, what=f"{viewer.name}'s video tiles for {sorted(want)}")
    vt = video_tiles(page)
    wait_decoding(page, [vt[pid]["video_mid"] for pid in want], timeout)
    for other, pid in others:
        assert vt[pid]["name"] == other.name, (vt[pid], other.name)
        tile = page.locator(f'.tile[data-participant-id="{pid}"]')
        expect(tile).to_have_attribute("data-name", other.name)
        expect(tile.locator(".label .name")).to_have_text(other.name)
        wait_tile_colour(page, pid, other.colour)


def test_three_browsers_see_each_other(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("video", "Three of us")
    people = [browsers(i) for i in range(3)]
    started = time.monotonic()
    for p, name in zip(people, ["Alice", "Bob", "Carol"]):
        join(p, link["url"], name)
    ids = [self_id(p.page) for p in people]
    for i, viewer in enumerate(people):
        others = [(people[j], ids[j]) for j in range(3) if j != i]
        assert_sees(viewer, others)
    elapsed = time.monotonic() - started
    for p in people:
        wait_until(lambda p=p: state(p.page) == "connected", 10, what=f"{p.name} connected")
        expect(p.page.locator("#count")).to_have_attribute("aria-label", "3 of 32 participants")
        expect(p.page.locator("#conn")).to_have_text("Connected")
        # Everyone sends video and audio.
        kinds = {s["kind"] for s in outbound(p.page) if s["packetsSent"] > 0}
        assert kinds == {"audio", "video"}, kinds
    people[0].page.screenshot(path=str(ARTIFACTS / "call-3.png"))
    print(f"three browsers decoding each other's video {elapsed:.1f}s after the first page load")

    # Alice turns her camera off: the others see her initials instead of a frozen
    # or black picture; back on, her video returns.
    alice, bob = people[0], people[1]
    tile = bob.page.locator(f'.tile[data-participant-id="{ids[0]}"]')
    expect(tile).to_have_class(re.compile(r"\bhas-video\b"))
    alice.page.click("#cam-btn")
    expect(alice.page.locator("#cam-btn")).to_have_attribute("aria-pressed", "true")
    expect(tile).not_to_have_class(re.compile(r"\bhas-video\b"), timeout=6000)
    expect(tile.locator(".avatar")).to_be_visible()
    alice.page.click("#cam-btn")
    expect(tile).to_have_class(re.compile(r"\bhas-video\b"), timeout=8000)
    wait_tile_colour(bob.page, ids[0], alice.colour)


def test_late_joiner_sees_everyone_and_a_leaver_disappears(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("video")
    a, b = browsers(0), browsers(1)
    join(a, link["url"], "Ann")
    join(b, link["url"], "Ben")
    ida, idb = self_id(a.page), self_id(b.page)
    assert_sees(a, [(b, idb)])
    assert_sees(b, [(a, ida)])

    late = browsers(2, viewport={"width": 390, "height": 780})  # on a phone-sized screen
    join(late, link["url"], "Latecomer")
    idl = self_id(late.page)
    assert_sees(late, [(a, ida), (b, idb)])
    assert_sees(a, [(b, idb), (late, idl)])
    assert_sees(b, [(a, ida), (late, idl)])
    late.page.screenshot(path=str(ARTIFACTS / "call-phone.png"))

    b.page.click("#leave-btn")
    expect(b.page.locator("#msg-title")).to_have_text("You left the call")
    left_at = time.monotonic()
    for viewer in (a, late):
        wait_until(
            lambda viewer=viewer: viewer.page.locator(f'.tile[data-participant-id="{idb}"]').count() == 0,
            5.0 - (time.monotonic() - left_at),
            interval=0.1,
            what=f"Ben's tile gone from {viewer.name}'s page",
        )
    gone_after = time.monotonic() - left_at
    for viewer in (a, late):
        expect(viewer.page.locator("#count")).to_have_attribute("aria-label", "2 of 32 participants")
    # The two who stay keep seeing each other.
    assert_sees(a, [(late, idl)])
    assert_sees(late, [(a, ida)])
    print(f"leaver's tile gone from the others within {gone_after:.2f}s")


def test_audio_call_carries_audio_both_ways_and_no_video(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("audio", "Just voices")
    a, b = browsers(0), browsers(1)  # both have a (fake) camera: an audio call must not use it
    join(a, link["url"], "Ava")
    join(b, link["url"], "Bo")
    ida, idb = self_id(a.page), self_id(b.page)
    for viewer, other_id, other_name in ((a, idb, "Bo"), (b, ida, "Ava")):
        page = viewer.page
        wait_until(
            lambda page=page, other_id=other_id: any(
                t["participant_id"] == other_id and t["audio_mid"] for t in tiles(page)
            ),
            20,
            what=f"{viewer.name} has an audio tile for {other_name}",
        )
        tile = next(t for t in tiles(page) if t["participant_id"] == other_id)
        assert tile["name"] == other_name and tile["kind"] == "audio", tile
        mid = tile["audio_mid"]

        def audio_rising(page: Page = page, mid: str = mid) -> bool:
            before = frames_by_mid(page, "audio")
            time.sleep(0.7)
            after = frames_by_mid(page, "audio")
            return (
                mid in before and mid in after
                and after[mid]["packetsReceived"] > before[mid]["packetsReceived"] > 0
                and after[mid]["totalSamplesReceived"] > before[mid]["totalSamplesReceived"] > 0
            )

        wait_until(audio_rising, 20, interval=0.1, what=f"audio arriving at {viewer.name} on mid {mid}")

    for p in (a, b):
        page = p.page
        assert all(t["kind"] == "audio" and not t["video_mid"] for t in tiles(page)), tiles(page)
        assert page.locator(".tile video").count() == 0
        assert page.evaluate("() => window.callsfu.localStream.getVideoTracks().length") == 0
        assert not any(s["kind"] == "video" for s in outbound(page)), outbound(page)
        assert not any(s["kind"] == "video" for s in inbound(page)), inbound(page)
        assert all(t["kind"] == "audio" for t in page.evaluate("() => window.callsfu.tracks"))
        expect(page.locator("#cam-btn")).to_be_hidden()
        expect(page.locator(f'.tile[data-participant-id="{idb if p is a else ida}"] .avatar')).to_have_text(
            "BO" if p is a else "AV"
        )


class ThreadedPeer:
    """The SFU tests' aiortc participant (tests/media/peer.py), run on its own
    event loop in a thread so a synchronous Playwright test can drive it."""

    def __init__(self, base_url: str, token: str, name: str, index: int) -> None:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.peer: Any = self.call(self._make(base_url, token, name, index))

    async def _make(self, base_url: str, token: str, name: str, index: int) -> Any:
        import aiohttp

        from tests.media.peer import Peer

        self._http = aiohttp.ClientSession()
        peer = Peer(self._http, base_url, token, name, index)
        await peer.join()
        return peer

    def call(self, coro: Any, timeout: float = 20.0) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def read(self, fn: Callable[[Any], Any]) -> Any:
        """Evaluate ``fn(peer)`` on the peer's loop (its state is only touched there)."""

        async def run() -> Any:
            return fn(self.peer)

        return self.call(run())

    def close(self) -> None:
        try:
            self.call(self.peer.leave(), 10)
            self.call(self._http.close(), 5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def test_browser_and_aiortc_peer_see_each_other(server: Server, browsers: Callable[..., Participant]) -> None:
    from tests.media.peer import COLOURS as PEER_COLOURS
    from tests.media.peer import nearest_colour

    link = server.create_link("video", "Browser meets aiortc")
    browser = browsers(0)
    join(browser, link["url"], "Chromium")
    bid = self_id(browser.page)
    peer_index = 3  # its own palette: yellow, and a 450 Hz tone
    bot = ThreadedPeer(server.url, link["token"], "aiortc bot", peer_index)
    try:
        pid = bot.read(lambda p: p.participant_id)
        # The browser: a named video tile for the peer, decoding, in the peer's colour.
        bot_as = Participant(browser.context, browser.page, PEER_COLOURS[peer_index], "aiortc bot")
        wait_until(lambda: pid in video_tiles(browser.page), 20, what="the browser's video tile for the aiortc peer")
        tile = video_tiles(browser.page)[pid]
        assert tile["name"] == "aiortc bot"
        wait_decoding(browser.page, [tile["video_mid"]])
        rgb = wait_until(lambda: tile_colour(browser.page, pid), 10, what="the peer's tile has frames")
        assert colour_distance(rgb, bot_as.colour) < MAX_COLOUR_DISTANCE, (rgb, bot_as.colour)
        audio_mid = tile["audio_mid"]
        assert audio_mid
        wait_until(
            lambda: frames_by_mid(browser.page, "audio").get(audio_mid, {}).get("totalSamplesReceived", 0) > 0,
            10, what="the peer's audio decoded by the browser",
        )

        # The peer: decodes the browser's video (red, nearest in its palette) and audio,
        # on the mids its `tracks` snapshot gives the browser.
        def peer_sees_browser(p: Any) -> Any:
            for mid in p.mids_of(bid, "video"):
                rec = p.received.get(mid)
                if rec and rec.colour is not None and rec.flowing(minimum=3):
                    return rec.colour
            return None

        colour = wait_until(lambda: bot.read(peer_sees_browser), 20, what="the aiortc peer decoding the browser's video")
        assert nearest_colour(colour) == 0, colour  # index 0 of its palette is red
        assert colour_distance(colour, browser.colour) < MAX_COLOUR_DISTANCE, colour
        wait_until(
            lambda: bot.read(lambda p: any(p.received.get(m) and p.received[m].flowing() for m in p.mids_of(bid, "audio"))),
            10, what="the aiortc peer decoding the browser's audio",
        )
        assert bot.read(lambda p: p.roster.get(bid)) == "Chromium"
    finally:
        bot.close()
    # The peer left: its tile goes.
    wait_until(lambda: browser.page.locator(f'.tile[data-participant-id="{pid}"]').count() == 0, 5, what="the peer's tile removed")
