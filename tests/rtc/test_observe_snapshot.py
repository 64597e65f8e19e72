"""Observer.snapshot over real forwarding objects: what /api/stats and /metrics read."""

from __future__ import annotations

from types import SimpleNamespace

from sfu.core.rewriter import Rewriter
from sfu.observe import Observer, Reception
from sfu.routing.forwarder import Forwarder, Inbound, Outlet
from sfu.routing.layout import TrackKey
from sfu.rtc.ingress import Ingress


def participant(pid: str, name: str, forwarder: Forwarder[object]) -> SimpleNamespace:
    return SimpleNamespace(
        admission=SimpleNamespace(participant_id=pid, name=name),
        outlets=[],
        ingress=Ingress(pid, forwarder, lambda inbound, receiver: None),  # type: ignore[arg-type]
    )


def test_the_snapshot_reads_the_counters_the_forwarding_keeps() -> None:
    forwarder: Forwarder[object] = Forwarder()
    ann, bob = participant("p_ann", "Ann", forwarder), participant("p_bob", "Bob", forwarder)
    layer: Inbound[object] = Inbound(TrackKey("p_ann", "video"), 96, {})
    layer.rid, layer.frame_size = "h", (640, 360)
    outlet: Outlet[object] = Outlet("video", object())
    outlet.source = layer
    outlet.rewriter = Rewriter(ssrc=1, payload_type=96, ext_ids={}, mid="1")
    outlet.rewriter.packets_sent, outlet.rewriter.octets_sent = 100, 50_000
    outlet.rtx_sent = 3
    outlet.report = Reception(fraction_lost=0.02, packets_lost=2, jitter=0.004, rtt=0.03)
    bob.outlets.append(outlet)
    ann.ingress.feedback.add_stream(1234, 90000, True)
    ann.ingress.by_ssrc[1234] = layer
    for seq in range(10):
        ann.ingress.feedback.streams[1234].stats.on_packet(seq, seq * 3000, seq * 33)
    call = SimpleNamespace(call_id="c" * 64, type="video", title="T", sessions={"p_ann": ann, "p_bob": bob},
                           inbounds={layer.key: layer}, viewers={})  # fmt: skip
    for s in (ann, bob):
        s.call = call
    observer = Observer()
    first = observer.snapshot([call], 100.0)  # type: ignore[list-item]
    totals = first["totals"]
    assert totals["forwarded_packets"]["video"] >= 100 and totals["rtx_packets"]["video"] >= 3
    assert totals["received_packets"]["video"] >= 10
    (c,) = first["calls"]
    assert c["id"] == "c" * 12 and [p["name"] for p in c["participants"]] == ["Ann", "Bob"]
    people = {p["name"]: p for p in c["participants"]}
    assert people["Ann"]["publishes"] == ["video"] and people["Bob"]["publishes"] == []
    assert people["Bob"]["receives"] == [
        {"participant_id": "p_ann", "kind": "video", "layer": "h", "frame": "640x360", "fraction_lost": 0.02, "jitter_ms": 4.0, "rtt_ms": 30.0}
    ]
    assert people["Bob"]["loss_out"] == 0.02 and people["Bob"]["rtt_ms"] == 30.0
    assert first["reception"] == [{"kind": "video", "fraction_lost": 0.02, "jitter": 0.004}]
    # a WHEP viewer's packets count as forwarded too
    watched: Outlet[object] = Outlet("audio", object())
    watched.rewriter = Rewriter(ssrc=2, payload_type=111, ext_ids={}, mid="0", clock_rate=48000)
    watched.rewriter.packets_sent = 40
    call.viewers = {"v_1": SimpleNamespace(outlets={"audio": watched})}
    with_viewer = observer.snapshot([call], 101.0)["totals"]  # type: ignore[list-item]
    assert with_viewer["forwarded_packets"]["audio"] == totals["forwarded_packets"]["audio"] + 40
    assert with_viewer["forwarded_packets"]["video"] == totals["forwarded_packets"]["video"]
    # a bitrate needs two looks at least a second apart
    outlet.rewriter.octets_sent += 125_000
    second = observer.snapshot([call], 102.0)  # type: ignore[list-item]
    bob_now = next(p for p in second["calls"][0]["participants"] if p["name"] == "Bob")
    assert bob_now["bitrate_out"] == 1_000_000  # 125,000 bytes in the second since the look at 101
