"""Debian's ``simple-whip-client`` (GStreamer webrtcbin) as a WHIP encoder in tests.

What it needs on this Debian (installed by ``scripts/install-system-deps``:
``simple-whip-client``, ``gstreamer1.0-nice``, ``gstreamer1.0-plugins-{good,bad}``):

- it aborts at start ("libsoup2 symbols detected": it links libsoup-2.4
  while libnice's UPnP helper libgupnp-igd links libsoup-3), so it gets a
  stand-in ``libgupnp-igd-1.0.so.4`` with four no-op functions on
  ``LD_LIBRARY_PATH`` (no port mapping is wanted on loopback anyway);
- libnice skips interfaces flagged loopback, so inside the tests' private
  network namespace a veth pair carries 127.0.0.1/32 (still unreachable
  from outside), for as long as the fixture lives.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.server import interrupt

WHIP_CLIENT = shutil.which("whip-client")
VETH = "wv0"

IGD_STUB = r"""
/* A stand-in libgupnp-igd for tests: no UPnP port mapping. */
typedef unsigned long GType;
void *gupnp_simple_igd_thread_new(void) { return 0; }
GType gupnp_simple_igd_get_type(void) { return 0; }
void gupnp_simple_igd_add_port(void) {}
void gupnp_simple_igd_remove_port_local(void) {}
"""


def unavailable() -> str | None:
    """None, or why simple-whip-client cannot run here."""
    if WHIP_CLIENT is None:
        return (
            "simple-whip-client is not installed (scripts/install-system-deps installs it with apt-get;"
            " it could not here)"
        )
    if shutil.which("gcc") is None:
        return "no C compiler for the libgupnp-igd stand-in simple-whip-client needs"
    if os.environ.get("CALLSFU_IN_NETNS") != "1":
        return "not in the suite's private network namespace (where the veth pair libnice needs may be added)"
    return None


def igd_stub(directory: Path) -> Path:
    """Build the stand-in library into ``directory``; returns the directory."""
    source = directory / "igd.c"
    source.write_text(IGD_STUB)
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-Wl,-soname,libgupnp-igd-1.0.so.4", "-o", str(directory / "libgupnp-igd-1.0.so.4"), str(source)],
        check=True,
        capture_output=True,
    )
    return directory


@contextmanager
def loopback_for_libnice() -> Iterator[None]:
    """A veth pair holding 127.0.0.1/32 while in the block (private namespace only)."""
    names = {name for _, name in socket.if_nameindex()}
    if not names <= {"lo", VETH, "wv1", "jv0", "jv1"}:
        raise RuntimeError(f"refusing to add a veth pair outside the tests' private network namespace ({sorted(names)})")
    added = VETH not in names
    if added:
        for cmd in (["ip", "link", "add", VETH, "type", "veth", "peer", "name", "wv1"],
                    ["ip", "link", "set", VETH, "up"], ["ip", "link", "set", "wv1", "up"],
                    ["ip", "addr", "add", "127.0.0.1/32", "dev", VETH]):  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)
    try:
        yield
    finally:
        if added:
            subprocess.run(["ip", "link", "del", VETH], capture_output=True)


def pipelines(rgb: tuple[int, int, int], tone: float) -> tuple[str, str]:
    """(audio, video) pipelines: a sine tone and a solid colour, Opus and VP8."""
    colour = "0xff{:02x}{:02x}{:02x}".format(*rgb)
    audio = (
        f"audiotestsrc is-live=true wave=sine freq={tone} volume=0.3 ! audioconvert ! audioresample ! queue"
        " ! opusenc ! rtpopuspay pt=111 ssrc=11 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111"
    )
    video = (
        f"videotestsrc is-live=true pattern=solid-color foreground-color={colour}"
        " ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! queue"
        " ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=22 ! queue"
        " ! application/x-rtp,media=video,encoding-name=VP8,payload=96"
    )
    return audio, video


class WhipClient:
    """``whip-client`` publishing a colour and a tone to ``url`` (candidates in the offer)."""

    def __init__(self, url: str, rgb: tuple[int, int, int], tone: float, libdir: Path, log: Path) -> None:
        audio, video = pipelines(rgb, tone)
        env = {**os.environ, "LD_LIBRARY_PATH": str(libdir), "GST_DEBUG": "1"}
        self.log_path = log
        assert WHIP_CLIENT is not None
        self.proc = subprocess.Popen(
            [WHIP_CLIENT, "-n", "-o", "-u", url, "-A", audio, "-V", video],
            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop as a person would (Ctrl-C): it DELETEs its session, then exits."""
        interrupt(self.proc)
