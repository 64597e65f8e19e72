"""Baseline: Janus VideoRoom (Debian's ``janus``, C), on loopback.

Installed by ``benchmarks/install_janus.sh`` (idempotent). Configured in a
temporary directory: only the VideoRoom plugin and the HTTP transport
(127.0.0.1, a free port), ``event_loops`` = the core count (its best on this
machine: one thread per handle otherwise), ``debug_level`` 3, rooms created
with ``fir_freq`` 0 (no periodic keyframe requests). Janus/libnice skip
interfaces flagged loopback, so inside the benchmark's private namespace a
veth pair carries 127.0.0.1/32 (still unreachable from outside).
Participants drive it through the HTTP API (``benchmarks.synth``).
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, die_with_parent, free_port, http_json, stop_process, wait_http

LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
VETH = "jv0"


def prepare() -> str | None:
    """Install Janus if needed and give it a non-loopback 127.0.0.1. None, or why it can't run."""
    result = subprocess.run([str(ROOT / "benchmarks" / "install_janus.sh")], capture_output=True, text=True)
    if result.returncode != 0 or not shutil.which("janus"):
        return f"janus is not installed and could not be: {result.stderr.strip()[-300:]}"
    names = [n for _, n in socket.if_nameindex()]
    if VETH not in names:
        if any(n not in ("lo",) for n in names):
            return "refusing to add a veth pair outside the benchmark's private network namespace"
        for cmd in (["ip", "link", "add", VETH, "type", "veth", "peer", "name", "jv1"],
                    ["ip", "link", "set", VETH, "up"], ["ip", "link", "set", "jv1", "up"],
                    ["ip", "addr", "add", "127.0.0.1/32", "dev", VETH]):  # fmt: skip
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                return f"could not set up the veth pair Janus needs ({' '.join(cmd)}): {r.stderr.strip()}"
    return None


def _folder(dst: Path, src: Path, keep: list[str]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in keep:
        (dst / name).symlink_to(src / name)
    return dst


class JanusServer:
    name = "janus"
    driver = "janus"

    def __init__(self, workdir: Path, event_loops: int) -> None:
        conf = workdir / "janus"
        conf.mkdir()
        plugins = _folder(conf / "plugins", LIBDIR / "plugins", ["libjanus_videoroom.so"])
        transports = _folder(conf / "transports", LIBDIR / "transports", ["libjanus_http.so"])
        empty = _folder(conf / "none", LIBDIR, [])
        port = free_port()
        rtp = random.randrange(20000, 50000, 1000)
        (conf / "janus.jcfg").write_text(f"""
general: {{
    configs_folder = "{conf}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{empty}"
    loggers_folder = "{empty}"
    debug_level = 3
    debug_timestamps = false
    interface = "127.0.0.1"
    session_timeout = 120
    event_loops = {event_loops}
    hide_dependencies = true
}}
certificates: {{ }}
media: {{
    rtp_port_range = "{rtp}-{rtp + 999}"
    dtls_mtu = 1200
    nack_optimizations = false
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "127.0.0.1"
    ignore_mdns = true
    full_trickle = false
}}
plugins: {{ }}
transports: {{ }}
events: {{ broadcast = false }}
loggers: {{ }}
""")
        (conf / "janus.plugin.videoroom.jcfg").write_text("general: {\n    string_ids = false\n}\n")
        (conf / "janus.transport.http.jcfg").write_text(f"""
general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{ admin_http = false admin_https = false }}
cors: {{ }}
""")
        self.url = f"http://127.0.0.1:{port}/janus"
        self.log = workdir / "janus.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(["janus", "-F", str(conf), "-C", str(conf / "janus.jcfg"), "-N"],
                                         stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)  # fmt: skip
        self.pid = self.proc.pid
        wait_http(f"{self.url}/info", self.proc, "janus", self.log)

    def pids(self) -> list[int]:
        """The processes whose CPU and RSS are measured (the load test sums them)."""
        return [self.pid]

    def room(self, call_type: str) -> dict[str, Any]:
        _, created = http_json(self.url, {"janus": "create", "transaction": "r1"})
        sid = created["data"]["id"]
        _, attached = http_json(f"{self.url}/{sid}", {"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": "r2"})
        hid = attached["data"]["id"]
        room = random.randrange(1000, 1 << 30)
        body = {"request": "create", "room": room, "publishers": 64, "bitrate": 0, "fir_freq": 0,
                "audiocodec": "opus", "videocodec": "vp8", "notify_joining": False, "audiolevel_ext": False,
                "videoorient_ext": False, "playoutdelay_ext": False, "transport_wide_cc_ext": False}  # fmt: skip
        _, reply = http_json(f"{self.url}/{sid}/{hid}", {"janus": "message", "transaction": "r3", "body": body})
        data = reply.get("plugindata", {}).get("data", {})
        if data.get("videoroom") != "created":
            raise RuntimeError(f"janus: could not create a room: {reply}")
        http_json(f"{self.url}/{sid}", {"janus": "destroy", "transaction": "r4"})
        return {"url": self.url, "room": room}

    def stop(self) -> None:
        stop_process(self.proc)
