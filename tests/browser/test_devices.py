"""Devices: the camera chosen in the lobby is the one sent; switching it
mid-call replaces the track being sent (no renegotiation, no re-join) and the
others keep seeing the new camera.

Chromium's fake cameras look alike (fake_device_0 is an I420 green pattern,
fake_device_2 the same pattern through MJPEG; fake_device_1, a dark Y16 one,
is not reliably encoded), so the new camera is told apart by its track: the
old one is stopped, yet the viewer keeps decoding new frames, in the colour of
the sender's own view."""

from __future__ import annotations

import time
from typing import Callable

from playwright.sync_api import expect

from tests.browser.conftest import Participant
from tests.browser.support import TILE_COLOUR_JS, Server, colour_distance, state, wait_until
from tests.browser.test_media import frames_by_mid, join, self_id, video_tiles

THREE_CAMERAS = {"--use-fake-device-for-media-stream": "--use-fake-device-for-media-stream=device-count=3"}
MAX_COLOUR_DISTANCE = 40.0
TRACK_JS = "() => { const t = window.callsfu.localStream.getVideoTracks()[0]; return [t.id, t.getSettings().deviceId, t.readyState]; }"


def test_lobby_choice_and_a_mid_call_camera_switch_reach_the_others(
    server: Server, browsers: Callable[..., Participant]
) -> None:
    link = server.create_link("video", "Devices")
    switcher = browsers(0, fake_video=False, args_replace=THREE_CAMERAS)
    page = switcher.page
    page.goto(link["url"] + "?name=Switcher")
    lobby_select = page.locator("#lobby-videoinput")
    expect(lobby_select.locator("option")).to_have_count(3)
    ids = {o.inner_text(): o.get_attribute("value") for o in lobby_select.locator("option").all()}
    first_cam, second_cam = ids["fake_device_2"], ids["fake_device_0"]
    lobby_select.select_option(first_cam)
    wait_until(lambda: page.evaluate(TRACK_JS)[1] == first_cam, 10, what="the lobby preview on the chosen camera")
    page.click("#join-btn")
    wait_until(lambda: state(page) == "connected", 20, what="connected")
    sid = self_id(page)
    viewer = browsers(2)
    join(viewer, link["url"], "Viewer")
    self_id(viewer.page)
    old_track = page.evaluate(TRACK_JS)
    assert old_track[1] == first_cam  # the lobby's choice is what was sent

    def own() -> list[float] | None:
        return page.evaluate(TILE_COLOUR_JS, sid)  # type: ignore[no-any-return]

    def seen_like_own() -> bool:
        c, o = viewer.page.evaluate(TILE_COLOUR_JS, sid), own()
        return c is not None and o is not None and colour_distance(c, o) < MAX_COLOUR_DISTANCE

    wait_until(seen_like_own, 25, what="the viewer seeing the lobby's camera")
    sdp_before = page.evaluate("() => window.callsfu.publishPc.localDescription.sdp")

    page.click("#devices-btn")
    select = page.locator("#call-videoinput")
    expect(select).to_have_value(first_cam)
    select.select_option(second_cam)
    new_track = wait_until(lambda: (t := page.evaluate(TRACK_JS))[1] == second_cam and t, 10, what="the new camera's track")
    assert new_track[0] != old_track[0]
    sent = page.evaluate("() => { const s = window.callsfu.client.senders.get('camera').track; return [s.id, s.readyState]; }")
    assert sent == [new_track[0], "live"], sent
    # the old camera is stopped: whatever the viewer decodes from now on is the new one
    mid = video_tiles(viewer.page)[sid]["video_mid"]
    before = frames_by_mid(viewer.page)[mid]["framesDecoded"]
    time.sleep(1.0)
    wait_until(lambda: frames_by_mid(viewer.page)[mid]["framesDecoded"] > before + 10, 20, what="the viewer decoding the new camera")
    wait_until(seen_like_own, 15, what="the viewer's tile in the new camera's colour")
    # the same seat, the same publish connection and offer: replaceTrack only
    assert page.evaluate("() => window.callsfu.selfId") == sid
    assert page.evaluate("() => window.callsfu.publishPc.localDescription.sdp") == sdp_before
    assert second_cam in page.evaluate("() => localStorage.getItem('callsfu.devices')")  # remembered for next time
