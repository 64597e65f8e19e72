"""The forwarding core of a call (sans-IO).

Packets and the current time go in; ``(sink, packet)`` pairs to send and
keyframe requests come out. No sockets, clocks or aiortc here: the glue in
``sfu/rtc`` decrypts, calls in, and encrypts and sends what comes out. A sink
is whatever object the glue attached to an outlet; the core never calls it.

The one exception is the fast path: with a :class:`FastGroup` factory (the
native fan-out, ``sfu/rtc/fanout.py``), each Inbound gets a group holding the
outlets in the *fast state* (rewriter ready, not waiting for a keyframe, not
held); ``on_rtp`` makes one call into it per packet, which rewrites,
protects and sends for all of them, and returns pairs only for the others.
The core decides who is in the group (``_sync``); the group does the I/O.

Vocabulary:
- an :class:`Inbound` is one track a participant publishes (its RTP stream);
- an :class:`Outlet` is one m-section of a subscriber's connection, fed by at
  most one Inbound at a time, with its own :class:`Rewriter` (SSRC, payload
  type, sequence numbers, timestamps, header extensions of that subscriber).

Bursts are paced (``sfu.core.pacer``): a new subscriber's cache replay and
retransmissions leave through the outlet's :class:`Lane` at a few times the
stream's rate. While a lane has a backlog its outlet is *paced*
(``Outlet.paced``): held out of the fast group, its live packets queue
behind the backlog instead of going out. ``Forwarder._to_paced`` and
``Forwarder._to_fast`` are the only places that state changes. The glue
calls :meth:`Forwarder.pace` when :meth:`Forwarder.next_due` says, only
while something is queued.

Simulcast: each layer of a publisher's video is an Inbound of its own; the
layers of one track share one ``layers`` list (lowest first, as the publisher
lists them). An outlet fed by a layer moves to a sibling layer only at that
layer's next keyframe (:meth:`Forwarder.switch_layer`; until then it keeps
its current layer), and carries a :class:`~sfu.core.vp8.Vp8Munger` that
continues the VP8 PictureID / TL0PICIDX across the switch, as its Rewriter
continues sequence numbers and timestamps. Until its first switch the munger
changes nothing and the outlet may be in the fast group; from then on it is
on the Python path (the native rewriter copies payloads as they are).

NACKs are bounded per outlet (``sfu.core.nack``): entries deduplicated and
capped per RTCP packet, no packet resent twice within ``RESEND_INTERVAL``,
and an RTX byte budget refilled at about the stream's own media rate.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Protocol, TypeVar

from sfu.core.cache import PacketCache
from sfu.core.extensions import Ext
from sfu.core.nack import RetransmitGuard, distinct_lost
from sfu.core.packet import RTP_HEADER_BYTES, RtpView, is_vp8_keyframe_start
from sfu.core.pacer import PACE_INTERVAL, Lane, Pacer, TokenBucket
from sfu.core.rewriter import Rewriter
from sfu.core.rtx import unwrap_rtx
from sfu.core.sequence import SequenceGuard
from sfu.core.throttle import KeyframeThrottle
from sfu.core.vp8 import Descriptor, Vp8Munger, keyframe_size, parse_descriptor
from sfu.routing.audio import AudioGate, StreamShift
from sfu.routing.layout import Kind, TrackKey
from sfu.routing.view import Views

S = TypeVar("S")
S_in = TypeVar("S_in", contravariant=True)

VIDEO_CACHE = 512
VIDEO_CACHE_SECONDS = 3.0  # ...and at most this much of it (sfu/core/cache.py: a replay older is stale)
FRESH_KEYFRAME_WAIT = 0.5  # a new outlet waits for a keyframe asked for this recently (not answered yet) instead of a replay
VIDEO_CLOCK_RATE = 90_000  # RTP ticks per second of every video codec we forward
VIDEO_EPOCH_SKIP = 600  # sequence numbers left out when a video section changes source
AUDIO_CACHE = 128

RATE_WINDOW = 1.0  # seconds of cached media the stream's rate is measured over
RATE_REFRESH = 0.5  # seconds a measured rate is reused
PACE_FACTOR = 4.0  # paced bursts leave at this many times the stream's rate...
PACE_FLOOR = 200_000.0  # ...but at least this many bytes per second (1.6 Mbit/s)
PACE_CEILING = 4_000_000.0  # ...and at most this many (a forged clock cannot unpace)
PACE_BURST = 16_384  # bytes a lane may send at once (Firefox reads a 208 KiB buffer)
RTX_FACTOR = 1.0  # the RTX budget refills at about the stream's own rate...
RTX_FLOOR = 16_000.0  # ...at least this many bytes per second
RTX_BURST_SECONDS = 0.5  # the budget holds this much of its rate...
RTX_BURST_MIN = 32_768  # ...and at least this many bytes
RTX_OVERHEAD = 2  # the original sequence number an RTX payload starts with


class FastGroup(Protocol[S_in]):
    """The outlets of one Inbound served by one call per packet (see above)."""

    def add(self, rewriter: Any, sink: S_in) -> bool:
        """Serve this pair from now on; False if it cannot be (it stays on the Python path)."""

    def remove(self, rewriter: Any) -> None:
        """Stop serving this rewriter's pair."""

    def forward(self, view: RtpView, abs_send_time: int) -> object:
        """Rewrite, protect and send ``view`` to every pair."""


