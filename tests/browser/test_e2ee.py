"""End-to-end encrypted calls in real Chromium (docs/protocol.md, "End-to-end
encrypted calls"): pages holding the link's key see and hear each other and a
late joiner sees everyone at once (the SFU's keyframe cache still works on
frames it cannot read); an aiortc peer admitted without the key receives
frames that are not the publisher's VP8 (they decrypt, with the key and the
documented format, into exactly that); a page with a wrong key shows nobody's
picture and says why; an E2EE link without its key says it is incomplete;
the key appears nowhere on the server."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.browser import test_simulcast as simulcast
from tests.browser.conftest import Participant
from tests.e2ee_frames import new_key, open_frame, raw, safety_code
from tests.browser.support import ARTIFACTS, Server, http, wait_until
from tests.browser.test_media import (
    MAX_COLOUR_DISTANCE,
    ThreadedPeer,
    assert_sees,
    frames_by_mid,
    self_id,
    video_tiles,
    wait_tile_colour,
)

@pytest.fixture(scope="module")
def e2ee_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("callsfu-e2ee"))
    yield srv
    srv.stop()


def join_e2ee(p: Participant, url: str, key: str, name: str) -> None:
    p.name = name
    p.page.goto(f"{url}?name={name}&autojoin=1#key={key}")


def e2ee(page: Page) -> dict[str, Any]:
    return page.evaluate(  # type: ignore[no-any-return]
        "() => { const e = window.callsfu && window.callsfu.e2ee; return e ? {api: e.api, code: e.safetyCode, totals: e.totals, failing: e.failing} : null; }"
    )


AUDIO_ENERGY_JS = """async () => {
  const pc = window.callsfu && window.callsfu.subscribePc;
  const out = {};
  if (pc) (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio') out[String(r.mid)] = r.totalAudioEnergy || 0; });
  return out;
}"""


def assert_hears(viewer: Participant, pid: str) -> None:
    """Energy (not just concealment) keeps arriving on ``pid``'s audio mid."""
    mid = wait_until(
        lambda: next((t["audio_mid"] for t in viewer.page.evaluate("() => window.callsfu.tiles()") if t["participant_id"] == pid and t["audio_mid"]), None),
        15, what=f"{viewer.name}'s audio mid for {pid}",
    )

    def rising() -> bool:
        before = viewer.page.evaluate(AUDIO_ENERGY_JS).get(mid, 0)
        time.sleep(1.0)
        return bool(viewer.page.evaluate(AUDIO_ENERGY_JS).get(mid, 0) > before > 0)

    wait_until(rising, 15, interval=0.1, what=f"{viewer.name} hearing {pid} (audio energy rising on mid {mid})")


class Spy(ThreadedPeer):
    """An aiortc participant that says it encrypts (so it is admitted) but has no
    key: it keeps the raw RTP of the video it receives."""

    async def _make(self, base_url: str, token: str, name: str, index: int) -> Any:
        import aiohttp

        from tests.media.peer import Peer

        class SpyPeer(Peer):
            async def join(self) -> None:
                self.packets: dict[int, list[tuple[int, int, bool, bytes]]] = {}
                body = {"name": self.name, "e2ee": True}  # "I encrypt myself" (it cannot: it has no key)
                async with self.http.post(f"{self.base_url}/api/links/{self.token}/join", json=body) as resp:
                    grant = await resp.json()
                    assert resp.status == 200, grant
                self.participant_id = grant["participant_id"]
                self.ws = await self.http.ws_connect(grant["ws_url"])
                self.welcome = json.loads((await self.ws.receive(timeout=5)).data)
                assert self.welcome["call"]["e2ee"] is True, self.welcome
                self.roster = {p["id"]: p["name"] for p in self.welcome["participants"]}
                self._tasks.append(asyncio.get_running_loop().create_task(self._read()))

            async def _answer(self, sdp: str) -> None:
                await super()._answer(sdp)
                dtls = self.subscribe_pc.getTransceivers()[0].receiver.transport  # type: ignore[union-attr]
                if getattr(dtls, "_spy", False):
                    return
                dtls._spy = True
                original = dtls._handle_rtp_data

                async def handle(data: bytes, arrival_time_ms: int) -> None:
                    ssrc = int.from_bytes(data[8:12], "big")
                    if self._kind_of_ssrc.get(ssrc) == "video" and ssrc not in self.rtx_ssrcs:
                        start = 12 + 4 * (data[0] & 0x0F)
                        if data[0] & 0x10:
                            start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
                        end = len(data) - (data[-1] if data[0] & 0x20 else 0)
                        kept = self.packets.setdefault(ssrc, [])
                        if len(kept) < 3000:
                            seq, ts = int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:8], "big")
                            kept.append((seq, ts, bool(data[1] & 0x80), bytes(data[start:end])))
                    await original(data, arrival_time_ms)

                dtls._handle_rtp_data = handle

        self._http = aiohttp.ClientSession()
        peer = SpyPeer(self._http, base_url, token, name, index, audio=False, video=False)
        await peer.join()
        return peer


