"""The bandwidth estimate we send a publisher as REMB (loss-based).

aiortc cannot do transport-wide congestion control, and its delay-based
REMB estimator costs a few microseconds per packet; the SFU instead sends
the loss-based estimate libwebrtc's sender runs on receiver reports
(SendSideBandwidthEstimation), computed where the loss is seen:

- each update covers the packets expected since the last one, summed over
  all of the transport's streams (as a sender sums report blocks); fewer
  than MIN_PACKETS expected carry too little information: the estimate
  holds and they are counted with the next update;
- loss under 2 %: grow by 8 % per second (plus 1 kbit/s per second), but
  not past ``max(start_bitrate, 1.5 x the receive rate + 10 kbit/s)``: a
  publisher that sends less than it may (app-limited, or a still picture)
  does not push the estimate up without bound, and one never gets a limit
  below the start value for sending little;
- loss from 2 % to 10 %: hold;
- loss over 10 %: cut to ``min(estimate, receive rate) x (1 - loss / 2)``:
  a cut starts from what really arrives, so a generous estimate far above
  an app-limited rate comes down at once to a limit that matters;
- always within [min_bitrate, max_bitrate].

The receive rate is the bytes of every packet received (retransmissions
included: they use the path too) over the time since the last update.
Time ``now`` is in seconds on any monotonic clock.
"""

from __future__ import annotations

__all__ = ["LossBasedEstimator", "MIN_PACKETS"]

MIN_PACKETS = 20  # libwebrtc's kLimitNumPackets
LOW_LOSS = 0.02
HIGH_LOSS = 0.10
GROWTH_PER_SECOND = 1.08
GROWTH_BPS_PER_SECOND = 1000
RATE_HEADROOM = 1.5
RATE_HEADROOM_BPS = 10_000


class LossBasedEstimator:
    __slots__ = (
        "total_bytes",
        "min_bitrate",
        "max_bitrate",
        "start_bitrate",
        "bitrate",
        "receive_rate",
        "_bytes",
        "_last",
        "_expected",
        "_lost",
    )

    def __init__(
        self, *, start_bitrate: int = 1_000_000, min_bitrate: int = 30_000, max_bitrate: int = 10_000_000
    ) -> None:
        if not 0 < min_bitrate <= start_bitrate <= max_bitrate:
            raise ValueError(
                f"need 0 < min_bitrate <= start_bitrate <= max_bitrate, got "
                f"{min_bitrate}, {start_bitrate}, {max_bitrate}"
            )
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.start_bitrate = start_bitrate
        self.bitrate = start_bitrate  # the estimate, bit/s
        self.receive_rate = 0  # bit/s over the last update interval
        self.total_bytes = 0  # every byte counted up to the last update (added there, not per packet)
        self._bytes = 0
        self._last: float | None = None
        self._expected = 0
        self._lost = 0

    def on_packet(self, size: int) -> None:
        """A packet of ``size`` bytes arrived on the transport."""
        self._bytes += size

    def update(self, now: float, expected: int, lost: int) -> int:
        """``expected`` packets were due since the last update and ``lost`` of
        them did not arrive (first transmissions; negative counts as 0).
        Returns the new estimate in bit/s."""
        last, self._last = self._last, now
        self.total_bytes += self._bytes
        if last is None or now <= last:
            self._bytes = 0
            return self.bitrate
        dt = now - last
        self.receive_rate = int(self._bytes * 8 / dt)
        self._bytes = 0
        self._expected += max(0, expected)
        self._lost += max(0, min(lost, expected))
        if self._expected < MIN_PACKETS:
            return self.bitrate
        loss = self._lost / self._expected
        self._expected = self._lost = 0
        bitrate = self.bitrate
        if loss < LOW_LOSS:
            cap = max(self.start_bitrate, int(RATE_HEADROOM * self.receive_rate) + RATE_HEADROOM_BPS)
            grown = int(bitrate * GROWTH_PER_SECOND**dt + GROWTH_BPS_PER_SECOND * dt)
            bitrate = max(bitrate, min(grown, cap))
        elif loss > HIGH_LOSS:
            bitrate = int(min(bitrate, self.receive_rate) * (1 - loss / 2))
        self.bitrate = max(self.min_bitrate, min(self.max_bitrate, bitrate))
        return self.bitrate
