"""aiortc peers that speak WHIP (publish) and WHEP (view) over plain HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from tests.media.peer import COLOURS, EncodedColourTrack, EncodedToneTrack, Received, nearest_colour, new_pc, tone_of

SDP = {"Content-Type": "application/sdp"}


class HttpRefused(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status} {body}")
        self.status, self.body = status, body


async def post_offer(http: aiohttp.ClientSession, url: str, pc: RTCPeerConnection) -> tuple[str, str, str]:
    """POST ``pc``'s offer; set the answer. Returns (Location, ETag, Link)."""
    await pc.setLocalDescription(await pc.createOffer())
    async with http.post(url, data=pc.localDescription.sdp, headers=SDP) as resp:
        if resp.status != 201:
            raise HttpRefused(resp.status, await resp.json())
        assert resp.content_type == "application/sdp"
        answer, location = await resp.text(), resp.headers["Location"]
        etag, link = resp.headers.get("ETag", ""), resp.headers.get("Link", "")
    assert etag.startswith('"') and etag.endswith('"'), etag  # a strong entity tag (RFC 9725)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return location, etag, link


class WhipPublisher:
    """Publishes colour ``index`` and its tone, as an encoder would."""

    def __init__(self, index: int, video: bool = True, audio: bool = True) -> None:
        self.index = index
        self.pc = new_pc()
        self.location = ""
        self.links = ""  # the Link header of the 201 (ICE servers)
        if audio:
            t = self.pc.addTransceiver(EncodedToneTrack(tone_of(index)), direction="sendonly")
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/opus"])
        if video:
            t = self.pc.addTransceiver(EncodedColourTrack(COLOURS[index % len(COLOURS)], 15), direction="sendonly")
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")])

    async def publish(self, http: aiohttp.ClientSession, url: str) -> str:
        self.location, _, self.links = await post_offer(http, url, self.pc)
        return self.location

    async def close(self) -> None:
        await self.pc.close()


class WhepViewer:
    """A receive-only viewer that decodes what it gets: one record per kind."""

    def __init__(self, video: bool = True) -> None:
        self.pc = new_pc()
        self.location = ""
        self.received: dict[str, Received] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.addTransceiver("audio", direction="recvonly")
        if video:
            self.pc.addTransceiver("video", direction="recvonly")

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.get_running_loop().create_task(self._consume(track)))

    async def view(self, http: aiohttp.ClientSession, url: str) -> str:
        self.location, _, _ = await post_offer(http, url, self.pc)
        return self.location

    async def _consume(self, track: MediaStreamTrack) -> None:
        rec = self.received.setdefault(track.kind, Received(track.kind))
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            rec.frames += 1
            rec.times.append(time.monotonic())
            del rec.times[:-50]
            rec.analyse(frame)

    def sees(self, index: int, window: float = 1.0) -> bool:
        rec = self.received.get("video")
        return bool(rec and rec.colour is not None and nearest_colour(rec.colour) == index % len(COLOURS) and rec.flowing(window, 3))

    def hears(self, index: int, window: float = 1.0) -> bool:
        rec = self.received.get("audio")
        tone = rec.tone() if rec else None
        return bool(rec and tone is not None and abs(tone - tone_of(index)) < 15 and rec.flowing(window))

    def ssrcs(self) -> dict[str, int]:
        """The SSRC each kind arrives on (one continuous stream per kind, whoever speaks)."""
        out: dict[str, int] = {}
        for t in self.pc.getTransceivers():
            ssrc = getattr(t.receiver, "_RTCRtpReceiver__remote_streams", None)
            if ssrc:
                out[t.kind] = sorted(ssrc)[0]
        return out

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()
