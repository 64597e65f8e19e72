"""The SFU offers one DTLS fingerprint per section, sha-256 (sfu/rtc/fingerprints.py); in a process of its own."""

from __future__ import annotations

import subprocess
import sys


def test_an_offer_carries_one_fingerprint_per_section() -> None:
    check = """
import asyncio
from aiortc import RTCPeerConnection
from sfu.rtc import fingerprints
fingerprints.install()
async def main():
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    pc.addTransceiver("video")
    await pc.setLocalDescription(await pc.createOffer())
    lines = [l for l in pc.localDescription.sdp.splitlines() if l.startswith("a=fingerprint:")]
    assert len(lines) == 2 and all(l.startswith("a=fingerprint:sha-256 ") for l in lines), lines
    await pc.close()
    print("ok")
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
