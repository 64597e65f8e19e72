"""One call on this node: who is in it, what they publish, who watches what."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import TYPE_CHECKING, Any

from aiortc.rtcrtpreceiver import RTCRtpReceiver

from sfu import observe
from sfu.admission import Admission
from sfu.events import EventSink, emit
from sfu.logcontext import about
from sfu.routing.arrivals import Arrivals
from sfu.routing.audio import AudioGate
from sfu.routing.forwarder import Forwarder, Inbound
from sfu.routing.layout import TrackKey
from sfu.rtc import fanout
from sfu.rtc.sink import TransportSink

if TYPE_CHECKING:
    from sfu.session import Session
    from sfu.whep import Viewer

log = logging.getLogger("callsfu.sfu")

TICK = 0.02  # seconds between the call's timer runs: NACKs go out within one
KEYFRAME_TICKS = 5  # throttled keyframe requests are retried every 5 ticks (0.1 s)
LAYER_TICKS = 25  # each subscriber's simulcast layers are reconsidered every 25 ticks (0.5 s)
LOUDEST_AUDIO = 3  # participants whose audio each subscriber gets at once (0: everyone's)
SPEAKERS_INTERVAL = 0.25  # seconds between two `speakers` messages at least


class Call:
    def __init__(self, first: Admission, on_event: EventSink | None = None, loudest_audio: int = LOUDEST_AUDIO) -> None:
        self.call_id = first.call_id
        self.on_event = on_event
        self.started_at: float | None = None  # when its first participant joined (call.started)
        self.end_reason = "empty"  # why it ends, for call.ended (end_call sets it)
        self.type = first.call_type
        self.title = first.title
        self.e2ee = first.e2ee
        self.max_participants = first.max_participants
        self.sessions: dict[str, Session] = {}
        self.admitted: set[str] = set()  # participants connecting or connected
        self.viewers: dict[str, Viewer] = {}  # WHEP viewers: no seat, not participants
        self.audio = AudioGate(loudest_audio)  # the speaker order, and whose audio is forwarded
        self.forwarder: Forwarder[TransportSink] = Forwarder(fanout.group_factory(), audio=self.audio)
        self.speakers: list[str] = []  # the speaker order last sent
        self._speakers_sent_at = -SPEAKERS_INTERVAL
        self.inbounds: dict[TrackKey, Inbound[TransportSink]] = {}
        self.receivers: dict[TrackKey, RTCRtpReceiver] = {}
        self.arrivals = Arrivals()  # tracks on their way: subscribe offers wait for them (join storms)
        self.arrived = asyncio.Event()  # set (and replaced) whenever arrivals change: waiting offers look again
        # the call's own work runs in a context of its own, not its first participant's (log lines)
        self._context = contextvars.Context()
        self._timer = asyncio.get_running_loop().create_task(self._run_timer(), context=self._context)
        self._pacing: asyncio.TimerHandle | None = None  # armed only while packets are queued
        self._pacing_due = 0.0
        self._arming = False  # an _arm_pacing is scheduled for this turn of the loop
        self._closed = False

    # -- membership ---------------------------------------------------------
    def roster(self, exclude: str) -> list[dict[str, str]]:
        return [
            {"id": s.admission.participant_id, "name": s.admission.name}
            for pid, s in self.sessions.items()
            if pid != exclude
        ]

    def admit(self, admission: Admission) -> bool:
        """Hold one of the call's places for ``admission`` (the SFU's own cap,
        whatever the store says); False when the call is full."""
        if admission.participant_id in self.admitted:
            return True
        if len(self.admitted) >= min(self.max_participants, admission.max_participants):
            return False
        self.admitted.add(admission.participant_id)
        return True

    def discharge(self, admission: Admission) -> None:
        self.admitted.discard(admission.participant_id)

    @property
    def empty(self) -> bool:
        return not self.sessions and not self.admitted and not self.viewers

    def join(self, session: Session) -> None:
        pid = session.admission.participant_id
        if self.started_at is None:
            self.started_at = time.monotonic()
            emit(self.on_event, "call.started", {"link_id": self.call_id, "type": self.type, "title": self.title})
        emit(self.on_event, "participant.joined", {"link_id": self.call_id, "participant_id": pid, "name": session.admission.name})
        for other in self.sessions.values():
            other.send(
                {"type": "participant_joined", "participant": {"id": pid, "name": session.admission.name}}
            )
        self.sessions[pid] = session
        self.arrivals.joined(pid, time.monotonic())
        if self.speakers:
            session.send({"type": "speakers", "speakers": list(self.speakers)})

    def leave(self, session: Session) -> None:
        pid = session.admission.participant_id
        if self.sessions.get(pid) is not session:
            return
        del self.sessions[pid]
        self.arrivals.left(pid)
        self._arrivals_changed()
        self.audio.forget(pid)
        self.forwarder.views.forget(pid)
        observe.retire(session)  # its counters go into the process's totals as it leaves
        emit(self.on_event, "participant.left", {"link_id": self.call_id, "participant_id": pid, "name": session.admission.name})
        if not self.sessions:
            self._ended()  # the last one left (someone joining later starts it again)
        for key in [k for k in self.inbounds if k.participant_id == pid]:
            inbound = self.inbounds.pop(key)
            self.receivers.pop(key, None)
            for layer in inbound.layers or [inbound]:
                for outlet in list(layer.outlets) + list(layer.switching):
                    self.forwarder.attach(outlet, None, time.monotonic())
        for other in self.sessions.values():
            other.send({"type": "participant_left", "participant_id": pid})
            other.tracks_changed()

    def _ended(self) -> None:
        if self.started_at is not None:
            duration = round(time.monotonic() - self.started_at, 3)
            emit(self.on_event, "call.ended", {"link_id": self.call_id, "reason": self.end_reason, "duration": duration})
            self.started_at = None

    def close(self) -> None:
        self._ended()
        self._closed = True
        self._timer.cancel()
        if self._pacing is not None:
            self._pacing.cancel()
            self._pacing = None

    # -- sending ----------------------------------------------------------------
    def deliver(self, packets: list[tuple[TransportSink, bytes]]) -> None:
        """Send what the forwarder let out now; wake up for what it queued.

        The pacing timer is re-armed once per turn of the event loop, not per
        call: finding the next due packet scans every backlogged lane, and
        when a join storm's subscribers connect, each of their hundreds of
        sections starts (a replay, queued) with a call here — that scan per
        call was a tenth of the SFU's CPU. What was queued is not due before
        that turn is over (a replay's first burst left just now)."""
        for sink, packet in packets:
            sink.send(packet)
        if not self._arming:
            self._arming = True
            asyncio.get_running_loop().call_soon(self._arm_pacing, context=self._context)

    def _arm_pacing(self) -> None:
        self._arming = False
        if self._closed:
            return
        now = time.monotonic()
        due = self.forwarder.next_due(now)
        if due is None:
            return
        if self._pacing is not None:
            if self._pacing_due <= due:
                return
            self._pacing.cancel()
        self._pacing_due = due
        self._pacing = asyncio.get_running_loop().call_later(max(0.0, due - now), self._pace, context=self._context)

    def _pace(self) -> None:
        self._pacing = None
        try:
            packets = self.forwarder.pace(time.monotonic())
        except Exception:  # a timer callback that raises would stop pacing for the call
            log.exception("pacing failed; queued packets dropped")
            packets = []
        self.deliver(packets)

    # -- media ------------------------------------------------------------------
    def expect(self, participant_id: str, tracks: list[TrackKey]) -> None:
        """A publish offer was answered: these tracks arrive once its connection is up."""
        self.arrivals.answered(participant_id, [k for k in tracks if k not in self.inbounds], time.monotonic())
        self._arrivals_changed()

    def _arrivals_changed(self) -> None:
        self.arrived.set()
        self.arrived = asyncio.Event()

    def publish(self, inbound: Inbound[TransportSink], receiver: RTCRtpReceiver) -> None:
        if inbound.key.participant_id not in self.sessions:
            return
        self.arrivals.arrived(inbound.key)
        self._arrivals_changed()
        old = self.inbounds.get(inbound.key)
        self.inbounds[inbound.key] = inbound
        self.receivers[inbound.key] = receiver
        if old is not None and old is not inbound:
            # the publisher moved this track to another section (a re-offer):
            # its subscribers follow at once, no renegotiation (same track key)
            now = time.monotonic()
            for outlet in [o for layer in old.layers or [old] for o in layer.outlets]:
                packets, _ = self.forwarder.attach(outlet, inbound, now)
                self.deliver(packets)
            self.request_keyframe(inbound)
            return
        for pid, other in self.sessions.items():
            if pid != inbound.key.participant_id:
                other.tracks_changed()

    def unpublish(self, inbound: Inbound[TransportSink]) -> None:
        """The publisher stopped this track (its section went inactive): its
        subscribers stop receiving it and their sections are released."""
        if self.inbounds.get(inbound.key) is not inbound:
            return
        del self.inbounds[inbound.key]
        self.receivers.pop(inbound.key, None)
        now = time.monotonic()
        for layer in inbound.layers or [inbound]:
            for outlet in list(layer.outlets) + list(layer.switching):
                packets, _ = self.forwarder.attach(outlet, None, now)
                self.deliver(packets)
        for pid, other in self.sessions.items():
            if pid != inbound.key.participant_id:
                other.tracks_changed()

    def tracks_for(self, participant_id: str) -> list[TrackKey]:
        """What ``participant_id`` should receive: everyone else's tracks, in join order."""
        order = {pid: i for i, pid in enumerate(self.sessions)}
        keys = [k for k in self.inbounds if k.participant_id != participant_id and k.participant_id in order]
        return sorted(keys, key=lambda k: (order[k.participant_id], k.kind, k.source))

    def _update_speakers(self, now: float) -> None:
        """Re-rank the audio (when a window is due) and tell everyone who is
        speaking, on change, at most every SPEAKERS_INTERVAL seconds."""
        self.audio.update(now)
        current = [p for p in self.audio.speakers if p in self.sessions]
        if current == self.speakers or now - self._speakers_sent_at < SPEAKERS_INTERVAL:
            return
        self.speakers = current
        self._speakers_sent_at = now
        for session in list(self.sessions.values()):
            session.send({"type": "speakers", "speakers": list(current)})

    def request_keyframe(self, inbound: Inbound[Any]) -> None:
        receiver = self.receivers.get(inbound.key)
        if receiver is None or inbound.media_ssrc is None:
            return
        observe.count_keyframe_request()
        asyncio.get_running_loop().create_task(receiver._send_rtcp_pli(inbound.media_ssrc), context=self._context)

    async def _run_timer(self) -> None:
        """The call's one timer: every publisher's feedback (RR, REMB, NACKs:
        one compound RTCP packet each when due), and refused keyframe
        requests once the throttle lets them go."""
        ticks = 0
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                try:
                    await session.ingress.send_feedback(now)
                except Exception:  # one publisher's feedback must not stop the others'
                    log.exception("feedback failed", extra=about(session.pid))
            ticks += 1
            try:
                self._update_speakers(now)
            except Exception:  # the speaker order must not stop the call's timer
                log.exception("speaker detection failed")
            if ticks % KEYFRAME_TICKS == 0:
                layers = [layer for inbound in self.inbounds.values() for layer in inbound.layers or [inbound]]
                for inbound in self.forwarder.due_keyframes(layers, now):
                    self.request_keyframe(inbound)
            if ticks % LAYER_TICKS == 0:
                for session in list(self.sessions.values()):
                    try:
                        session.update_layers(now)
                    except Exception:  # one subscriber's choice must not stop the others'
                        log.exception("simulcast layer choice failed")