class Outlet(Generic[S]):
    __slots__ = (
        "kind", "sink", "rewriter", "source", "waiting_keyframe", "held", "fast", "lane", "rtx_lane", "paced", "guard",
        "target", "vp8", "rtx_sent", "report",
        "paused",
    )  # fmt: skip

    def __init__(self, kind: Kind, sink: S) -> None:
        self.kind = kind
        self.sink = sink
        self.rewriter: Rewriter | None = None  # set once the subscriber's connection is up
        self.source: Inbound[S] | None = None
        self.waiting_keyframe = False
        self.held = False  # kept on the Python path (Forwarder.hold), e.g. while a pacing backlog drains
        self.fast = False  # in its source's FastGroup: on_rtp does not return pairs for it
        self.lane: Lane[Outlet[S]] | None = None  # its pacing bucket, made on first use
        self.rtx_lane: Lane[Outlet[S]] | None = None  # its retransmissions' own bucket and backlog
        self.paced: Lane[Outlet[S]] | None = None  # the lane while it has a backlog (held meanwhile)
        self.guard: RetransmitGuard | None = None  # its NACK bounds, made on first NACK
        self.target: Inbound[S] | None = None  # the simulcast layer it moves to at that layer's next keyframe
        self.vp8: Vp8Munger | None = None  # set while it carries a simulcast track
        self.rtx_sent = 0  # retransmissions made for it (counted per NACKed packet, not per media packet)
        self.report: Any = None  # the glue's record of the subscriber's last receiver report (sfu/observe.py)
        self.paused = False  # its subscriber does not show this video (Forwarder.pause): nothing is sent


    def munged(self, view: RtpView, descriptor: Descriptor | None = None) -> RtpView:
        """``view`` with this outlet's VP8 picture ids (itself when unchanged)."""
        munger = self.vp8
        if munger is None:
            return view
        return _with_payload(view, munger.rewrite(view.payload, descriptor))  # type: ignore[arg-type]

    def translated(self, view: RtpView) -> RtpView:
        """A cached ``view`` mapped as the current epoch maps (for RTX)."""
        munger = self.vp8
        if munger is None:
            return view
        return _with_payload(view, munger.translate(view.payload))  # type: ignore[arg-type]


def _with_payload(view: RtpView, payload: bytes | memoryview) -> RtpView:
    """``view`` carrying ``payload`` instead (itself when that is its own)."""
    if payload is view.payload:
        return view
    return RtpView(
        view.payload_type, view.marker, view.sequence_number, view.timestamp, view.ssrc,
        payload, view.audio_level, view.mid, view.data,
    )  # fmt: skip


