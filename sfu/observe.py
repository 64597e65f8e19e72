"""What an SFU process reports about itself (``/metrics``, ``/api/stats``).

Nothing here runs per packet. The forwarding path already counts what is
needed: every subscriber section's :class:`~sfu.core.rewriter.Rewriter`
(Python or native) its packets and payload bytes, the publisher side's
receive statistics (``sfu/feedback``) the packets received per stream and the
bandwidth estimator the bytes. :meth:`Observer.snapshot` reads them when
asked. What is counted once per event (an RTX packet made for a NACK, a
keyframe request, a receiver report, a join) is counted there.

A participant's counters live as long as their session; when they leave the
call (:func:`retire`, called once, as they leave) they are added to the
process's :data:`TOTALS`, so the node's counters never go down.

A snapshot is a plain JSON-able dict: a front process can merge the
snapshots of several worker processes (:func:`merge`).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol

if TYPE_CHECKING:
    from sfu.call import Call
    from sfu.routing.forwarder import Outlet
    from sfu.session import Session

KINDS = ("audio", "video")
JOIN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds
RATE_INTERVAL = 1.0  # seconds: a bitrate is measured over at least this long


class Histogram:
    """Fixed buckets (upper bounds, then +Inf), their counts, the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        if not self.bounds:
            raise ValueError("a histogram needs at least one bucket bound")
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        i = 0
        while i < len(self.bounds) and value > self.bounds[i]:
            i += 1
        self.counts[i] += 1
        self.sum += value

    def as_dict(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum}


@dataclass(slots=True)
class Totals:
    """The process's counters of what finished sessions did, and per-event counts."""

    forwarded_packets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    forwarded_bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    rtx_packets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    received_packets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    received_bytes: int = 0
    keyframe_requests: int = 0
    joins: Histogram = field(default_factory=lambda: Histogram(JOIN_BUCKETS))


TOTALS = Totals()


def count_keyframe_request() -> None:
    TOTALS.keyframe_requests += 1


def observe_join(seconds: float) -> None:
    """A participant's first media connection came up ``seconds`` after admission."""
    TOTALS.joins.observe(seconds)


# -- receiver reports from subscribers ------------------------------------------------
class ReportBlock(Protocol):  # aiortc's RtcpReceiverInfo
    ssrc: int
    fraction_lost: int
    packets_lost: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(slots=True)
class Reception:
    """The subscriber's last receiver report about one of its sections."""

    fraction_lost: float  # 0..1, over the report's interval
    packets_lost: int  # cumulative
    jitter: float  # seconds
    rtt: float | None  # seconds, from our sender report it echoes (None before one)


def record_report(outlet: Outlet[Any], block: ReportBlock, clock_rate: int, ntp_now: int) -> None:
    """Keep ``block`` (about ``outlet``'s stream) on the outlet. ``ntp_now``:
    the 64-bit NTP time of its arrival, for the round trip (RFC 3550 6.4.1)."""
    rtt = None
    if block.lsr:
        middle = (ntp_now >> 16) & 0xFFFFFFFF
        delay = (middle - block.lsr - block.dlsr) & 0xFFFFFFFF
        if delay < 0x80000000:  # (a report from the future: clocks or a forger)
            rtt = delay / 65536
    outlet.report = Reception(block.fraction_lost / 256, block.packets_lost, block.jitter / clock_rate, rtt)


# -- per participant -------------------------------------------------------------------
@dataclass(slots=True)
class Counters:
    forwarded_packets: dict[str, int]
    forwarded_bytes: dict[str, int]
    rtx_packets: dict[str, int]
    received_packets: dict[str, int]
    received_bytes: int
    expected: int  # packets its published streams should have brought (RFC 3550 A.3)


def _empty() -> Counters:
    return Counters(dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0), 0, 0)


