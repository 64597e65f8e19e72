"""One compound RTCP packet per publisher transport per interval.

A :class:`TransportFeedback` holds the feedback state of everything one
participant publishes on one (bundled) transport: per stream its receive
statistics and, where NACK was negotiated, a NACK generator; one bandwidth
estimator for the transport. ``poll(now)`` is called from one timer
(tens of milliseconds apart) and returns the bytes to send, or None:

- every REPORT_MIN..REPORT_MAX seconds (randomised, RFC 3550 6.3.1): an RR
  with a block per stream, then a REMB with the estimate for all streams,
  then any NACKs due;
- in between, as soon as NACKs are due: an RR and the NACKs (an early
  compound packet, RFC 4585 3.5) - loss is repaired within a tick, not
  within a report interval.

Streams are bounded (``max_streams``; a new stream beyond it replaces the
one silent the longest), so a publisher cannot make the state grow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .estimator import LossBasedEstimator
from .nack import NackGenerator
from .rtcp import MAX_REMB_SSRCS, MAX_REPORT_BLOCKS, generic_nack, receiver_report, remb
from .stats import ReceiveStatistics

__all__ = ["REPORT_MAX", "REPORT_MIN", "StreamFeedback", "TransportFeedback"]

REPORT_MIN = 0.5  # seconds between regular reports: uniform in [MIN, MAX]
REPORT_MAX = 1.0
MAX_STREAMS = 16
NACKS_PER_PACKET = 64  # sequence numbers per stream per packet: the packet stays under the MTU


@dataclass(slots=True)
class StreamFeedback:
    stats: ReceiveStatistics
    nack: NackGenerator | None
    last_arrival: float = -1.0
    # the estimator's own interval: the RR's fraction-lost interval restarts at every early RR
    expected_prior: int = 0
    received_prior: int = 0


class TransportFeedback:
    def __init__(
        self,
        sender_ssrc: int,
        *,
        rng: random.Random | None = None,
        estimator: LossBasedEstimator | None = None,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        if not 0 <= sender_ssrc <= 0xFFFFFFFF:
            raise ValueError(f"sender SSRC must be 32-bit, got {sender_ssrc}")
        if not 1 <= max_streams <= MAX_REPORT_BLOCKS:
            raise ValueError(f"max_streams must be 1..{MAX_REPORT_BLOCKS}, got {max_streams}")
        self.sender_ssrc = sender_ssrc
        self.streams: dict[int, StreamFeedback] = {}
        self.estimator = estimator or LossBasedEstimator()
        self.max_streams = max_streams
        self._rng = rng or random.Random()
        self._next_report: float | None = None
        self.reports_sent = 0
        self.early_sent = 0

    # -- streams -------------------------------------------------------------------
    def add_stream(self, ssrc: int, clock_rate: int, nack: bool) -> None:
        """Start (or restart) the statistics of the media stream ``ssrc``."""
        stats = ReceiveStatistics(ssrc, clock_rate)  # validates both
        if ssrc not in self.streams and len(self.streams) >= self.max_streams:
            silent = min(self.streams, key=lambda s: self.streams[s].last_arrival)
            del self.streams[silent]
        self.streams[ssrc] = StreamFeedback(stats, NackGenerator() if nack else None)

    # -- packets in ---------------------------------------------------------------
    def on_media(self, ssrc: int, seq: int, timestamp: int, arrival_ms: int, size: int, now: float) -> None:
        """A first transmission of a known stream (others are ignored)."""
        self.estimator.on_packet(size)
        stream = self.streams.get(ssrc)
        if stream is None:
            return
        stream.last_arrival = now
        if stream.stats.on_packet(seq, timestamp, arrival_ms) and stream.nack is not None:
            stream.nack.on_packet(seq, now)

    def on_rtx(self, ssrc: int | None, original_seq: int, size: int) -> bool:
        """A retransmission of ``original_seq`` of media stream ``ssrc``.
        True if it repaired a packet the NACK generator was asking for."""
        self.estimator.on_packet(size)
        stream = self.streams.get(ssrc) if ssrc is not None else None
        if stream is None or stream.nack is None:
            return False
        return stream.nack.on_recovered(original_seq)

    def on_sender_report(self, ssrc: int, ntp_timestamp: int, now: float) -> None:
        stream = self.streams.get(ssrc)
        if stream is not None:
            stream.stats.on_sender_report(ntp_timestamp, now)

    # -- packets out ---------------------------------------------------------------
    def poll(self, now: float) -> bytes | None:
        """The compound RTCP packet to send at ``now``, if any."""
        if self._next_report is None:
            self._next_report = now + self._interval()
        regular = now >= self._next_report
        nacks: list[bytes] = []
        for ssrc, stream in self.streams.items():
            if stream.nack is not None and stream.nack.missing:
                lost = stream.nack.due(now, NACKS_PER_PACKET)
                if lost:
                    nacks.append(generic_nack(self.sender_ssrc, ssrc, lost))
        if not regular and not nacks:
            return None
        blocks = [b for b in (s.stats.report(now) for s in self.streams.values()) if b is not None]
        parts = [receiver_report(self.sender_ssrc, blocks)]
        if regular:
            self._next_report = now + self._interval()
            self.reports_sent += 1
            if self.streams:
                parts.append(self._remb(now))
        else:
            self.early_sent += 1
        parts.extend(nacks)
        return b"".join(parts)

    def _remb(self, now: float) -> bytes:
        expected = lost = 0
        for stream in self.streams.values():
            stats = stream.stats
            if stats.expected < stream.expected_prior:  # the statistics restarted
                stream.expected_prior = stream.received_prior = 0
            e = stats.expected - stream.expected_prior
            r = stats.received - stream.received_prior
            stream.expected_prior, stream.received_prior = stats.expected, stats.received
            expected += e
            lost += max(0, e - r)
        bitrate = self.estimator.update(now, expected, lost)
        ssrcs = list(self.streams)[:MAX_REMB_SSRCS]
        return remb(self.sender_ssrc, bitrate, ssrcs)

    def _interval(self) -> float:
        return REPORT_MIN + (REPORT_MAX - REPORT_MIN) * self._rng.random()