class Inbound(Generic[S]):
    __slots__ = (
        "key",
        "kinds_by_id",
        "payload_type",
        "rtx_payload_type",
        "cache",
        "outlets",
        "slow",
        "group",
        "throttle",
        "media_ssrc",
        "last_abs_send_time",
        "sequence",
        "clock_rate",
        "_rate",
        "_rate_at",
        "layers",
        "rid",
        "switching",
        "frame_size",
        "last_arrival",
        "shift",
    )

    def __init__(
        self, key: TrackKey, payload_type: int, kinds_by_id: dict[int, Ext], rtx_payload_type: int | None = None
    ) -> None:
        self.key = key
        self.payload_type = payload_type
        self.rtx_payload_type = rtx_payload_type  # the publisher's RTX (RFC 4588) for this track
        self.kinds_by_id = kinds_by_id
        self.cache = (
            PacketCache(VIDEO_CACHE, max_age=int(VIDEO_CACHE_SECONDS * VIDEO_CLOCK_RATE))
            if key.kind == "video"
            else PacketCache(AUDIO_CACHE)
        )
        self.outlets: list[Outlet[S]] = []
        self.slow: list[Outlet[S]] = []  # the outlets not in `group`: on_rtp's Python loop
        self.group: FastGroup[S] | None = None  # set by the Forwarder when it has a factory
        self.throttle = KeyframeThrottle()
        self.media_ssrc: int | None = None
        self.last_abs_send_time = 0
        self.sequence = SequenceGuard()
        self.clock_rate = 90000 if key.kind == "video" else 48000  # VP8, Opus
        self._rate: float | None = None
        self._rate_at: float | None = None
        self.layers: list[Inbound[S]] | None = None  # the simulcast layers of its track, itself among them
        self.rid: str | None = None  # its simulcast layer's rid
        self.switching: list[Outlet[S]] = []  # outlets moving to this layer at its next keyframe
        self.frame_size: tuple[int, int] | None = None  # of its last keyframe (simulcast layers only)
        self.last_arrival = float("-inf")  # when its last packet arrived (set by the glue)
        self.shift: StreamShift | None = StreamShift() if key.kind == "audio" else None  # loudest-N's compaction

    @property
    def kind(self) -> Kind:
        return self.key.kind

    def byte_rate(self, now: float) -> float | None:
        """The stream's recent rate in bytes per second (None: too little media
        cached to tell), measured from the cache and reused for RATE_REFRESH s."""
        at = self._rate_at
        if at is None or not at <= now < at + RATE_REFRESH:
            self._rate = self.cache.byte_rate(self.clock_rate, RATE_WINDOW)
            self._rate_at = now
        return self._rate


