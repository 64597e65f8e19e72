"""A local webhook receiver for tests: an aiohttp server in a thread of its own.

It verifies every delivery with the reference Standard Webhooks library
(``standardwebhooks``, not ours) and keeps what it got. ``hang=True`` makes
a receiver that accepts each request and never answers (a stuck endpoint).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.server import free_port


class Receiver:
    def __init__(self, secret: str, hang: bool = False) -> None:
        self.verifier = Webhook(secret)
        self.hang = hang
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.events: list[dict[str, Any]] = []  # verified deliveries, in arrival order
        self.ids: list[str] = []
        self.refused: list[str] = []  # deliveries whose signature did not verify
        self.requests = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the webhook receiver did not start")

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.requests += 1
        if self.hang:  # until the receiver closes (then it answers 503)
            assert self._stop is not None
            await self._stop.wait()
            return web.Response(status=503)
        try:
            event = self.verifier.verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            with self._lock:
                self.refused.append(str(exc))
            return web.Response(status=400)
        with self._lock:
            self.events.append(event)
            self.ids.append(request.headers["webhook-id"])
        return web.Response(status=204)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._stop = asyncio.Event()
        self._started.set()
        await self._stop.wait()
        await runner.cleanup()

    def of(self, link_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["data"].get("link_id") == link_id]

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def dumps(events: list[dict[str, Any]]) -> str:
    return json.dumps(events, indent=1)
