"""Receive statistics of one publisher stream (RFC 3550 appendix A.1, A.3, A.8).

Fed with every first transmission of the stream (retransmissions arrive on
the RTX stream and are left out, so the report tells the publisher the
loss of its network path, as libwebrtc's receive statistics do); reports
the block of a receiver report: extended highest sequence number,
cumulative and fractional loss, interarrival jitter, and LSR/DLSR from the
publisher's last sender report.

Sequence numbers follow A.1 without the probation period: the stream is
known from signaling, so the first packet starts it. A jump of more than
MAX_DROPOUT ahead or MAX_MISORDER behind is not counted unless the next
packet follows it (then the statistics restart there, as A.1's
``init_seq``). Duplicates count as received (A.3: "lost" may go negative;
it is clamped to 24 signed bits in the report).

Times: ``arrival_ms`` is the packet's arrival in milliseconds on any clock
(only differences matter, converted to timestamp units with the clock
rate); ``now`` (seconds, any monotonic origin) dates sender reports and
reports for DLSR.
"""

from __future__ import annotations

from .rtcp import ReportBlock

__all__ = ["MAX_DROPOUT", "MAX_MISORDER", "ReceiveStatistics"]

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100


class ReceiveStatistics:
    __slots__ = (
        "ssrc",
        "clock_rate",
        "started",
        "max_seq",
        "cycles",
        "base_seq",
        "bad_seq",
        "received",
        "expected_prior",
        "received_prior",
        "_transit",
        "_jitter_q4",
        "_lsr",
        "_lsr_at",
    )

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError(f"SSRC must be 32-bit, got {ssrc}")
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.started = False
        self.max_seq = 0
        self.cycles = 0  # count of sequence number wraps, times 2^16
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1  # so that seq == bad_seq is false
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self._transit: int | None = None
        self._jitter_q4 = 0  # jitter in timestamp units, times 16 (A.8, integer form)
        self._lsr = 0
        self._lsr_at: float | None = None

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def on_packet(self, seq: int, timestamp: int, arrival_ms: int) -> bool:
        """One packet of the stream arrived. False: not counted (a jump that
        has not been confirmed by the packet after it)."""
        if not self.started:
            self.started = True
            self._init_seq(seq)
        else:
            udelta = (seq - self.max_seq) & 0xFFFF
            if udelta < MAX_DROPOUT:
                if seq < self.max_seq:
                    self.cycles += RTP_SEQ_MOD  # wrapped
                self.max_seq = seq
            elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
                if seq == self.bad_seq:
                    self._init_seq(seq)  # two in a row: the source restarted
                    self._transit = None
                else:
                    self.bad_seq = (seq + 1) & 0xFFFF
                    return False
            # else: a duplicate or a reordered packet, counted below
        self.received += 1
        # A.8: transit time in timestamp units, its variation smoothed by 1/16
        transit = arrival_ms * self.clock_rate // 1000 - timestamp
        last = self._transit
        self._transit = transit
        if last is not None:
            d = transit - last
            # the 32-bit timestamp may have wrapped between the two packets
            d = ((d + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            if d < 0:
                d = -d
            self._jitter_q4 += d - ((self._jitter_q4 + 8) >> 4)
        return True

    def on_sender_report(self, ntp_timestamp: int, now: float) -> None:
        """The publisher's SR for this stream arrived at ``now``."""
        self._lsr = (ntp_timestamp >> 16) & 0xFFFFFFFF
        self._lsr_at = now

    @property
    def extended_highest(self) -> int:
        return (self.cycles + self.max_seq) & 0xFFFFFFFF

    @property
    def expected(self) -> int:
        return self.cycles + self.max_seq - self.base_seq + 1 if self.started else 0

    @property
    def lost(self) -> int:
        """Cumulative number of packets lost (negative with duplicates)."""
        return self.expected - self.received

    @property
    def jitter(self) -> int:
        return self._jitter_q4 >> 4

    def report(self, now: float) -> ReportBlock | None:
        """The report block for an RR sent at ``now``; starts the next
        fraction-lost interval. None before the first packet."""
        if not self.started:
            return None
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if self._lsr_at is not None:
            delay = now - self._lsr_at
            if 0 < delay < 65536:
                dlsr = int(delay * 65536)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=max(-0x800000, min(0x7FFFFF, self.lost)),
            highest_sequence=self.extended_highest,
            jitter=self.jitter & 0xFFFFFFFF,
            lsr=self._lsr if self._lsr_at is not None else 0,
            dlsr=dlsr,
        )
