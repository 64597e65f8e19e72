"""``GET /metrics``: Prometheus text, every name prefixed ``callsfu_``.

Media counters are not counted here: at each scrape a collector reads the
SFU's snapshot (``sfu/observe.py``: the counters the forwarder and the native
fan-out already keep). What the control plane does itself (HTTP requests,
webhook deliveries) is counted as it happens, in this process's registry.
Served by ``control/operator.py`` (loopback or the API key).
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LOSS_BUCKETS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
JITTER_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)  # seconds


class Metrics:
    """One server's registry: the SFU collector and the control plane's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.sfu = SfuCollector()
        self.registry.register(self.sfu)
        self.http = Histogram(
            "callsfu_http_request_duration_seconds",
            "HTTP requests by method, route (its pattern, never a token) and status, in seconds",
            ("method", "route", "status"),
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.webhooks = Counter(
            "callsfu_webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, failed: retried, dropped: given up or queue full)",
            ("outcome",),
            registry=self.registry,
        )
        for outcome in ("delivered", "failed", "dropped"):
            self.webhooks.labels(outcome)

    def render(self, snapshot: dict[str, Any]) -> bytes:
        """The text of a scrape, the SFU's figures from ``snapshot`` (``sfu/observe.py``)."""
        self.sfu.snapshot = snapshot
        try:
            return generate_latest(self.registry)
        finally:
            self.sfu.snapshot = None


def _histogram(name: str, doc: str, values: list[float], bounds: tuple[float, ...]) -> HistogramMetricFamily:
    counts = [0] * (len(bounds) + 1)
    for v in values:
        i = 0
        while i < len(bounds) and v > bounds[i]:
            i += 1
        counts[i] += 1
    return _family(name, doc, bounds, counts, sum(values))


def _family(name: str, doc: str, bounds: tuple[float, ...] | list[float], counts: list[int], total: float) -> HistogramMetricFamily:
    cumulative, running = [], 0
    for bound, n in zip([*map(str, bounds), "+Inf"], counts):
        running += n
        cumulative.append((bound, running))
    return HistogramMetricFamily(name, doc, buckets=cumulative, sum_value=total)


class SfuCollector(Collector):
    """The media plane's figures, read from its snapshot at scrape time."""

    def __init__(self) -> None:
        self.snapshot: dict[str, Any] | None = None  # set for the scrape by Metrics.render

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        totals = snap["totals"]
        calls = snap["calls"]
        yield GaugeMetricFamily("callsfu_calls", "Calls with someone in them now", value=len(calls))
        yield GaugeMetricFamily("callsfu_participants", "Participants connected now (seats in use)", value=sum(len(c["participants"]) for c in calls))
        yield GaugeMetricFamily("callsfu_viewers", "WHEP viewers connected now (no seat)", value=sum(c.get("viewers", 0) for c in calls))
        for key, name, doc in (
            ("forwarded_packets", "callsfu_forwarded_packets", "RTP packets forwarded to subscribers, by kind (retransmissions not included)"),
            ("forwarded_bytes", "callsfu_forwarded_bytes", "RTP payload bytes forwarded to subscribers, by kind"),
            ("rtx_packets", "callsfu_rtx_packets", "RTX retransmissions sent to subscribers in answer to NACKs, by kind"),
            ("received_packets", "callsfu_received_packets", "RTP packets received from publishers (first transmissions), by kind"),
        ):
            family = CounterMetricFamily(name, doc, labels=("kind",))
            for kind, n in sorted(totals[key].items()):
                family.add_metric((kind,), n)
            yield family
        yield CounterMetricFamily("callsfu_received_bytes", "Bytes of RTP received from publishers", value=totals["received_bytes"])
        yield CounterMetricFamily("callsfu_keyframe_requests", "Keyframe requests (PLI) sent to publishers", value=totals["keyframe_requests"])
        reports = snap["reception"]
        yield _histogram(
            "callsfu_receiver_loss_ratio",
            "Fraction of packets lost in each subscriber's latest receiver report, one observation per received stream now",
            [r["fraction_lost"] for r in reports], LOSS_BUCKETS,
        )  # fmt: skip
        yield _histogram(
            "callsfu_receiver_jitter_seconds",
            "Interarrival jitter in each subscriber's latest receiver report, one observation per received stream now",
            [r["jitter"] for r in reports], JITTER_BUCKETS,
        )  # fmt: skip
        joins = snap["joins"]
        yield _family(
            "callsfu_join_seconds",
            "Seconds from a participant's admission (WebSocket accepted) to its first media connection up (ICE and DTLS)",
            joins["bounds"], joins["counts"], joins["sum"],
        )  # fmt: skip
        cpu = CounterMetricFamily("callsfu_worker_cpu_seconds", "CPU time (user + system) of each SFU process", labels=("worker",))
        load = GaugeMetricFamily("callsfu_worker_participants", "Participants on each SFU process", labels=("worker",))
        for worker in snap["workers"]:
            cpu.add_metric((str(worker["id"]),), worker["cpu_seconds"])
            load.add_metric((str(worker["id"]),), worker["participants"])
        yield cpu
        yield load


def route_of(request: web.Request) -> str:
    """The route's pattern (``/api/links/{token}``): a token never becomes a label."""
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


def http_middleware(metrics: Metrics) -> Callable[..., Any]:
    @web.middleware
    async def timed(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if not request.path.startswith("/ws/"):  # a WebSocket's "duration" is the whole call
                metrics.http.labels(request.method, route_of(request), str(status)).observe(time.perf_counter() - started)

    return timed
