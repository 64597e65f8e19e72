"""Chromium as a publisher under the SFU's own RTCP feedback (RR, REMB, NACK)."""

from __future__ import annotations

import time
from typing import Any, Callable

from tests.browser.conftest import Participant
from tests.browser.test_media import assert_sees, join, self_id
from tests.server import Server

PUBLISH_STATS_JS = """async () => {
  const pc = window.callsfu && window.callsfu.publishPc;
  if (!pc) return null;
  const out = {remote: [], pair: null};
  (await pc.getStats()).forEach(r => {
    if (r.type === 'remote-inbound-rtp') out.remote.push({kind: r.kind, rtt: r.roundTripTime,
      measurements: r.roundTripTimeMeasurements || 0, lost: r.packetsLost, fraction: r.fractionLost});
    if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate !== undefined)
      out.pair = r.availableOutgoingBitrate;
  });
  return out;
}"""


def test_a_browser_publisher_gets_our_receiver_reports_and_a_usable_estimate(
    server: Server, browsers: Callable[..., Participant]
) -> None:
    link = server.create_link("video", "Feedback")
    people = [browsers(i) for i in range(2)]
    for p, name in zip(people, ["Alice", "Bob"]):
        join(p, link["url"], name)
    ids = [self_id(p.page) for p in people]
    assert_sees(people[1], [(people[0], ids[0])])
    time.sleep(6)  # several report intervals
    stats: Any = people[0].page.evaluate(PUBLISH_STATS_JS)
    print("publisher stats under our feedback:", stats)
    video = [r for r in stats["remote"] if r["kind"] == "video"]
    # our RRs reach the browser, and their LSR/DLSR (from its SRs) let it
    # measure the round trip
    assert video and video[0]["measurements"] >= 2 and 0 <= video[0]["rtt"] < 1, stats
    assert video[0]["lost"] == 0, stats  # loopback: nothing lost
    # its bandwidth estimate is sized by our REMB: capped at the 1 Mbit/s we
    # announce while its camera sends less, and not pushed towards the floor
    assert stats["pair"] is not None and 250_000 <= stats["pair"] <= 1_000_000, stats
