"""The load test's plumbing: a private network namespace, the servers under
test started and stopped, their CPU and memory read from /proc, the load
workers (benchmarks/synth.py) driven over pipes, progress on stderr.

Used by benchmarks/loadtest.py, benchmarks/memory.py, benchmarks/workers.py
and the Janus baseline.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
NETNS_RUN = ROOT / "scripts" / "netns-run"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- isolation ----------------------------------------------------------------------------------
def isolated() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def ensure_private_netns(argv: Sequence[str]) -> None:
    """Return inside a loopback-only namespace; otherwise re-exec under netns-run."""
    if isolated() or os.environ.get("CALLSFU_BENCH_NETNS") == "1":
        return
    if os.environ.get("CALLSFU_BENCH_REEXEC") == "1":
        sys.exit("loadtest: still not in a private network namespace after scripts/netns-run; refusing to run")
    os.environ["CALLSFU_BENCH_REEXEC"] = "1"
    sys.stdout.flush()
    os.execv(str(NETNS_RUN), [str(NETNS_RUN), sys.executable, "-m", "benchmarks.loadtest", *argv])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- /proc ------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            urllib.request.urlopen(url, timeout=1).read()
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not come up (exit code {proc.poll()}):\n{tail}")
        time.sleep(0.05)


# -- the servers under test ------------------------------------------------------------------------
class Target:
    name = ""
    pid = 0

    def pids(self) -> list[int]:
        """Every process of the server under test (callsfu: the front and its SFU workers)."""
        return [self.pid]

    def room(self, call_type: str) -> dict[str, Any]:
        raise NotImplementedError

    driver = "callsfu"


class CallsfuLike(Target):
    """callsfu serve, or the transcoding relay speaking the same protocol."""

    def __init__(self, name: str, workdir: Path, sfu_workers: int = 0) -> None:
        self.name = name
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        if name == "callsfu":
            # --workers 0: the SFU in this one process, whose CPU and RSS are measured (with
            # worker processes the calls would run in children /proc/PID does not count)
            cmd = [sys.executable, "-m", "control.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--ice-host", "127.0.0.1", "--data-dir", str(workdir / "data"), "--log-level", "warning",
                   "--workers", str(sfu_workers)]  # fmt: skip
        else:
            cmd = [sys.executable, "-m", "benchmarks.baselines.transcoding", "--port", str(port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSFU_")}
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=die_with_parent)  # fmt: skip
        self.pid = self.proc.pid
        wait_http(f"{self.base}/healthz", self.proc, name, self.log, timeout=60)
        self._pids = [self.pid]
        if name == "callsfu":
            status, body = http_json(f"{self.base}/healthz")
            self._pids += [int(w["pid"]) for w in body.get("workers", []) if w.get("pid") and w["pid"] != self.pid]

    def pids(self) -> list[int]:
        return self._pids

    def room(self, call_type: str) -> dict[str, Any]:
        status, body = http_json(f"{self.base}/api/links", {"type": call_type, "title": "loadtest"})
        if status != 201:
            raise RuntimeError(f"{self.name}: could not create a link: {status} {body}")
        return {"base": self.base, "token": body["token"]}

    def stop(self) -> None:
        stop_process(self.proc)


@contextlib.contextmanager
def start_target(name: str, workdir: Path, cores: int, sfu_workers: int = 0) -> Iterator[Target]:
    if name == "janus":
        from benchmarks.baselines.janus import JanusServer

        target: Any = JanusServer(workdir, event_loops=cores)
    else:
        target = CallsfuLike(name, workdir, sfu_workers)
    try:
        yield target
    finally:
        target.stop()


# -- worker processes ----------------------------------------------------------------------------------
class Workers:
    def __init__(self, count: int, clips: dict[str, list[bytes]]) -> None:
        from benchmarks.synth import worker_main

        ctx = multiprocessing.get_context("fork")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, clips), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def ask(self, commands: list[Any], timeout: float = 120) -> list[Any]:
        """Send one command per worker (None: skip), gather the replies."""
        asked = []
        for conn, cmd in zip(self.conns, commands):
            if cmd is not None:
                conn.send(cmd)
                asked.append(conn)
        replies = []
        deadline = time.monotonic() + timeout
        for conn in asked:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("a load worker did not answer in time")
            reply = conn.recv()
            if isinstance(reply, dict) and "error" in reply and isinstance(reply["error"], str) and "Traceback" in reply["error"]:
                raise RuntimeError(f"load worker failed:\n{reply['error']}")
            replies.append(reply)
        return replies

    def all(self, command: Any, timeout: float = 120) -> list[Any]:
        return self.ask([command] * len(self.conns), timeout)

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.procs:
            with contextlib.suppress(OSError):
                total += cpu_seconds(p.pid)
        return total

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.all(("stop",), timeout=20)
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
            if p.is_alive():
                p.kill()


# -- progress -------------------------------------------------------------------------------------------------
def progress(label: str, done: float, total: float, extra: str = "") -> None:
    width = 28
    filled = int(width * min(1.0, done / total)) if total else width
    sys.stderr.write(f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done:4.0f}/{total:.0f} s {extra:<30}")
    sys.stderr.flush()


def note(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