def vp8_frames(packets: list[tuple[int, int, bool, bytes]]) -> list[bytes]:
    """Whole VP8 frames (payload descriptors stripped) from one SSRC's RTP, in order."""
    by_ts: dict[int, dict[int, tuple[bool, bytes]]] = {}
    for seq, ts, marker, payload in packets:
        by_ts.setdefault(ts, {})[seq] = (marker, payload)
    frames = []
    for ts in sorted(by_ts, key=lambda t: min(by_ts[t])):
        parts = [by_ts[ts][s] for s in sorted(by_ts[ts])]
        seqs = sorted(by_ts[ts])
        if seqs[-1] - seqs[0] + 1 != len(seqs) or not parts[-1][0]:
            continue  # incomplete
        out = b""
        for i, (_, p) in enumerate(parts):
            b, pos = p[0], 1
            if i == 0 and b & 0x17 != 0x10:
                out = b""
                break
            if b & 0x80:
                x, pos = p[1], 2
                if x & 0x80:
                    pos += 2 if p[pos] & 0x80 else 1
                if x & 0x40:
                    pos += 1
                if x & 0x30:
                    pos += 1
            out += p[pos:]
        if out:
            frames.append(out)
    return frames


def decoded_colours(frames: list[bytes]) -> tuple[list[tuple[float, ...]], int]:
    """Mean RGB of what a fresh VP8 decoder makes of ``frames`` from their first key frame; errors counted."""
    codec = av.CodecContext.create("vp8", "r")
    colours, errors = [], 0
    start = next((i for i, f in enumerate(frames) if f and f[0] & 1 == 0), None)
    for f in frames[start or 0 :] if start is not None else []:
        try:
            for frame in codec.decode(av.Packet(f)):
                rgb = frame.to_ndarray(format="rgb24")
                colours.append(tuple(float(x) for x in rgb.reshape(-1, 3).mean(axis=0)))
        except av.error.FFmpegError:
            errors += 1
    return colours, errors