class Forwarder(Generic[S]):
    """Routes one call's packets; holds no I/O."""

    def __init__(self, fast: Callable[[], FastGroup[S]] | None = None, audio: AudioGate | None = None) -> None:
        self._new_group = fast  # None: every outlet on the Python path
        self.audio = audio  # loudest-N audio and the speaker order (None: every audio packet forwarded)
        self.views = Views()  # what each subscriber shows (sfu.routing.view)
        self.dropped = 0  # malformed or unexpected packets
        self.repaired = 0  # publisher retransmissions that filled a hole
        self.pacer: Pacer[Outlet[S]] = Pacer()

    # -- hot path ----------------------------------------------------------
    def on_rtp(self, inbound: Inbound[S], data: bytes, abs_send_time: int) -> list[tuple[S, bytes]]:
        """A decrypted RTP packet from ``inbound``'s publisher: what to send to whom."""
        try:
            view = RtpView.parse(data, inbound.kinds_by_id)
        except ValueError:
            self.dropped += 1
            return []
        if view.payload_type != inbound.payload_type:
            if view.payload_type == inbound.rtx_payload_type:
                return self._on_rtx(inbound, view, abs_send_time)
            self.dropped += 1  # an unnegotiated payload type
            return []
        if not inbound.sequence.accept(view.sequence_number):
            self.dropped += 1  # a wild sequence number
            return []
        shift, audio = inbound.shift, self.audio
        if shift is not None and audio is not None and not audio.admit(inbound.key.participant_id, view, shift):
            return []  # silence, or not among the loudest
        inbound.media_ssrc = view.ssrc
        inbound.last_abs_send_time = abs_send_time
        keyframe = inbound.key.kind == "video" and is_vp8_keyframe_start(view.payload)
        inbound.cache.put(view, keyframe)
        if keyframe:
            inbound.throttle.answered()
        if keyframe and inbound.layers is not None:
            inbound.frame_size = keyframe_size(view.payload) or inbound.frame_size
            if inbound.switching:
                self._switch_here(inbound)  # they get this keyframe, and what follows
        if inbound.group is not None:
            inbound.group.forward(view, abs_send_time)  # every outlet in the fast state, at once
        out: list[tuple[S, bytes]] = []
        started: list[Outlet[S]] = []
        descriptor = parse_descriptor(view.payload) if inbound.layers is not None else None  # once for all outlets
        for outlet in inbound.slow:
            rewriter = outlet.rewriter
            if rewriter is None:
                continue
            if outlet.waiting_keyframe:
                if not keyframe:
                    continue
                outlet.waiting_keyframe = False
                started.append(outlet)
            paced = outlet.paced
            sent = view if outlet.vp8 is None else outlet.munged(view, descriptor)
            if paced is None:
                out.append((outlet.sink, rewriter.rewrite(sent, abs_send_time)))
            else:  # behind its backlog, in order
                self.pacer.follow(paced, rewriter.rewrite(sent, abs_send_time))
        for outlet in started:
            self._sync(outlet)  # from the next packet on, in the fast group
        return out

    def _on_rtx(self, inbound: Inbound[S], rtx: RtpView, abs_send_time: int) -> list[tuple[S, bytes]]:
        """A publisher's retransmission: the original packet, if it fills a
        hole the cache still spans (a duplicate, or a packet older than the
        cache or newer than anything received, is dropped)."""
        newest = inbound.cache.newest
        ssrc = inbound.media_ssrc
        view = None if ssrc is None else unwrap_rtx(rtx, inbound.payload_type, ssrc, inbound.kinds_by_id)
        if view is None or newest is None:
            self.dropped += 1
            return []
        behind = (newest - view.sequence_number) & 0xFFFF
        if not 0 < behind < inbound.cache.capacity or inbound.cache.get(view.sequence_number) is not None:
            self.dropped += 1
            return []
        self.repaired += 1
        keyframe = inbound.key.kind == "video" and is_vp8_keyframe_start(view.payload)
        inbound.cache.put(view, keyframe)
        out: list[tuple[S, bytes]] = []
        for outlet in inbound.outlets:
            rewriter = outlet.rewriter
            # an outlet still waiting for a keyframe, or whose epoch began
            # after this packet, has no place for it; a paused one gets nothing
            if rewriter is None or outlet.waiting_keyframe or outlet.paused or rewriter.precedes_epoch(view):
                continue
            sent = outlet.translated(view)
            if outlet.paced is None:
                out.append((outlet.sink, rewriter.rewrite(sent, abs_send_time)))
            else:
                self.pacer.follow(outlet.paced, rewriter.rewrite(sent, abs_send_time))
        return out

    # -- pacing ------------------------------------------------------------------
    def _to_paced(self, outlet: Outlet[S], lane: Lane[Outlet[S]]) -> None:
        """The outlet's lane has a backlog: off the fast path until it drains."""
        outlet.paced = lane
        self.hold(outlet)

    def _to_fast(self, outlet: Outlet[S], sync: bool = True) -> None:
        """The outlet's backlog is gone: back to direct forwarding (``sync``:
        into the fast group at once; attach passes False and syncs itself)."""
        outlet.paced = None
        outlet.held = False
        if sync:
            self._sync(outlet)

    def pace(self, now: float) -> list[tuple[S, bytes]]:
        """Paced packets whose time has come (call at :meth:`next_due`)."""
        packets, drained = self.pacer.release(now)
        for lane in drained:
            if lane.owner.paced is lane:  # (an RTX lane never held its outlet)
                self._to_fast(lane.owner)
        return [(outlet.sink, packet) for outlet, packet in packets]

    def next_due(self, now: float) -> float | None:
        """When to call :meth:`pace` next; None while nothing is queued."""
        return self.pacer.next_due(now)

    def _lane(self, outlet: Outlet[S], inbound: Inbound[S], now: float, rtx: bool = False) -> Lane[Outlet[S]]:
        """The outlet's lane (``rtx``: its retransmissions' lane), its bucket
        set to a few times ``inbound``'s rate.

        Retransmissions have a lane of their own, on their own SSRC: a backlog
        of repairs must not hold the live stream back (only a replay does,
        being the start of that stream)."""
        measured = inbound.byte_rate(now)
        rate = PACE_FLOOR if measured is None else min(PACE_CEILING, max(PACE_FLOOR, PACE_FACTOR * measured))
        burst = max(PACE_BURST, rate * 2 * PACE_INTERVAL)
        lane = outlet.rtx_lane if rtx else outlet.lane
        if lane is None:
            # the subscriber's connection (its sink) is what overflows: its lanes share a cap too
            lane = Lane(outlet, TokenBucket(rate, burst, now), group=outlet.sink)
            if rtx:
                outlet.rtx_lane = lane
            else:
                outlet.lane = lane
        else:
            lane.bucket.configure(rate, burst, now)
        return lane

    def _offer(self, outlet: Outlet[S], lane: Lane[Outlet[S]], packet: bytes, now: float, out: list[tuple[S, bytes]]) -> None:
        if self.pacer.offer(lane, packet, now):
            out.append((outlet.sink, packet))
        elif outlet.paced is None and lane.backlogged and lane is outlet.lane:
            self._to_paced(outlet, lane)

    def _stop_pacing(self, outlet: Outlet[S]) -> None:
        """Forget what was queued for the outlet's old source (attach syncs after)."""
        for lane in (outlet.lane, outlet.rtx_lane):
            if lane is not None:
                self.pacer.cancel(lane)
        if outlet.paced is not None:
            self._to_fast(outlet, sync=False)
        if outlet.guard is not None:
            outlet.guard.forget()

    # -- who watches whom ----------------------------------------------------
    def attach(self, outlet: Outlet[S], inbound: Inbound[S] | None, now: float) -> tuple[list[tuple[S, bytes]], bool]:
        """Feed ``outlet`` from ``inbound`` (None: nothing). Returns packets to
        send at once (a replay from the last keyframe) and whether the
        publisher should be asked for a keyframe now."""
        if outlet.source is inbound:
            return [], False
        self._cancel_switch(outlet)
        old = outlet.source
        self._stop_pacing(outlet)  # what was queued belongs to the old source
        if old is not None:
            self._leave_group(outlet)
            old.outlets.remove(outlet)
            old.slow = [o for o in old.outlets if not o.fast and not o.paused]
        outlet.source = inbound
        outlet.waiting_keyframe = False
        if inbound is None:
            return [], False
        if inbound.layers is None:
            outlet.vp8 = None  # a reused section carries a one-layer track: fast path again
        elif outlet.vp8 is None:
            outlet.vp8 = Vp8Munger()
        else:
            outlet.vp8.switch()
        if inbound.group is None and self._new_group is not None:
            inbound.group = self._new_group()
        inbound.outlets.append(outlet)
        if outlet.rewriter is None:
            self._sync(outlet)
            return [], False
        # a video receiver may still wait on packets the old source never
        # delivered (lost at its end, unrepairable now): skip past its jitter
        # buffer (aiortc's holds 512) so the new source is not held behind them
        outlet.rewriter.switch_source(skip=VIDEO_EPOCH_SKIP if inbound.kind == "video" else 0)
        if outlet.paused:
            self._sync(outlet)
            return [], False
        return self._start(outlet, inbound, now)

    def ready(self, outlet: Outlet[S], rewriter: Rewriter, now: float) -> tuple[list[tuple[S, bytes]], bool]:
        """The subscriber's connection is up and negotiated: start sending."""
        self._leave_group(outlet)  # (a second call replaces the rewriter the group holds)
        outlet.rewriter = rewriter
        if outlet.source is None or outlet.paused:
            self._sync(outlet)
            return [], False
        return self._start(outlet, outlet.source, now)

    def pause(self, outlet: Outlet[S], paused: bool, now: float) -> tuple[list[tuple[S, bytes]], bool]:
        """Stop (``paused``) or resume sending ``outlet``'s source to its
        subscriber, who hid or showed that video; its source stays attached.

        Resuming starts at once from the cache's last keyframe (paced), as a
        new subscriber does: returns those packets and whether to ask the
        publisher for a keyframe. The output sequence numbers continue where
        they stopped (no gap a receiver would count as loss)."""
        if outlet.paused == paused:
            return [], False
        outlet.paused = paused
        if paused:
            self._cancel_switch(outlet)  # (a simulcast layer move: chosen again when shown)
            self._stop_pacing(outlet)  # a replay still queued is not wanted any more
            outlet.waiting_keyframe = False
            if outlet.rewriter is not None:
                outlet.rewriter.switch_source(skip=0)  # the next packet sent starts an epoch
            self._sync(outlet)
            return [], False
        if outlet.source is None or outlet.rewriter is None:
            self._sync(outlet)
            return [], False
        if outlet.vp8 is not None:
            outlet.vp8.switch()  # picture ids continue from the last one sent
        return self._start(outlet, outlet.source, now)

    def view_size(self, subscriber: str, publisher: str, source: str = "camera") -> tuple[int, int] | None:
        """The size (CSS pixels) at which ``subscriber`` shows ``publisher``'s
        ``source`` video: None when it sent no view (size unknown, everything
        is forwarded), (0, 0) when its view leaves that video out."""
        return self.views.size(subscriber, publisher, source)

    def hold(self, outlet: Outlet[S]) -> None:
        """Serve ``outlet`` on the Python path (on_rtp returns its pairs) until `release`."""
        outlet.held = True
        self._sync(outlet)

    def release(self, outlet: Outlet[S]) -> None:
        """Undo `hold`: back in the fast group when it is in the fast state."""
        outlet.held = False
        self._sync(outlet)

    def _sync(self, outlet: Outlet[S]) -> None:
        """Put ``outlet`` in its source's fast group exactly when it is in the
        fast state, and refresh the source's list of the others."""
        inbound = outlet.source
        if inbound is None:
            return
        group = inbound.group
        want = (
            group is not None
            and outlet.rewriter is not None
            and not outlet.waiting_keyframe
            and not outlet.held
            and not outlet.paused
            and outlet.paced is None  # (a `release` during a backlog must not let live packets overtake it)
            and (outlet.vp8 is None or outlet.vp8.identity)  # simulcast after a switch: VP8 rewritten in Python
        )
        if want and not outlet.fast:
            assert group is not None
            outlet.fast = group.add(outlet.rewriter, outlet.sink)
        elif not want:
            self._leave_group(outlet)
        inbound.slow = [o for o in inbound.outlets if not o.fast and not o.paused]

    @staticmethod
    def _leave_group(outlet: Outlet[S]) -> None:
        if outlet.fast and outlet.source is not None and outlet.source.group is not None:
            outlet.source.group.remove(outlet.rewriter)
        outlet.fast = False

    def _start(self, outlet: Outlet[S], inbound: Inbound[S], now: float) -> tuple[list[tuple[S, bytes]], bool]:
        out, want_keyframe = self._replay(outlet, inbound, now)
        self._sync(outlet)
        return out, want_keyframe

    def _replay(self, outlet: Outlet[S], inbound: Inbound[S], now: float) -> tuple[list[tuple[S, bytes]], bool]:
        if inbound.kind != "video":
            return [], False
        assert outlet.rewriter is not None
        # Replay the cache from its last keyframe so the picture appears at
        # once, and ask the publisher for a fresh keyframe as well (throttled),
        # as docs/protocol.md promises; with nothing to replay, wait for that one.
        want_keyframe = self._keyframe_allowed(inbound, now)
        # a keyframe asked for moments ago (another subscriber's start, in a join
        # storm) comes within a round trip: start with it rather than replay
        fresh_soon = not want_keyframe and inbound.throttle.on_its_way(now, FRESH_KEYFRAME_WAIT)
        replay = [] if fresh_soon else inbound.cache.since_last_keyframe()
        if replay:  # paced: the first burst now, the rest as the lane's bucket allows
            abs_time = inbound.last_abs_send_time
            rewrite = outlet.rewriter.rewrite
            lane = self._lane(outlet, inbound, now)
            out: list[tuple[S, bytes]] = []
            for view in replay:
                self._offer(outlet, lane, rewrite(outlet.munged(view), abs_time), now, out)
            return out, want_keyframe
        outlet.waiting_keyframe = True
        return [], want_keyframe

    # -- simulcast -------------------------------------------------------------------
    def switch_layer(self, outlet: Outlet[S], layer: Inbound[S], now: float) -> bool:
        """Move ``outlet`` to ``layer``, a sibling of its current simulcast
        layer, at ``layer``'s next keyframe (it keeps its layer until then;
        its own layer cancels a pending move). True: ask ``layer``'s publisher
        for that keyframe now (not throttled)."""
        source = outlet.source
        if source is None or source.layers is None or layer.layers is not source.layers or outlet.paused:
            return False
        if layer is source:
            self._cancel_switch(outlet)
            return False
        if outlet.target is layer:
            return False  # asked already (a refused request is retried: due_keyframes)
        self._cancel_switch(outlet)
        outlet.target = layer
        layer.switching.append(outlet)
        return self._keyframe_allowed(layer, now)

    @staticmethod
    def _cancel_switch(outlet: Outlet[S]) -> None:
        target, outlet.target = outlet.target, None
        if target is not None and outlet in target.switching:
            target.switching.remove(outlet)

    def _switch_here(self, inbound: Inbound[S]) -> None:
        """A keyframe starts on ``inbound``: the outlets moving to it move now."""
        waiting, inbound.switching = inbound.switching, []
        for outlet in waiting:
            old = outlet.source
            outlet.target = None
            if old is None or old is inbound:
                continue
            self._stop_pacing(outlet)
            self._leave_group(outlet)
            old.outlets.remove(outlet)
            old.slow = [o for o in old.outlets if not o.fast and not o.paused]
            outlet.source = inbound
            outlet.waiting_keyframe = False
            inbound.outlets.append(outlet)
            if outlet.rewriter is not None:
                outlet.rewriter.switch_source()  # continuous: nothing of the old layer is awaited past this keyframe
            if outlet.vp8 is None:
                outlet.vp8 = Vp8Munger()
            newest = old.cache.newest
            last = old.cache.get(newest) if newest is not None else None
            if last is not None:
                outlet.vp8.seed(last.payload)  # what it sent last, perhaps from the fast group
            outlet.vp8.switch()
            self._sync(outlet)

    # -- feedback from subscribers ----------------------------------------------
    def on_nack(self, outlet: Outlet[S], lost: list[int], now: float) -> list[tuple[S, bytes]]:
        """One RTCP NACK from the subscriber: retransmissions to send now (more
        may follow through the pacer), within the outlet's NACK bounds."""
        inbound, rewriter = outlet.source, outlet.rewriter
        if inbound is None or rewriter is None or rewriter.rtx_ssrc is None:
            return []
        measured = inbound.byte_rate(now)
        rate = max(RTX_FLOOR, RTX_FACTOR * measured) if measured is not None else RTX_FLOOR
        burst = max(RTX_BURST_MIN, rate * RTX_BURST_SECONDS)
        guard = outlet.guard
        if guard is None:
            guard = outlet.guard = RetransmitGuard(inbound.cache.capacity, rate, burst, now)
        else:
            guard.budget.configure(rate, burst, now)
        lane = self._lane(outlet, inbound, now, rtx=True)
        abs_time = inbound.last_abs_send_time
        out: list[tuple[S, bytes]] = []
        for seq in distinct_lost(lost):
            original = rewriter.original_sequence_number(seq)
            view = None if original is None else inbound.cache.get(original)
            if view is None or original is None:
                continue
            if guard.recently_sent(original, now):
                continue  # it is on its way already
            if not guard.admit(original, len(view.payload) + RTP_HEADER_BYTES + RTX_OVERHEAD, now):
                break  # the budget is spent: the rest of this NACK waits for the next
            packet = rewriter.rtx(outlet.translated(view), abs_time)
            if packet is not None:
                outlet.rtx_sent += 1
                self._offer(outlet, lane, packet, now, out)
        return out

    def on_picture_loss(self, outlet: Outlet[S], now: float) -> Inbound[S] | None:
        """A subscriber sent PLI/FIR: the inbound to ask for a keyframe, if not throttled."""
        inbound = outlet.source
        if inbound is None or inbound.kind != "video":
            return None
        return inbound if self._keyframe_allowed(inbound, now) else None

    def due_keyframes(self, inbounds: list[Inbound[S]], now: float) -> list[Inbound[S]]:
        """Keyframe requests to send now: those the throttle refused earlier,
        and a repeat (once per throttle interval) for a layer someone still
        waits on: a publisher may ignore a request (Chromium drops a PLI that
        comes within 300 ms of the last one) and never sends a keyframe unasked."""
        return [i for i in inbounds if i.throttle.due(now) or (self._awaited(i) and i.throttle.allow(now))]

    @staticmethod
    def _awaited(inbound: Inbound[S]) -> bool:
        """Some outlet waits for this inbound's next keyframe (to start, or to move here)."""
        return bool(inbound.switching) or any(o.waiting_keyframe and not o.paused for o in inbound.outlets)

    @staticmethod
    def _keyframe_allowed(inbound: Inbound[S], now: float) -> bool:
        return inbound.throttle.allow(now)
