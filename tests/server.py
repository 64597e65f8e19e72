"""``callsfu serve`` in a subprocess on a free loopback port (media and browser tests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    unverified = ssl._create_unverified_context() if url.startswith("https") else None  # self-signed test certs
    try:
        with urllib.request.urlopen(req, timeout=10, context=unverified) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def interrupt(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop ``proc`` as a person would (Ctrl-C), and kill it if it has not
    exited within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """A real server process; ``wrapper`` replaces ``python -m control.cli``. One SFU
    worker process (``--workers 1``) unless told otherwise: :attr:`sfu_pid` is it."""

    def __init__(
        self, data_dir: Path, *extra: str, wrapper: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.env = {**os.environ, **env} if env else None
        self.port = free_port()
        scheme = "https" if "--tls-cert" in extra else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "server.log"
        self.cmd = [
            *(wrapper or [sys.executable, "-m", "control.cli"]), "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--ice-host", "127.0.0.1", "--data-dir", str(data_dir / "data"),
            *([] if "--workers" in extra or (env and "CALLSFU_WORKERS" in env) else ["--workers", "1"]), *extra,
        ]  # fmt: skip
        self.start()

    def start(self) -> None:
        """Start (or start again: same port, same store) and wait for /healthz."""
        self._sfu_pid: int | None = None
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=self.log_path.open("a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 45  # (the front and its worker import aiortc one after the other; slow on a busy machine)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if http("GET", self.url + "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"callsfu serve did not become healthy:\n{self.log()}")

    @property
    def sfu_pid(self) -> int:
        """The process forwarding the media (the first SFU worker's; asked once per start)."""
        if self._sfu_pid is None:
            status, body = http("GET", self.url + "/healthz")
            assert status == 200, body
            self._sfu_pid = int(body["workers"][0]["pid"])
        return self._sfu_pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def create_link(self, call_type: str = "video", title: str = "", e2ee: bool = False) -> dict[str, Any]:
        fields: dict[str, Any] = {"type": call_type, "title": title}
        if e2ee:
            fields["e2ee"] = True
        status, body = http("POST", self.url + "/api/links", fields)
        assert status == 201, body
        return dict(body)

    def revoke(self, token: str) -> None:
        status, body = http("DELETE", f"{self.url}/api/links/{token}")
        assert status == 204, body

    def stop(self) -> None:
        interrupt(self.proc)
