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
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Protocol, TypeVar

from sfu.core.cache import PacketCache
from sfu.core.extensions import Ext
from sfu.core.packet import RtpView, is_vp8_keyframe_start
from sfu.core.rewriter import Rewriter
from sfu.core.rtx import unwrap_rtx
from sfu.core.sequence import SequenceGuard
from sfu.core.throttle import KeyframeThrottle
from sfu.routing.layout import Kind, TrackKey

S = TypeVar("S")
S_in = TypeVar("S_in", contravariant=True)

VIDEO_CACHE = 512
VIDEO_EPOCH_SKIP = 600  # sequence numbers left out when a video section changes source
AUDIO_CACHE = 128


class FastGroup(Protocol[S_in]):
    """The outlets of one Inbound served by one call per packet (see above)."""

    def add(self, rewriter: Any, sink: S_in) -> bool:
        """Serve this pair from now on; False if it cannot be (it stays on the Python path)."""

    def remove(self, rewriter: Any) -> None:
        """Stop serving this rewriter's pair."""

    def forward(self, view: RtpView, abs_send_time: int) -> object:
        """Rewrite, protect and send ``view`` to every pair."""


class Outlet(Generic[S]):
    __slots__ = ("kind", "sink", "rewriter", "source", "waiting_keyframe", "held", "fast")

    def __init__(self, kind: Kind, sink: S) -> None:
        self.kind = kind
        self.sink = sink
        self.rewriter: Rewriter | None = None  # set once the subscriber's connection is up
        self.source: Inbound[S] | None = None
        self.waiting_keyframe = False
        self.held = False  # kept on the Python path (Forwarder.hold), e.g. while a pacing backlog drains
        self.fast = False  # in its source's FastGroup: on_rtp does not return pairs for it


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
    )

    def __init__(
        self, key: TrackKey, payload_type: int, kinds_by_id: dict[int, Ext], rtx_payload_type: int | None = None
    ) -> None:
        self.key = key
        self.payload_type = payload_type
        self.rtx_payload_type = rtx_payload_type  # the publisher's RTX (RFC 4588) for this track
        self.kinds_by_id = kinds_by_id
        self.cache = PacketCache(VIDEO_CACHE if key.kind == "video" else AUDIO_CACHE)
        self.outlets: list[Outlet[S]] = []
        self.slow: list[Outlet[S]] = []  # the outlets not in `group`: on_rtp's Python loop
        self.group: FastGroup[S] | None = None  # set by the Forwarder when it has a factory
        self.throttle = KeyframeThrottle()
        self.media_ssrc: int | None = None
        self.last_abs_send_time = 0
        self.sequence = SequenceGuard()

    @property
    def kind(self) -> Kind:
        return self.key.kind


class Forwarder(Generic[S]):
    """Routes one call's packets; holds no I/O."""

    def __init__(self, fast: Callable[[], FastGroup[S]] | None = None) -> None:
        self._new_group = fast  # None: every outlet on the Python path
        self.dropped = 0  # malformed or unexpected packets
        self.repaired = 0  # publisher retransmissions that filled a hole

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
        inbound.media_ssrc = view.ssrc
        inbound.last_abs_send_time = abs_send_time
        keyframe = inbound.key.kind == "video" and is_vp8_keyframe_start(view.payload)
        inbound.cache.put(view, keyframe)
        if inbound.group is not None:
            inbound.group.forward(view, abs_send_time)  # every outlet in the fast state, at once
        out: list[tuple[S, bytes]] = []
        started: list[Outlet[S]] = []
        for outlet in inbound.slow:
            rewriter = outlet.rewriter
            if rewriter is None:
                continue
            if outlet.waiting_keyframe:
                if not keyframe:
                    continue
                outlet.waiting_keyframe = False
                started.append(outlet)
            out.append((outlet.sink, rewriter.rewrite(view, abs_send_time)))
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
            # after this packet, has no place for it
            if rewriter is None or outlet.waiting_keyframe or rewriter.precedes_epoch(view):
                continue
            out.append((outlet.sink, rewriter.rewrite(view, abs_send_time)))
        return out

    # -- who watches whom ----------------------------------------------------
    def attach(self, outlet: Outlet[S], inbound: Inbound[S] | None, now: float) -> tuple[list[tuple[S, bytes]], bool]:
        """Feed ``outlet`` from ``inbound`` (None: nothing). Returns packets to
        send at once (a replay from the last keyframe) and whether the
        publisher should be asked for a keyframe now."""
        if outlet.source is inbound:
            return [], False
        old = outlet.source
        if old is not None:
            self._leave_group(outlet)
            old.outlets.remove(outlet)
            old.slow = [o for o in old.outlets if not o.fast]
        outlet.source = inbound
        outlet.waiting_keyframe = False
        if inbound is None:
            return [], False
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
        return self._start(outlet, inbound, now)

    def ready(self, outlet: Outlet[S], rewriter: Rewriter, now: float) -> tuple[list[tuple[S, bytes]], bool]:
        """The subscriber's connection is up and negotiated: start sending."""
        self._leave_group(outlet)  # (a second call replaces the rewriter the group holds)
        outlet.rewriter = rewriter
        if outlet.source is None:
            return [], False
        return self._start(outlet, outlet.source, now)

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
        want = group is not None and outlet.rewriter is not None and not outlet.waiting_keyframe and not outlet.held
        if want and not outlet.fast:
            assert group is not None
            outlet.fast = group.add(outlet.rewriter, outlet.sink)
        elif not want:
            self._leave_group(outlet)
        inbound.slow = [o for o in inbound.outlets if not o.fast]

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
        # as PROTOCOL.md promises; with nothing to replay, wait for that one.
        replay = inbound.cache.since_last_keyframe()
        want_keyframe = self._keyframe_allowed(inbound, now)
        if replay:
            abs_time = inbound.last_abs_send_time
            return [(outlet.sink, outlet.rewriter.rewrite(v, abs_time)) for v in replay], want_keyframe
        outlet.waiting_keyframe = True
        return [], want_keyframe

    # -- feedback from subscribers ----------------------------------------------
    def on_nack(self, outlet: Outlet[S], lost: list[int]) -> list[tuple[S, bytes]]:
        inbound, rewriter = outlet.source, outlet.rewriter
        if inbound is None or rewriter is None:
            return []
        out: list[tuple[S, bytes]] = []
        for seq in lost:
            original = rewriter.original_sequence_number(seq)
            view = None if original is None else inbound.cache.get(original)
            if view is None:
                continue
            packet = rewriter.rtx(view, inbound.last_abs_send_time)
            if packet is not None:
                out.append((outlet.sink, packet))
        return out

    def on_picture_loss(self, outlet: Outlet[S], now: float) -> Inbound[S] | None:
        """A subscriber sent PLI/FIR: the inbound to ask for a keyframe, if not throttled."""
        inbound = outlet.source
        if inbound is None or inbound.kind != "video":
            return None
        return inbound if self._keyframe_allowed(inbound, now) else None

    def due_keyframes(self, inbounds: list[Inbound[S]], now: float) -> list[Inbound[S]]:
        """Requests refused by the throttle earlier that may go out now."""
        return [i for i in inbounds if i.throttle.due(now)]

    @staticmethod
    def _keyframe_allowed(inbound: Inbound[S], now: float) -> bool:
        return inbound.throttle.allow(now)