def _add_outlets(out: Counters, outlets: Iterable[Outlet[Any]]) -> None:
    for outlet in outlets:
        rewriter = outlet.rewriter
        if rewriter is not None:
            out.forwarded_packets[outlet.kind] += rewriter.packets_sent
            out.forwarded_bytes[outlet.kind] += rewriter.octets_sent
        out.rtx_packets[outlet.kind] += outlet.rtx_sent


def counters(session: Session) -> Counters:
    """What ``session`` has sent and received so far (read, not counted, here)."""
    out = _empty()
    _add_outlets(out, session.outlets)
    ingress = session.ingress
    for ssrc, stream in list(ingress.feedback.streams.items()):
        inbound = ingress.by_ssrc.get(ssrc)
        kind = inbound.kind if inbound is not None else "video"
        out.received_packets[kind] += stream.stats.received
        out.expected += stream.stats.expected
    out.received_bytes = ingress.feedback.estimator.total_bytes
    return out


def retire(session: Session) -> None:
    """``session`` left its call: keep its counts in the process's totals."""
    _retire(counters(session))


def retire_outlets(outlets: Iterable[Outlet[Any]]) -> None:
    """A WHEP viewer's outlets are gone: keep what was forwarded to them."""
    c = _empty()
    _add_outlets(c, outlets)
    _retire(c)


def _retire(c: Counters) -> None:
    for kind in KINDS:
        TOTALS.forwarded_packets[kind] += c.forwarded_packets[kind]
        TOTALS.forwarded_bytes[kind] += c.forwarded_bytes[kind]
        TOTALS.rtx_packets[kind] += c.rtx_packets[kind]
        TOTALS.received_packets[kind] += c.received_packets[kind]
    TOTALS.received_bytes += c.received_bytes


