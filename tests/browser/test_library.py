"""The client library alone: /static/examples/minimal.html imports only
/static/callsfu.js (no UI module), joins a call and receives media."""

from __future__ import annotations

from typing import Callable

from tests.browser.conftest import Participant
from tests.browser.support import COLOURS, Server, colour_distance, nearest, video_colour_js, wait_until
from tests.browser.test_media import join, self_id

VIDEO_COLOUR_JS = video_colour_js("document.getElementById('video-' + pid)")


def test_a_page_on_the_client_library_alone_joins_and_receives_media(
    server: Server, browsers: Callable[..., Participant]
) -> None:
    link = server.create_link("video", "Library")
    caller = browsers(0)
    join(caller, link["url"], "Caller")
    cid = self_id(caller.page)
    minimal = browsers(2)
    page = minimal.page
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(f"{server.url}/static/examples/minimal.html?token={link['token']}&name=Minimal")
    wait_until(lambda: page.locator("#status").inner_text() == "connected", 20, what="the minimal page connected")
    rgb = wait_until(lambda: page.evaluate(VIDEO_COLOUR_JS, cid), 25, what="the caller's video on the minimal page")
    wait_until(lambda: (c := page.evaluate(VIDEO_COLOUR_JS, cid)) is not None and nearest(c, COLOURS) == 0, 15,
               what=f"the caller's red (last {rgb})")  # fmt: skip
    assert colour_distance(page.evaluate(VIDEO_COLOUR_JS, cid), caller.colour) < 60
    audio_live = page.evaluate(f"() => {{ const a = document.getElementById('audio-{cid}'); return !!a && a.srcObject.getAudioTracks()[0].readyState; }}")
    assert audio_live == "live"
    # only the example's own script and the library were loaded
    assert sorted(u.split("/static/", 1)[1] for u in scripts) == ["callsfu.js", "examples/minimal.js"], scripts
    # and the call page sees the minimal page as a participant with its media
    wait_until(lambda: "Minimal" in caller.page.evaluate("() => Object.values(window.callsfu.participants)"), 10,
               what="the minimal page in the call")  # fmt: skip