def test_e2ee_call_in_chromium(e2ee_server: Server, browsers: Callable[..., Participant]) -> None:
    srv = e2ee_server
    t0 = time.monotonic()

    def phase(what: str) -> None:
        print(f"[{time.monotonic() - t0:5.1f}s] {what}")

    status, link = http("POST", srv.url + "/api/links", {"type": "video", "title": "Private", "e2ee": True})
    assert status == 201 and link["e2ee"] is True
    key = new_key()
    a, b = browsers(0), browsers(1)
    join_e2ee(a, link["url"], key, "Ann")
    join_e2ee(b, link["url"], key, "Ben")
    ida, idb = self_id(a.page), self_id(b.page)
    assert_sees(a, [(b, idb)])
    assert_sees(b, [(a, ida)])
    phase("Ann and Ben see each other")
    a.page.evaluate("() => { window.__speakers = []; window.callsfu.client.on('message', (m) => { if (m.type === 'speakers') window.__speakers.push(m.speakers); }); }")
    assert_hears(a, idb)
    assert_hears(b, ida)
    # the SFU still follows speakers: audio levels travel in a header extension, in clear
    wait_until(lambda: a.page.evaluate("(pid) => window.__speakers.some((s) => s.includes(pid))", idb), 15, what="Ben among the server's speakers on Ann's page")
    phase("and hear each other")
    code = safety_code(key)
    for p in (a, b):
        state = e2ee(p.page)
        assert state["code"] == code and state["api"] == "script-transform", state
        assert state["totals"]["encrypted"] > 0 and state["totals"]["decrypted"] > 0 and state["totals"]["failed"] == 0, state
        expect(p.page.locator("#e2ee-badge")).to_contain_text("End-to-end encrypted")
        expect(p.page.locator("#e2ee-badge .e2ee-code")).to_have_text(code)
    a.page.screenshot(path=str(ARTIFACTS / "call-e2ee.png"))

    # An aiortc peer admitted (it says it encrypts) without the key: what the
    # SFU forwards it is not Ann's VP8, and is exactly Ann's VP8 once decrypted.
    spy = Spy(srv.url, link["token"], "spy", 5)
    try:
        # a late joiner (on Chromium's older encoded-streams API) sees everyone at once;
        # its arrival also makes Ann and Ben send key frames the spy records
        late = browsers(2)
        late.page.add_init_script("delete window.RTCRtpScriptTransform")
        join_e2ee(late, link["url"], key, "Late")
        idl = self_id(late.page)
        assert_sees(late, [(a, ida), (b, idb)])
        assert e2ee(late.page)["api"] == "encoded-streams"
        assert_sees(a, [(b, idb), (late, idl)])
        assert_hears(late, ida)
        phase("the late joiner sees and hears everyone")

        ann_mids = spy.read(lambda p: p.mids_of(ida, "video"))
        assert ann_mids, "the spy has no mid for Ann's video"

        def ann_frames(p: Any) -> list[bytes]:
            ssrcs = [s for s, m in p._mid_of_ssrc.items() if m in ann_mids and s in p.packets]
            return [f for s in ssrcs for f in vp8_frames(p.packets[s])]

        frames = wait_until(
            lambda: (lambda fs: fs if sum(1 for f in fs if f[0] & 1 == 0) and len(fs) > 20 else None)(spy.read(ann_frames)),
            30, what="the spy receiving Ann's frames, a key frame among them",
        )
        colours, errors = decoded_colours(frames)
        close = [c for c in colours if np.linalg.norm(np.subtract(c, a.colour)) < MAX_COLOUR_DISTANCE]
        assert not close, f"{len(close)} of {len(colours)} frames decoded to Ann's colour without the key"
        plain = [open_frame(raw(key), f) for f in frames]  # every frame authenticates with the link's key
        assert all(p[:3] == f[:3] for p, f in zip(plain, frames))  # the VP8 frame tag stayed in clear
        good, good_errors = decoded_colours(plain)
        assert good and good_errors == 0, (len(good), good_errors)
        assert np.linalg.norm(np.subtract(good[-1], a.colour)) < MAX_COLOUR_DISTANCE, good[-1]
        print(f"spy: {len(frames)} frames of Ann; without the key {len(colours)} decoded (none Ann's colour), {errors} decode errors")
        # aiortc's own decoder made nothing of Ann's colour either
        received = spy.read(lambda p: [p.received[m].colour for m in ann_mids if m in p.received and p.received[m].colour])
        assert all(np.linalg.norm(np.subtract(c, a.colour)) >= MAX_COLOUR_DISTANCE for c in received), received
    finally:
        spy.close()
    phase("the spy's frames checked")

    # A page with a wrong key (Ben comes back as Mallory with another key):
    # no picture of the others, and it says why; the others say so too.
    join_e2ee(b, link["url"], new_key(), "Mallory")
    idm = self_id(b.page)
    assert idm != idb
    wait_until(lambda: {ida, idl} <= set(e2ee(b.page)["failing"]), 30, what="Mallory's page failing to decrypt Ann and Late")
    expect(b.page.locator("#e2ee-banner")).to_contain_text("Can't decrypt")
    expect(b.page.locator("#e2ee-banner")).to_contain_text("key")
    assert e2ee(b.page)["code"] != code
    for pid in (ida, idl):
        mids = [video_tiles(b.page)[pid]["video_mid"]] if pid in video_tiles(b.page) else []
        assert all(frames_by_mid(b.page).get(m, {}).get("framesDecoded", 0) == 0 for m in mids)
        assert b.page.evaluate("(pid) => { const v = document.querySelector(`.tile[data-participant-id=\"${pid}\"] video`); return !v || !v.videoWidth; }", pid)
    assert e2ee(b.page)["totals"]["decrypted"] == 0
    b.page.screenshot(path=str(ARTIFACTS / "call-e2ee-wrong-key.png"))
    wait_until(lambda: idm in e2ee(a.page)["failing"], 30, what="Ann's page failing to decrypt Mallory")
    expect(a.page.locator("#e2ee-banner")).to_contain_text("Mallory")
    assert a.page.locator(f'.tile[data-participant-id="{idm}"].e2ee-failed').count() == 1
    assert_sees(a, [(late, idl)])  # the others still see each other
    phase("the wrong key checked")

    # A dropped connection: the page joins again by itself, still saying it encrypts
    a.page.evaluate("() => window.callsfu.client.ws.close()")
    wait_until(
        lambda: a.page.evaluate("() => window.callsfu.state === 'connected' && window.callsfu.selfId") not in (False, None, ida),
        30, what="Ann rejoined after her socket dropped",
    )
    ida2 = self_id(a.page)
    assert_sees(late, [(a, ida2)])
    assert_sees(a, [(late, idl)])
    phase("Ann's rejoin checked")

    # The key is nowhere on the server: its log, its data directory, its API.
    shown = http("GET", f"{srv.url}/api/links/{link['token']}")[1]
    health = http("GET", f"{srv.url}/healthz")[1]
    status, stats = http("GET", f"{srv.url}/api/stats")
    assert status == 200 and shown["e2ee"] is True
    with urllib.request.urlopen(f"{srv.url}/metrics", timeout=10) as resp:
        metrics = resp.read()
    assert b"callsfu_" in metrics
    blobs = [srv.log().encode(), repr(shown).encode(), repr(health).encode(), repr(stats).encode(), metrics]
    blobs += [p.read_bytes() for p in Path(srv.log_path.parent, "data").rglob("*") if p.is_file()]
    k = raw(key)
    for needle in (key.encode(), k, k.hex().encode(), base64.b64encode(k).rstrip(b"=")):
        assert not any(needle in blob for blob in blobs), needle


