"""Helpers for the browser tests: the server process, fake cameras, and what
the tests read from a page through its test hook (``window.callsfu``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tests.server import ROOT, Server, free_port, http

__all__ = ["ARTIFACTS", "COLOURS", "Server", "free_port", "http"]

ARTIFACTS = ROOT / "artifacts"

# Well separated colours (RGB) for the participants' fake cameras.
COLOURS: list[tuple[int, int, int]] = [
    (220, 40, 40),   # red
    (40, 190, 60),   # green
    (50, 70, 225),   # blue
    (230, 210, 40),  # yellow
    (200, 50, 200),  # magenta
]


# -- fake cameras -------------------------------------------------------------------
def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited range, what Chromium assumes for its fake camera's I420."""
    r, g, b = (c / 255.0 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return tuple(int(round(min(255.0, max(0.0, x)))) for x in (y, u, v))  # type: ignore[return-value]


def write_y4m(path: Path, rgb: tuple[int, int, int], width: int = 320, height: int = 240, fps: int = 15, frames: int = 30) -> Path:
    """A solid-colour clip: the y4m header, then raw I420 frames."""
    y, u, v = rgb_to_yuv(rgb)
    frame = (
        np.full(width * height, y, np.uint8).tobytes()
        + np.full((width // 2) * (height // 2), u, np.uint8).tobytes()
        + np.full((width // 2) * (height // 2), v, np.uint8).tobytes()
    )
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n")
            f.write(frame)
    return path



def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


INBOUND_JS = """async () => {
  const pc = window.callsfu && window.callsfu.subscribePc;
  if (!pc) return [];
  const midOf = new Map(pc.getTransceivers().filter(t => t.mid !== null).map(t => [t.receiver.track.id, t.mid]));
  const out = [];
  (await pc.getStats()).forEach(r => {
    if (r.type !== 'inbound-rtp') return;
    out.push({kind: r.kind, mid: String(r.mid !== undefined ? r.mid : midOf.get(r.trackIdentifier)),
              framesDecoded: r.framesDecoded || 0, packetsReceived: r.packetsReceived || 0,
              totalSamplesReceived: r.totalSamplesReceived || 0, bytesReceived: r.bytesReceived || 0});
  });
  return out;
}"""

OUTBOUND_JS = """async () => {
  const pc = window.callsfu && window.callsfu.publishPc;
  if (!pc) return [];
  const out = [];
  (await pc.getStats()).forEach(r => {
    if (r.type === 'outbound-rtp') out.push({kind: r.kind, mid: r.mid, packetsSent: r.packetsSent || 0,
      framesEncoded: r.framesEncoded || 0, bytesSent: r.bytesSent || 0});
  });
  return out;
}"""

def video_colour_js(find: str, arg: str = "pid") -> str:
    """A page function ``(arg) => [r, g, b]``: the mean colour of the video
    element the expression ``find`` selects, drawn into a small canvas; null
    until it has frames."""
    return f"""({arg}) => {{
  const v = {find};
  if (!v || !v.videoWidth || v.readyState < 2) return null;
  const c = document.createElement('canvas'); c.width = 40; c.height = 30;
  const g = c.getContext('2d', {{willReadFrequently: true}});
  g.drawImage(v, 0, 0, c.width, c.height);
  const d = g.getImageData(4, 4, c.width - 8, c.height - 8).data;
  let r = 0, gg = 0, b = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) {{ r += d[i]; gg += d[i+1]; b += d[i+2]; n++; }}
  return [r / n, gg / n, b / n];
}}"""


# Mean colour of a tile's video; null until it has frames.
TILE_COLOUR_JS = video_colour_js("document.querySelector(`.tile[data-participant-id=\"${pid}\"] video`)")


def inbound(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(INBOUND_JS))


def outbound(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(OUTBOUND_JS))


def tiles(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate("() => window.callsfu ? window.callsfu.tiles() : []"))


def state(page: Any) -> str | None:
    return page.evaluate("() => window.callsfu ? window.callsfu.state : null")  # type: ignore[no-any-return]


def colour_distance(a: Any, b: tuple[int, int, int]) -> float:
    return float(np.linalg.norm(np.subtract(a, b)))


def nearest(rgb: Any, palette: list[tuple[int, int, int]]) -> int:
    return int(np.argmin([colour_distance(rgb, c) for c in palette]))


class HeldSeat:
    """A participant that joined through the API and holds its seat with a live
    WebSocket (no media): enough to fill a call."""

    def __init__(self, base_url: str, token: str, name: str) -> None:
        import asyncio
        import threading

        status, body = http("POST", f"{base_url}/api/links/{token}/join", {"name": name})
        assert status == 200, body
        self.participant_id = body["participant_id"]
        self.welcome: dict[str, Any] | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: Any = None
        self._thread = threading.Thread(target=self._run, args=(body["ws_url"],), daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self.welcome is None:
            raise AssertionError("the held seat's WebSocket got no welcome")

    def _run(self, ws_url: str) -> None:
        import asyncio

        import aiohttp

        async def main() -> None:
            self._stop = asyncio.Event()
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(ws_url) as ws:
                    msg = await ws.receive(timeout=10)
                    self.welcome = json.loads(msg.data)
                    self._ready.set()
                    reader = asyncio.ensure_future(ws.receive())  # keep answering pings
                    stopper = asyncio.ensure_future(self._stop.wait())
                    while not self._stop.is_set():
                        done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                        if reader in done:
                            if reader.result().type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                                break
                            reader = asyncio.ensure_future(ws.receive())
                    reader.cancel()
                    stopper.cancel()
                    if not ws.closed:
                        await ws.send_str(json.dumps({"type": "leave"}))
                        await ws.close()

        try:
            self._loop.run_until_complete(main())
        finally:
            self._ready.set()
            self._loop.close()

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
