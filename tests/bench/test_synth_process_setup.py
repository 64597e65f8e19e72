"""A load worker builds its receivers without aiortc's receive-path state for
its whole life (the swap once undid itself when its context manager was
collected), and caches certificate fingerprints. In a process of its own:
the swap is for the process."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
import aiortc.rtcrtpreceiver as receiver
from aiortc.rtcdtlstransport import RTCCertificate
from benchmarks.synth import without_receive_state
without_receive_state()
gc.collect()
assert receiver.RemoteBitrateEstimator.__name__ == "_unused", receiver.RemoteBitrateEstimator
assert receiver.JitterBuffer.__name__ == "_unused" and receiver.NackGenerator.__name__ == "_unused"
cert = RTCCertificate.generateCertificate()
assert cert.getFingerprints() == cert.getFingerprints() and cert.__dict__.get("_callsfu_fingerprints")
print("ok")
"""


def test_a_load_worker_keeps_the_receive_path_swap_and_the_fingerprint_cache() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


RECEIVE = """
import asyncio, threading
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from benchmarks.synth import use_loopback_only, without_receive_state
use_loopback_only()
without_receive_state()


class Silent(MediaStreamTrack):
    # sends nothing: a load worker's counters take every packet before aiortc's
    # receivers (which, without their receive path, cannot take one)
    kind = "audio"

    async def recv(self):
        await asyncio.Future()


async def main():
    a, b = RTCPeerConnection(), RTCPeerConnection()
    a.addTrack(Silent())
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    receiver = b.getReceivers()[0]
    for _ in range(200):
        if receiver._RTCRtpReceiver__started:
            break
        await asyncio.sleep(0.025)
    assert receiver._RTCRtpReceiver__started, b.connectionState
    assert receiver._RTCRtpReceiver__decoder_thread is None
    assert not [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
    assert not receiver._RTCRtpReceiver__rtcp_task.done()  # its receiver reports go out as in aiortc
    assert receiver._RTCRtpReceiver__decoder_queue is None  # nor a decoder queue
    await a.close()
    await b.close()
    print("ok")

asyncio.run(main())
"""


def test_a_load_worker_starts_receivers_without_a_decoder_thread() -> None:
    out = subprocess.run([sys.executable, "-c", RECEIVE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_the_vp8_payload_types_of_an_offer_are_noted() -> None:
    from benchmarks.synth import VP8_RTPMAP

    offer = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\na=rtpmap:97 VP8/90000\r\na=rtpmap:98 rtx/90000\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 100\r\na=rtpmap:100 vp8/90000\r\n")  # fmt: skip
    assert [int(pt) for pt in VP8_RTPMAP.findall(offer)] == [97, 100]

