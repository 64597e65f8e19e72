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