def test_an_e2ee_link_without_its_key_is_incomplete(e2ee_server: Server, browsers: Callable[..., Participant]) -> None:
    status, link = http("POST", e2ee_server.url + "/api/links", {"type": "video", "e2ee": True})
    assert status == 201
    page = browsers(0).page
    for i, fragment in enumerate(("", "#key=", "#key=tooShort", "#other=1")):
        page.goto(f"{link['url']}?name=Ann&autojoin=1&try={i}{fragment}")
        expect(page.locator("#msg-title")).to_have_text("This link is incomplete")
        expect(page.locator("#msg-text")).to_contain_text("after #key=")
        assert page.evaluate("() => window.callsfu.state") == "unavailable"
        assert page.evaluate("() => window.callsfu.reason") == "e2ee_key_missing"
    page.goto(f"{link['url']}?lang=fr")  # in French too
    expect(page.locator("#msg-title")).to_have_text("Ce lien est incomplet")
    # a browser without encoded transforms says so rather than joining with plain media
    page.add_init_script("delete window.RTCRtpScriptTransform; delete RTCRtpSender.prototype.createEncodedStreams;")
    page.goto(f"{link['url']}?name=Ann&autojoin=1#key={new_key()}")
    expect(page.locator("#msg-title")).to_have_text("This browser can't join an end-to-end encrypted call")
    assert page.evaluate("() => window.callsfu.reason") == "e2ee_unsupported"
    assert http("GET", f"{e2ee_server.url}/api/links/{link['token']}")[1]["participants"] == 0


chromium = simulcast.chromium  # Chromium with the field trial that lets a 640x480 camera send three layers


def test_simulcast_layers_move_on_encrypted_frames(e2ee_server: Server, chromium: Callable[..., Participant]) -> None:
    """The SFU moves a viewer between layers at key frames it recognises in the
    clear VP8 header; every layer decrypts (one transform per sender, all encodings)."""
    status, link = http("POST", e2ee_server.url + "/api/links", {"type": "video", "e2ee": True})
    assert status == 201
    key = new_key()
    publisher = chromium(0)
    publisher.page.goto(f"{link['url']}?name=Pia&autojoin=1&simulcast=3#key={key}")
    pid = self_id(publisher.page)
    wait_until(
        lambda: len([s for s in publisher.page.evaluate(simulcast.OUTBOUND_LAYERS_JS) if s.get("framesEncoded")]) == 3,
        30, what="three encrypted simulcast encodings sent",
    )
    viewer = chromium(1, (1600, 1200))
    viewer.page.goto(f"{link['url']}?name=Lea&autojoin=1&simulcast=0#key={key}")
    self_id(viewer.page)
    wait_until(lambda: pid in video_tiles(viewer.page), 25, what="the viewer's tile of the publisher")
    mid = video_tiles(viewer.page)[pid]["video_mid"]

    def width() -> int:
        size = viewer.page.evaluate(simulcast.INBOUND_SIZE_JS, mid)
        return int(size[0]) if size else 0

    wait_until(lambda: width() == 640, 30, what="the full layer on a large tile")
    wait_tile_colour(viewer.page, pid, publisher.colour)
    viewer.page.set_viewport_size({"width": 360, "height": 300})
    wait_until(lambda: 0 < width() < 640, 30, what="a smaller layer once the tile is small")
    wait_tile_colour(viewer.page, pid, publisher.colour)
    totals = e2ee(viewer.page)["totals"]
    assert totals["decrypted"] > 0 and totals["failed"] == 0, totals
