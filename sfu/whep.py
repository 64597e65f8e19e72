"""WHEP egress: a receive-only viewer of a call's current speaker.

A viewer offers receive-only audio and/or video; the answer sends it one
section of each kind (an audio call: audio only). Each section is one
:class:`~sfu.routing.forwarder.Outlet`, fed by whoever
:class:`~sfu.routing.speaker.RecentSpeaker` names, and switched with
``Forwarder.attach``: the outlet's :class:`~sfu.core.rewriter.Rewriter` keeps
one continuous stream (its SSRC, sequence numbers and timestamps), so the
player sees a new picture and voice, not a new track. A switch of video
replays the new source's cache from its last keyframe and asks for one.
A simulcast speaker is sent on the layer a full-size player would get, and
a lower one while the player's REMB says its link is congested (the same
policy as a participant's tiles, ``sfu/core/simulcast.py``).

Viewers take no seat and are not participants (no ``participant_joined``,
nobody's ``tracks``); each call holds at most ``max_viewers`` of them, and a
revocation or a shutdown ends them with the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from aiortc import RTCPeerConnection, RTCSessionDescription

from sfu import observe
from sfu.call import Call
from sfu.routing.forwarder import Inbound, Outlet
from sfu.core.simulcast import Bandwidth
from sfu.routing.layers import initial_layer, plan
from sfu.routing.layout import Kind, TrackKey
from sfu.routing.speaker import SPEAKING_LEVEL, RecentSpeaker, SpeakerSource, level_since
from sfu.rtc.egress import hook_sender
from sfu.rtc.receiver_state import drop_idle_receiver
from sfu.rtc.reports import SenderReports
from sfu.rtc.silent_track import SilentTrack
from sfu.rtc.sink import TransportSink
from sfu.session import CLOSE_TIMEOUT, new_peer_connection, restrict_codecs
from sfu.signaling.messages import SignalingError
from sfu.signaling.sdp_check import check_publish_offer

log = logging.getLogger("callsfu.sfu")

POLL_INTERVAL = 0.25  # seconds between looks at who speaks
CONNECT_TIMEOUT = 20.0  # seconds an answered viewer has to bring its media connection up
SILENT = 127  # RFC 6464: no sound
PLAYER_VIEW = (1280, 720)  # the picture size a player is taken to show (simulcast layer choice)


class Viewer:
    def __init__(self, viewer_id: str, call: Call, on_closed: Callable[[Viewer], None]) -> None:
        self.viewer_id = viewer_id
        self.call = call
        self.pc: RTCPeerConnection = new_peer_connection()
        self.outlets: dict[Kind, Outlet[TransportSink]] = {}
        self.reports = SenderReports()
        self.bandwidth = Bandwidth()  # from the player's REMB
        self._sinks: dict[int, TransportSink] = {}
        self._on_closed = on_closed
        self._closing = False
        self._deadline: asyncio.TimerHandle | None = None

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.end()

    async def answer(self, sdp: str) -> str:
        """Answer a receive-only offer (SignalingError: refused)."""
        # the same bounds as a publisher's offer; a player that would trickle
        # (PATCH is refused) is found by its connectivity checks
        check_publish_offer(sdp, [], require_candidates=False)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:
            log.info("WHEP offer refused by aiortc: %r", exc)
            raise SignalingError(
                "bad_sdp", "The offer was refused: offer receive-only Opus audio and/or VP8 video."
            ) from None
        for t in self.pc.getTransceivers():
            kind: Kind = "audio" if t.kind == "audio" else "video"
            wants = t._offerDirection in ("sendonly", "sendrecv")  # (the offer's direction, reversed)
            if kind in self.outlets or not wants or (kind == "video" and self.call.type == "audio") or not restrict_codecs(t):
                t.direction = "inactive"
                continue
            drop_idle_receiver(t.receiver)  # nothing is received from a viewer
            t.sender.replaceTrack(SilentTrack(kind))
            t.direction = "sendonly"
            dtls = t.sender.transport
            sink = self._sinks.get(id(dtls))
            if sink is None:
                sink = self._sinks[id(dtls)] = TransportSink(dtls)
            outlet: Outlet[TransportSink] = Outlet(kind, sink)
            hook_sender(
                t.sender, outlet, self.call.forwarder, self.call.request_keyframe, self.reports, self.call.deliver,
                self._on_remb,
            )
            self.outlets[kind] = outlet
        if not self.outlets:
            raise SignalingError(
                "bad_sdp",
                "The offer has no section this call can send: offer receive-only audio"
                + (" (this is an audio call)." if self.call.type == "audio" else " and/or video."),
            )
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._deadline = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._check_connected)
        return self.pc.localDescription.sdp

    def _check_connected(self) -> None:
        if self.pc.connectionState != "connected":
            log.info("WHEP viewer %s never connected its media: dropped", self.viewer_id)
            self.end()

    def _on_remb(self, bitrate: float) -> None:
        self.bandwidth.on_remb(bitrate, time.monotonic())

    def follow(self, sources: dict[Kind, Inbound[TransportSink] | None]) -> None:
        """Feed each section from ``sources`` (a switch keeps the stream continuous).
        A simulcast track is followed on the layer a full-size player would get
        within the player's bandwidth (module docstring)."""
        now = time.monotonic()
        for kind, outlet in self.outlets.items():
            inbound = sources.get(kind)
            current = outlet.source
            if self._closing or current is inbound:
                continue
            if inbound is not None and inbound.layers:
                if current is not None and current.layers is inbound.layers:
                    continue  # on one of that track's layers: which one is for update_layers
                inbound = initial_layer(inbound, PLAYER_VIEW, now)
            packets, want_keyframe = self.call.forwarder.attach(outlet, inbound, now)
            self.call.deliver(packets)
            if want_keyframe and inbound is not None:
                self.call.request_keyframe(inbound)
        if not self._closing:
            self.update_layers(now)

    def update_layers(self, now: float) -> None:
        """Move the video to the layer a full-size player gets within its
        bandwidth (at that layer's next keyframe, asked for now)."""
        forwarder = self.call.forwarder
        for outlet, layer in plan(list(self.outlets.values()), _player_view, self.bandwidth, now):
            if forwarder.switch_layer(outlet, layer, now):
                self.call.request_keyframe(layer)

    def end(self) -> None:
        asyncio.get_running_loop().create_task(self.close())

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._deadline is not None:
            self._deadline.cancel()
        now = time.monotonic()
        for outlet in self.outlets.values():
            self.call.forwarder.attach(outlet, None, now)
        for sink in self._sinks.values():
            sink.close()
        self.reports.close()
        self._on_closed(self)
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT)
        except Exception as exc:  # (a timeout included): it is out of the call already
            log.debug("closing WHEP viewer %s: %r", self.viewer_id, exc)


