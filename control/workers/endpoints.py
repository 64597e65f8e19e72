"""WHIP publishers and WHEP viewers when the SFU runs in worker processes.

The same interface as :class:`sfu.endpoints.MediaEndpoints` (what
``control/media_api.py`` calls), for ``--workers N``: the front redeems the
publisher's ticket, places the call like any join, and hands the admission
and the offer to the call's worker (``POST /whip`` or ``/whep`` on its unix
socket), whose own MediaEndpoints answers. The front keeps each resource's
worker, so a ``DELETE`` reaches it, and frees a publisher's seat once its
worker reports the session gone (or the worker died).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from control.links import LinkService
from control.workers.placement import Placement
from sfu.admission import Admission, Refused, admission_header
from sfu.signaling.messages import SignalingError

if TYPE_CHECKING:
    from control.workers.pool import Worker, WorkerPool

MEDIA_TIMEOUT = 20.0  # seconds a worker has to answer an offer
REPORT_LAG = 2.0  # seconds a worker's load report may lag behind a resource it opened


@dataclass(eq=False)
class _Resource:
    call_id: str
    placement: Placement
    publisher: Admission | None  # None: a WHEP viewer (no seat)
    viewer: bool
    created: float = field(default_factory=time.monotonic)


class RemoteEndpoints:
    def __init__(self, pool: WorkerPool, service: LinkService) -> None:
        self.pool = pool
        self.service = service
        self.resources: dict[str, _Resource] = {}

    async def publish(self, ticket: str, sdp: str) -> tuple[str, str]:
        admission = await self.service.redeem(ticket)
        if admission is None:
            raise Refused("forbidden", "This join ticket is unknown, used or expired.")
        try:
            return await self._open("/whip", admission, sdp, publisher=admission)
        except BaseException:
            await self.service.release(admission)
            raise

    async def view(self, call_of: Admission, sdp: str) -> tuple[str, str]:
        return await self._open("/whep", call_of, sdp, publisher=None)

    async def _open(self, path: str, admission: Admission, sdp: str, publisher: Admission | None) -> tuple[str, str]:
        placement = self.pool.place(admission.call_id)
        if placement is None or placement.worker.http is None:
            raise Refused("unavailable", "No SFU worker can take this call right now; try again in a moment.")
        self.pool.placements.connect(placement)
        try:
            body = {"admission": _fields(admission), "sdp": sdp}
            async with placement.worker.http.post(
                "http://worker" + path, json=body, timeout=aiohttp.ClientTimeout(total=MEDIA_TIMEOUT)
            ) as resp:
                answer: dict[str, Any] = await resp.json()
        except BaseException as exc:
            self.pool.placements.disconnect(placement)
            if isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError, ValueError)):
                raise Refused("unavailable", "The SFU worker for this call did not answer; try again.") from None
            raise
        if "rid" not in answer:
            self.pool.placements.disconnect(placement)
            if "signaling" in answer:
                raise SignalingError(answer["signaling"]["code"], answer["signaling"]["message"])
            refused = answer.get("refused") or {"code": "bad_request", "message": str(answer)}
            raise Refused(refused["code"], refused["message"])
        rid = str(answer["rid"])
        self.resources[rid] = _Resource(admission.call_id, placement, publisher, viewer=path == "/whep")
        return rid, str(answer["answer"])

    async def end(self, rid: str, call_id: str) -> bool:
        found = self.resources.get(rid)
        if found is None or not secrets.compare_digest(found.call_id, call_id):
            return False
        worker = found.placement.worker
        try:
            assert worker.http is not None
            async with worker.http.post("http://worker/end", json={"rid": rid, "call_id": call_id}) as resp:
                ended = bool((await resp.json()).get("ended"))
        except (aiohttp.ClientError, OSError, AssertionError, ValueError):
            ended = True  # its worker is gone: so is the session
        await self._closed(rid)
        return ended

    def viewer_count(self, call_id: str) -> int:
        return sum(1 for r in self.resources.values() if r.viewer and r.call_id == call_id)

    def still_open(self, worker: Worker, open_ids: set[str], lost: bool = False) -> None:
        """``worker`` reports the resources it still has; the others ended (a
        report may predate the newest: those are judged by the next one)."""
        settled = time.monotonic() - REPORT_LAG
        for rid, resource in list(self.resources.items()):
            if resource.placement.worker is worker and rid not in open_ids and (lost or resource.created < settled):
                self.resources.pop(rid, None)
                self.pool.placements.disconnect(resource.placement)
                if resource.publisher is not None:
                    self._release_soon(resource.publisher)

    async def _closed(self, rid: str) -> None:
        resource = self.resources.pop(rid, None)
        if resource is None:
            return
        self.pool.placements.disconnect(resource.placement)
        if resource.publisher is not None:
            await self.service.release(resource.publisher)

    def _release_soon(self, admission: Admission) -> None:
        asyncio.ensure_future(self.service.release(admission))

    async def close(self) -> None:
        """The workers end their own sessions when they stop."""
        self.resources.clear()


def _fields(admission: Admission) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(admission_header(admission))
    return fields
