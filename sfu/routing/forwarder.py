"""The forwarding core of a call (sans-IO).

Packets and the current time go in; ``(sink, packet)`` pairs to send and
keyframe requests come out. No sockets, clocks or aiortc here: the glue in
``sfu/rtc`` decrypts, calls in, and encrypts and sends what comes out. A sink
is whatever object the glue attached to an outlet; the core never calls it.

Vocabulary:
- an :class:`Inbound` is one track a participant publishes (its RTP stream);
- an :class:`Outlet` is one m-section of a subscriber's connection, fed by at
  most one Inbound at a time, with its own :class:`Rewriter` (SSRC, payload
  type, sequence numbers, timestamps, header extensions of that subscriber).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from sfu.core.cache import PacketCache
from sfu.core.extensions import Ext
from sfu.core.packet import RtpView, is_vp8_keyframe_start
from sfu.core.rewriter import Rewriter
from sfu.core.rtx import unwrap_rtx
from sfu.core.sequence import SequenceGuard
from sfu.core.throttle import KeyframeThrottle
from sfu.routing.layout import Kind, TrackKey

S = TypeVar("S")

VIDEO_CACHE = 512
VIDEO_EPOCH_SKIP = 600  # sequence numbers left out when a video section changes source
AUDIO_CACHE = 128


class Outlet(Generic[S]):
    __slots__ = ("kind", "sink", "rewriter", "source", "waiting_keyframe")

    def __init__(self, kind: Kind, sink: S) -> None:
        self.kind = kind
        self.sink = sink
        self.rewriter: Rewriter | None = None  # set once the subscriber's connection is up
        self.source: Inbound[S] | None = None
        self.waiting_keyframe = False


class Inbound(Generic[S]):
    __slots__ = (
        "key",
        "kinds_by_id",
        "payload_type",
        "rtx_payload_type",
        "cache",
        "outlets",
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
        self.throttle = KeyframeThrottle()
        self.media_ssrc: int | None = None
        self.last_abs_send_time = 0
        self.sequence = SequenceGuard()

    @property
    def kind(self) -> Kind:
        return self.key.kind


class Forwarder(Generic[S]):
    """Routes one call's packets; holds no I/O."""

    def __init__(self) -> None:
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
        out: list[tuple[S, bytes]] = []
        for outlet in inbound.outlets:
            rewriter = outlet.rewriter
            if rewriter is None:
                continue
            if outlet.waiting_keyframe:
                if not keyframe:
                    continue
                outlet.waiting_keyframe = False
            out.append((outlet.sink, rewriter.rewrite(view, abs_send_time)))
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
        if outlet.source is not None:
            outlet.source.outlets.remove(outlet)
        outlet.source = inbound
        outlet.waiting_keyframe = False
        if inbound is None:
            return [], False
        inbound.outlets.append(outlet)
        if outlet.rewriter is None:
            return [], False
        # a video receiver may still wait on packets the old source never
        # delivered (lost at its end, unrepairable now): skip past its jitter
        # buffer (aiortc's holds 512) so the new source is not held behind them
        outlet.rewriter.switch_source(skip=VIDEO_EPOCH_SKIP if inbound.kind == "video" else 0)
        return self._start(outlet, inbound, now)

    def ready(self, outlet: Outlet[S], rewriter: Rewriter, now: float) -> tuple[list[tuple[S, bytes]], bool]:
        """The subscriber's connection is up and negotiated: start sending."""
        outlet.rewriter = rewriter
        if outlet.source is None:
            return [], False
        return self._start(outlet, outlet.source, now)

    def _start(self, outlet: Outlet[S], inbound: Inbound[S], now: float) -> tuple[list[tuple[S, bytes]], bool]:
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
