"""A WHEP viewer of a simulcast speaker gets the full-size layer, and a lower
one when its REMB says its link is congested (the forwarding core and the
viewer's glue; no network: the layers are fed as a publisher sends them)."""

from __future__ import annotations

import random
import time

from sfu.admission import Admission
from sfu.call import Call
from sfu.routing.forwarder import Inbound, Outlet
from sfu.whep import Viewer
from tests.routing.test_simulcast import Publisher, feed, track


class Sink:
    """Where the viewer's section would send (nothing is sent before it is ready)."""

    def send(self, packet: bytes) -> None:
        raise AssertionError("a section that is not ready sent a packet")


def streaming(call: Call) -> tuple[list[Inbound[object]], Publisher, float]:
    layers: list[Inbound[object]] = track()  # type: ignore[assignment]
    pub = Publisher(random.Random(7))
    start = time.monotonic()
    for frame in range(31):  # a keyframe on every layer, then a second of video
        feed(call.forwarder, layers, pub, {0, 1, 2} if frame == 0 else set(), start + frame / 30)  # type: ignore[arg-type]
    return layers, pub, start + 1.0


async def test_a_whep_viewer_steps_down_while_its_remb_says_congested_and_not_before() -> None:
    call = Call(Admission("p_alice", "alice", "c1", "video", "t", 32))
    viewer = Viewer("v1", call, on_closed=lambda v: None)
    try:
        layers, _, now = streaming(call)
        outlet: Outlet[object] = Outlet("video", Sink())
        viewer.outlets["video"] = outlet  # type: ignore[assignment]
        viewer.follow({"video": layers[0]})  # type: ignore[dict-item]
        assert outlet.source is layers[2]  # a player is taken to show 1280x720: the top layer
        viewer.update_layers(now)
        assert outlet.target is None  # no REMB yet: the view alone decides
        viewer.bandwidth.on_remb(3_000_000, now)
        viewer.update_layers(now)
        assert outlet.target is None  # plenty
        viewer.bandwidth.on_remb(8_000, now + 0.1)  # below what it is sent (each test layer ~20 kbit/s)
        viewer.update_layers(now + 0.1)
        assert outlet.target is layers[0], "the congested player was not moved to the smallest layer"
    finally:
        await viewer.close()
        call.close()
