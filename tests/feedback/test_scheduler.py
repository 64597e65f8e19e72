"""One compound RTCP packet per transport per interval, NACKs in between."""

from __future__ import annotations

import random

from aiortc.rtp import RtcpPacket, RtcpPsfbPacket, RtcpRrPacket, RtcpRtpfbPacket, unpack_remb_fci

from sfu.feedback.scheduler import REPORT_MAX, REPORT_MIN, TransportFeedback

VIDEO, AUDIO = 0x1111, 0x2222


def test_regular_reports_carry_rr_and_remb_and_nacks_go_out_at_once() -> None:
    fb = TransportFeedback(0xABCD, rng=random.Random(1))
    fb.add_stream(VIDEO, 90000, nack=True)
    fb.add_stream(AUDIO, 48000, nack=False)
    rng = random.Random(2)
    now = 0.0
    sent: list[tuple[float, list[object]]] = []
    lost_video: set[int] = set()
    for i in range(3000):  # 30 s: 50 video (5 % lost) and 50 audio packets a second
        now = i * 0.01
        if rng.random() < 0.05 and i:
            lost_video.add(i)
        else:
            fb.on_media(VIDEO, i, i * 1800, int(now * 1000) + 20, 1000, now)
        fb.on_media(AUDIO, i, i * 960, int(now * 1000) + 20, 100, now)
        if i % 2 == 0:  # the timer: every 20 ms
            data = fb.poll(now)
            if data is not None:
                sent.append((now, RtcpPacket.parse(data)))
    regular = [(t, p) for t, p in sent if any(isinstance(x, RtcpPsfbPacket) for x in p)]
    gaps = [b[0] - a[0] for a, b in zip(regular, regular[1:])]
    assert 30 / REPORT_MAX - 2 <= len(regular) <= 30 / REPORT_MIN + 1
    assert all(REPORT_MIN - 0.02 <= g <= REPORT_MAX + 0.02 for g in gaps)
    for _, packets in sent:
        assert isinstance(packets[0], RtcpRrPacket) and packets[0].ssrc == 0xABCD  # compound: RR first
        assert {r.ssrc for r in packets[0].reports} == {VIDEO, AUDIO}
    nacked = {s for _, p in sent for x in p if isinstance(x, RtcpRtpfbPacket) for s in x.lost}
    assert nacked <= lost_video and all(s >= 2990 for s in lost_video - nacked)  # all but the last few ms
    assert all(x.media_ssrc == VIDEO for _, p in sent for x in p if isinstance(x, RtcpRtpfbPacket))
    last_remb = [x for x in regular[-1][1] if isinstance(x, RtcpPsfbPacket)][0]
    bitrate, ssrcs = unpack_remb_fci(last_remb.fci)
    assert sorted(ssrcs) == [VIDEO, AUDIO]
    assert bitrate >= 1_000_000 * (1 - 2**-17)  # 5 % loss holds the start value
    video_block = [r for r in regular[-1][1][0].reports if r.ssrc == VIDEO][0]
    # no RTX here: nothing repaired
    assert video_block.packets_lost == len({s for s in lost_video if s < video_block.highest_sequence})


def test_nothing_is_sent_before_the_first_interval_without_loss() -> None:
    fb = TransportFeedback(1, rng=random.Random(3))
    fb.add_stream(VIDEO, 90000, nack=True)
    assert fb.poll(0.0) is None
    for i in range(20):
        fb.on_media(VIDEO, i, 0, i, 1000, i / 100)
    assert fb.poll(0.3) is None  # no loss, and the first report is due after >= 0.5 s
    assert fb.poll(1.01) is not None


def test_streams_are_bounded_the_longest_silent_goes() -> None:
    fb = TransportFeedback(1, max_streams=2)
    fb.add_stream(1, 90000, nack=True)
    fb.add_stream(2, 90000, nack=True)
    fb.on_media(1, 0, 0, 0, 100, 5.0)
    fb.on_media(2, 0, 0, 0, 100, 6.0)
    fb.add_stream(3, 90000, nack=True)
    assert list(fb.streams) == [2, 3]
    fb.on_media(99, 0, 0, 0, 100, 7.0)  # unknown SSRC: counted for the rate, nothing else
    assert list(fb.streams) == [2, 3]


def test_a_retransmission_repairs_and_stops_the_nacks() -> None:
    fb = TransportFeedback(1, rng=random.Random(4))
    fb.add_stream(VIDEO, 90000, nack=True)
    fb.on_media(VIDEO, 100, 0, 0, 1000, 0.0)
    fb.on_media(VIDEO, 102, 0, 0, 1000, 0.0)
    first = fb.poll(0.02)
    assert first is not None
    assert [x.lost for x in RtcpPacket.parse(first) if isinstance(x, RtcpRtpfbPacket)] == [[101]]
    assert fb.on_rtx(VIDEO, 101, 1000)
    assert not fb.on_rtx(VIDEO, 101, 1000)  # the duplicate repairs nothing
    assert fb.poll(0.2) is None
