"""Subscriber sections are built without aiortc's receive-path state, and only they."""

from __future__ import annotations

import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from sfu.rtc.receiver_state import drop_idle_receiver, drop_receive_path, receivers_without_receive_path

ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"


@pytest.mark.asyncio
async def test_a_section_added_inside_the_swap_has_no_estimator_and_the_next_one_does() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        with receivers_without_receive_path():
            lean = pc.addTransceiver("video", direction="sendonly")
        full = pc.addTransceiver("video", direction="sendonly")  # e.g. a client peer in the same process
        assert getattr(lean.receiver, ESTIMATOR) is None
        assert getattr(lean.receiver, "_RTCRtpReceiver__jitter_buffer") is None
        assert getattr(full.receiver, ESTIMATOR) is not None
        drop_receive_path(lean.receiver)  # still fine on a lean receiver
    finally:
        await pc.close()


def test_the_swap_is_undone_when_the_code_inside_raises() -> None:
    saved = aiortc.rtcrtpreceiver.RemoteBitrateEstimator
    with pytest.raises(RuntimeError):
        with receivers_without_receive_path():
            raise RuntimeError("boom")
    assert aiortc.rtcrtpreceiver.RemoteBitrateEstimator is saved


@pytest.mark.asyncio
async def test_an_idle_receiver_lets_go_of_its_decoder_queue_and_still_stops_and_disconnects() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        idle = pc.addTransceiver("video", direction="sendonly")
        drop_idle_receiver(idle.receiver)
        assert getattr(idle.receiver, "_RTCRtpReceiver__decoder_queue") is None
        assert getattr(idle.receiver, "_RTCRtpReceiver__rtcp_started") is None
        assert getattr(idle.receiver, ESTIMATOR) is None
        idle.receiver._handle_disconnect()  # what aiortc does with it when the transport goes
        await idle.receiver.stop()
    finally:
        await pc.close()


@pytest.mark.asyncio
async def test_a_started_receiver_is_left_whole() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        setattr(receiver, "_RTCRtpReceiver__started", True)  # as receive() leaves it
        drop_idle_receiver(receiver)
        assert getattr(receiver, "_RTCRtpReceiver__decoder_queue") is not None
        setattr(receiver, "_RTCRtpReceiver__started", False)
    finally:
        await pc.close()
