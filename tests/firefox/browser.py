"""Headless Firefox ESR for the tests, driven over WebDriver BiDi.

``tests/firefox/driver.mjs`` (puppeteer-core, installed into
``tests/firefox/node_modules`` by ``scripts/install-system-deps``) holds one
browser and answers JSON-line commands; :class:`Firefox` is its asyncio
client. One browser is reused across joins; each join is a fresh page, so a
fresh RTCPeerConnection.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tests.browser.support import TILE_COLOUR_JS  # the same call page in both browsers  # noqa: F401

HERE = Path(__file__).resolve().parent
FIREFOX = os.environ.get("CALLSFU_FIREFOX", "/usr/bin/firefox-esr")
DRIVER = HERE / "driver.mjs"


def missing() -> str | None:
    """Why the Firefox tests cannot run here (None: they can)."""
    if not Path(FIREFOX).exists():
        return f"no Firefox ESR at {FIREFOX} (scripts/install-system-deps installs it)"
    if shutil.which("node") is None:
        return "no node (scripts/install-system-deps installs nodejs)"
    if not (HERE / "node_modules" / "puppeteer-core" / "package.json").exists():
        return "puppeteer-core is not installed in tests/firefox (scripts/install-system-deps runs npm ci)"
    return None


class FirefoxError(RuntimeError):
    pass


class Firefox:
    """One headless Firefox ESR; ``open`` gives a page number for ``eval``/``close``."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._next = 0

    @classmethod
    async def launch(cls) -> Firefox:
        env = dict(os.environ, CALLSFU_FIREFOX=FIREFOX)
        proc = await asyncio.create_subprocess_exec(
            "node", str(DRIVER), cwd=HERE, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )  # fmt: skip
        browser = cls(proc)
        await browser.call("version", timeout=60)  # launched and answering
        return browser

    async def call(self, cmd: str, timeout: float = 30, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._next += 1
        msg_id = self._next
        self.proc.stdin.write((json.dumps({"id": msg_id, "cmd": cmd, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        while True:
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            except asyncio.TimeoutError:
                raise FirefoxError(f"Firefox driver gave no answer to {cmd} within {timeout} s") from None
            if not line:
                err = b""
                if self.proc.stderr is not None:
                    err = await self.proc.stderr.read()
                raise FirefoxError(f"Firefox driver exited: {err.decode(errors='replace')[-2000:]}")
            answer = json.loads(line)
            if answer.get("id") != msg_id:
                continue  # an answer to a command that timed out earlier
            if not answer["ok"]:
                raise FirefoxError(answer["error"])
            return answer["value"]

    async def open(self, url: str) -> int:
        return int(await self.call("open", url=url))

    async def eval(self, page: int, js: str, arg: Any = None, timeout: float = 30) -> Any:
        """Call the JavaScript function ``js`` in ``page`` with ``arg``; its (awaited) JSON value."""
        return await self.call("eval", timeout=timeout, page=page, js=js, arg=arg)

    async def logs(self, page: int) -> list[str]:
        return list(await self.call("logs", page=page))

    async def close_page(self, page: int) -> None:
        await self.call("close", page=page)

    async def quit(self) -> None:
        try:
            await self.call("quit", timeout=20)
        except (FirefoxError, BrokenPipeError, ConnectionResetError):
            pass
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# What the tests read from the call page (window.callsfu is its test hook).
STATE_JS = "() => window.callsfu ? window.callsfu.state : null"

# inbound-rtp video of the subscribe connection: packetsLost, framesDecoded...
INBOUND_VIDEO_JS = """async () => {
  const pc = window.callsfu && window.callsfu.subscribePc;
  if (!pc) return [];
  const out = [];
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video')
      out.push({mid: r.mid === undefined ? null : String(r.mid), ssrc: r.ssrc,
                packetsReceived: r.packetsReceived || 0, packetsLost: r.packetsLost || 0,
                framesDecoded: r.framesDecoded || 0, nackCount: r.nackCount || 0,
                bytesReceived: r.bytesReceived || 0});
  });
  return out;
}"""

async def wait_until(check: Any, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Await ``check()`` (a coroutine function) until it returns something true."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")
