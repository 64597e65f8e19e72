"""Webhooks: events POSTed to ``--webhook-url`` (repeatable), Standard Webhooks signed.

Each event is ``{"type", "timestamp", "data": {...}}`` (``timestamp``: when it
happened, ISO 8601 UTC). Headers (https://www.standardwebhooks.com/):
``webhook-id`` (the same on every retry of one event), ``webhook-timestamp``
(seconds, of this attempt) and, with ``--webhook-secret-file``,
``webhook-signature: v1,BASE64(HMAC-SHA256(key, "ID.TIMESTAMP.BODY"))``. The
secret is written the Standard Webhooks way, ``whsec_`` then the base64 of
the key (``whsec_$(openssl rand -base64 32)``).

Never in a call's way: :meth:`Webhooks.emit` only queues (a bounded queue per
URL; when it is full the oldest event is dropped and counted). One task per
URL delivers its events in order, each with retries and exponential
backoff; an event still refused after :data:`ATTEMPTS` tries is dropped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import deque
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import aiohttp


log = logging.getLogger("callsfu.webhooks")

EVENTS = ("link.created", "link.revoked", "call.started", "participant.joined", "participant.left", "call.ended")
QUEUE_LIMIT = 1000  # events waiting per URL
ATTEMPTS = 6  # tries per event: at 0, 0.5, 1.5, 3.5, 7.5, 15.5 s (plus each try's own time)
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 8.0
TIMEOUT = 5.0  # seconds per try
CLOSE_GRACE = 2.0  # seconds a shutting-down server gives its queued events


def signing_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_BASE64`` secret; ValueError when it is not one."""
    encoded = secret.strip().removeprefix("whsec_")
    encoded += "=" * (-len(encoded) % 4)  # (unpadded base64 is common)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "--webhook-secret must be 'whsec_' followed by base64 (Standard Webhooks), e.g."
            " whsec_$(openssl rand -base64 32)"
        ) from None
    if len(key) < 16:
        raise ValueError(f"--webhook-secret holds {len(key)} bytes; use at least 16 (24 to 64 recommended)")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (one ``v1`` signature)."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def event_time(t: float) -> str:
    """ISO 8601 UTC to the millisecond: events of one second keep their order."""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--webhook-url must be an http:// or https:// URL, not {url!r}")
    return url


@dataclass(frozen=True, slots=True)
class Event:
    msg_id: str
    body: bytes


class Endpoint:
    """One URL: its queue and its delivery task."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)  # for log lines: no credentials, no query
        self.label = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        self.queue: deque[Event] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class Webhooks:
    def __init__(
        self,
        urls: list[str],
        secret: str | None,
        *,
        count: Callable[[str], None] = lambda outcome: None,
        queue_limit: int = QUEUE_LIMIT,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_FIRST,
    ) -> None:
        self.endpoints = [Endpoint(check_url(u)) for u in urls]
        self.key = signing_key(secret) if secret else None
        self.count = count  # delivered / failed / dropped (the metrics counter)
        self.queue_limit = queue_limit
        self.attempts = attempts
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if not self.endpoints:
            return
        if self.key is None:
            log.warning("webhooks are sent unsigned: give --webhook-secret-file so receivers can verify them")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        loop = asyncio.get_running_loop()
        for endpoint in self.endpoints:
            endpoint.task = loop.create_task(self._deliver(endpoint))

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Stop delivering, after at most ``grace`` s for what is queued."""
        deadline = time.monotonic() + grace
        while any(e.queue for e in self.endpoints) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for endpoint in self.endpoints:
            if endpoint.task is not None:
                endpoint.task.cancel()
        await asyncio.gather(*(e.task for e in self.endpoints if e.task is not None), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        """Queue one event for every URL; never waits."""
        if not self.endpoints:
            return
        if type_ not in EVENTS:
            raise ValueError(f"unknown webhook event {type_!r}")
        body = json.dumps({"type": type_, "timestamp": event_time(time.time()), "data": data}).encode()
        event = Event("msg_" + secrets.token_urlsafe(18), body)
        for endpoint in self.endpoints:
            if len(endpoint.queue) >= self.queue_limit:
                endpoint.queue.popleft()
                self.count("dropped")
                log.warning("webhook queue for %s is full (%d): the oldest event dropped", endpoint.label, self.queue_limit)
            endpoint.queue.append(event)
            endpoint.wake.set()

    async def _deliver(self, endpoint: Endpoint) -> None:
        while True:
            if not endpoint.queue:
                endpoint.wake.clear()
                await endpoint.wake.wait()
                continue
            event = endpoint.queue[0]
            delivered = await self._send(endpoint, event)
            if endpoint.queue and endpoint.queue[0] is event:  # (not dropped for room meanwhile)
                endpoint.queue.popleft()
            if not delivered:
                self.count("dropped")
                log.warning("webhook %s to %s given up after %d tries", event.msg_id, endpoint.label, self.attempts)

    async def _send(self, endpoint: Endpoint, event: Event) -> bool:
        assert self._session is not None
        delay = self.backoff
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "webhook-id": event.msg_id,
                "webhook-timestamp": str(timestamp),
            }
            if self.key is not None:
                headers["webhook-signature"] = sign(self.key, event.msg_id, timestamp, event.body)
            try:
                async with self._session.post(endpoint.url, data=event.body, headers=headers, allow_redirects=False) as resp:
                    if 200 <= resp.status < 300:
                        self.count("delivered")
                        return True
                    reason = f"HTTP {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                reason = type(exc).__name__
            self.count("failed")
            log.info("webhook %s to %s failed (%s), try %d of %d", event.msg_id, endpoint.label, reason, attempt + 1, self.attempts)
        return False