@dataclass(slots=True)
class _Sample:
    at: float
    bytes_out: int
    expected: int
    received: int
    bitrate_out: int = 0
    loss_in: float = 0.0


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Observer:
    """One process's view of its calls; keeps what bitrates are measured from."""

    def __init__(self, worker_id: int = 0) -> None:
        self.worker_id = worker_id
        self._samples: dict[str, _Sample] = {}

    def snapshot(self, calls: Iterable[Call], now: float) -> dict[str, Any]:
        totals = {
            "forwarded_packets": dict(TOTALS.forwarded_packets),
            "forwarded_bytes": dict(TOTALS.forwarded_bytes),
            "rtx_packets": dict(TOTALS.rtx_packets),
            "received_packets": dict(TOTALS.received_packets),
            "received_bytes": TOTALS.received_bytes,
            "keyframe_requests": TOTALS.keyframe_requests,
        }
        reception: list[dict[str, Any]] = []
        described: list[dict[str, Any]] = []
        seen: set[str] = set()
        calls = list(calls)
        for call in calls:
            people = []
            for pid, session in list(call.sessions.items()):
                seen.add(pid)
                c = counters(session)
                for key in ("forwarded_packets", "forwarded_bytes", "rtx_packets", "received_packets"):
                    for kind in KINDS:
                        totals[key][kind] += getattr(c, key)[kind]
                totals["received_bytes"] += c.received_bytes
                people.append(self._participant(session, c, now, reception))
            watching = _empty()
            for viewer in list((getattr(call, "viewers", None) or {}).values()):
                _add_outlets(watching, getattr(viewer, "outlets", {}).values())
            for key in ("forwarded_packets", "forwarded_bytes", "rtx_packets"):
                for kind in KINDS:
                    totals[key][kind] += getattr(watching, key)[kind]
            described.append(
                {
                    "id": call.call_id[:12],
                    "type": call.type,
                    "title": call.title,
                    "participants": people,
                    "viewers": len(getattr(call, "viewers", ()) or ()),
                }
            )
        for gone in set(self._samples) - seen:
            del self._samples[gone]
        participants = sum(len(c["participants"]) for c in described)
        viewers = sum(c["viewers"] for c in described)
        return {
            "calls": described,
            "totals": totals,
            "joins": TOTALS.joins.as_dict(),
            "reception": reception,
            "workers": [
                {
                    "id": self.worker_id,
                    "pid": os.getpid(),
                    "cpu_seconds": round(_cpu_seconds(), 3),
                    "calls": len(described),
                    "participants": participants,
                    "viewers": viewers,
                }
            ],
        }

    def _participant(self, session: Session, c: Counters, now: float, reception: list[dict[str, Any]]) -> dict[str, Any]:
        pid = session.admission.participant_id
        bytes_out = sum(c.forwarded_bytes.values())
        received = sum(c.received_packets.values())
        sample = self._samples.get(pid)
        if sample is None:
            sample = self._samples[pid] = _Sample(now, bytes_out, c.expected, received)
        elif now - sample.at >= RATE_INTERVAL:
            dt = now - sample.at
            expected = c.expected - sample.expected
            lost = expected - (received - sample.received)
            sample.bitrate_out = int((bytes_out - sample.bytes_out) * 8 / dt)
            sample.loss_in = max(0.0, lost / expected) if expected > 0 else 0.0
            sample.at, sample.bytes_out, sample.expected, sample.received = now, bytes_out, c.expected, received
        receives = []
        losses, rtts, jitters = [], [], []
        for outlet in session.outlets:
            source = outlet.source
            if source is None:
                continue
            entry: dict[str, Any] = {"participant_id": source.key.participant_id, "kind": outlet.kind}
            rid = getattr(source, "rid", None)
            if rid is not None:  # a simulcast layer: which one, and its picture size
                entry["layer"] = rid
                size = getattr(source, "frame_size", None)
                if size is not None:
                    entry["frame"] = f"{size[0]}x{size[1]}"
            report = outlet.report
            if isinstance(report, Reception):
                entry.update(fraction_lost=round(report.fraction_lost, 4), jitter_ms=round(report.jitter * 1000, 1))
                losses.append(report.fraction_lost)
                jitters.append(report.jitter)
                reception.append({"kind": outlet.kind, "fraction_lost": report.fraction_lost, "jitter": report.jitter})
                if report.rtt is not None:
                    entry["rtt_ms"] = round(report.rtt * 1000, 1)
                    rtts.append(report.rtt)
            receives.append(entry)
        published = sorted({k.kind for k in session.call.inbounds if k.participant_id == pid})
        return {
            "id": pid,
            "name": session.admission.name,
            "publishes": published,
            "bitrate_in": session.ingress.feedback.estimator.receive_rate,
            "bitrate_out": sample.bitrate_out,
            "loss_in": round(sample.loss_in, 4),
            "loss_out": round(statistics.fmean(losses), 4) if losses else None,
            "rtt_ms": round(statistics.median(rtts) * 1000, 1) if rtts else None,
            "jitter_ms": round(max(jitters) * 1000, 1) if jitters else None,
            "receives": receives,
            "packets_in": c.received_packets,
            "packets_out": c.forwarded_packets,
        }


def merge(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Several processes' snapshots as one (a front over worker processes)."""
    if not snapshots:
        return Observer().snapshot([], 0.0) | {"workers": []}
    merged: dict[str, Any] = {
        "calls": [c for s in snapshots for c in s["calls"]],
        "reception": [r for s in snapshots for r in s["reception"]],
        "workers": [w for s in snapshots for w in s["workers"]],
    }
    totals: dict[str, Any] = {}
    for s in snapshots:
        for key, value in s["totals"].items():
            if isinstance(value, dict):
                into = totals.setdefault(key, dict.fromkeys(KINDS, 0))
                for kind, n in value.items():
                    into[kind] = into.get(kind, 0) + n
            else:
                totals[key] = totals.get(key, 0) + value
    merged["totals"] = totals
    joins = snapshots[0]["joins"]
    merged["joins"] = {
        "bounds": joins["bounds"],
        "counts": [sum(s["joins"]["counts"][i] for s in snapshots) for i in range(len(joins["counts"]))],
        "sum": sum(s["joins"]["sum"] for s in snapshots),
    }
    return merged