def _player_view(key: TrackKey) -> tuple[int, int]:
    return PLAYER_VIEW


class Audience:
    """A call's viewers and whom they follow; looks every POLL_INTERVAL s while there are any."""

    def __init__(self, call: Call, speakers: SpeakerSource | None = None) -> None:
        self.call = call
        self.viewers = call.viewers  # (the call's own: ending the call ends them)
        self.speakers: SpeakerSource = speakers or RecentSpeaker()
        self._seen: dict[TrackKey, int | None] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, viewer: Viewer) -> None:
        self.viewers[viewer.viewer_id] = viewer
        viewer.follow(self._sources())
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, viewer: Viewer) -> None:
        if self.viewers.get(viewer.viewer_id) is viewer:
            del self.viewers[viewer.viewer_id]
            observe.retire_outlets(viewer.outlets.values())  # what they were sent stays counted
        if not self.viewers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                sources = self._sources()
                for viewer in list(self.viewers.values()):
                    viewer.follow(sources)
            except Exception:  # one bad look must not stop the viewers' switching
                log.exception("choosing the speaker for WHEP viewers failed")

    def _sources(self) -> dict[Kind, Inbound[TransportSink] | None]:
        inbounds = self.call.inbounds
        levels: dict[str, int] = {}
        for key, inbound in inbounds.items():
            if key.kind != "audio":
                continue
            level, self._seen[key] = level_since(inbound.cache, self._seen.get(key))
            if level is not None:
                levels[key.participant_id] = level
        detector = self.call.audio.detector  # the call's speaker order, where levels are sent
        for pid in levels:
            if pid in detector.ranking:
                levels[pid] = min(SPEAKING_LEVEL, round(-detector.smoothed_db(pid))) if detector.speaking(pid) else SILENT
        for key in [k for k in self._seen if k not in inbounds]:
            del self._seen[key]
        present = {key.participant_id for key in inbounds}
        forget = getattr(self.speakers, "forget", None)
        if forget is not None:
            forget(present)
        order = list(self.call.sessions)
        with_video = [pid for pid in order if _video_of(inbounds, pid) is not None]
        audio_from, video_from = self.speakers.update(levels, with_video)
        return {
            "audio": inbounds.get(TrackKey(audio_from, "audio")) if audio_from else None,
            "video": _video_of(inbounds, video_from) if video_from else None,
        }


def _video_of(inbounds: dict[TrackKey, Inbound[TransportSink]], pid: str) -> Inbound[TransportSink] | None:
    """A participant's shared screen when there is one (what they present), else their camera."""
    return inbounds.get(TrackKey(pid, "video", "screen")) or inbounds.get(TrackKey(pid, "video"))
