"""An SFU node: the calls it hosts and the WebSocket that admits participants."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from sfu.admission import Gatekeeper
from sfu.call import Call
from sfu.rtc import fingerprints
from sfu.rtc.ice import use_host_addresses
from sfu.session import Session
from sfu.signaling.messages import MAX_MESSAGE

log = logging.getLogger("callsfu.sfu")



class SfuNode:
    def __init__(self, gatekeeper: Gatekeeper, ice_hosts: list[str]) -> None:
        self.gatekeeper = gatekeeper
        self.calls: dict[str, Call] = {}
        use_host_addresses(ice_hosts)
        fingerprints.install()

    async def handle_ws(self, request: web.Request, ticket: str) -> web.StreamResponse:
        admission = await self.gatekeeper.redeem(ticket)
        if admission is None:
            return web.json_response(
                {
                    "error": {
                        "code": "forbidden",
                        "message": "This join ticket is unknown, used or expired; join again with POST /api/links/TOKEN/join.",
                    }
                },
                status=403,
            )
        # no aiohttp heartbeat (it drops a client whose pong is 1.5 s late); the
        # session pings itself and tolerates a few seconds of silence
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_MESSAGE, timeout=1.0)
        try:
            await ws.prepare(request)
        except Exception:
            await self.gatekeeper.release(admission)
            raise
        call = self.calls.get(admission.call_id)
        if call is None:
            call = self.calls[admission.call_id] = Call(admission)
        session = Session(admission, ws, call)
        try:
            await session.run()
        except Exception:
            log.exception("session %s failed", admission.participant_id)
        finally:
            await session.close()
            await self.gatekeeper.release(admission)
            if not call.sessions and self.calls.get(call.call_id) is call:
                call.close()
                del self.calls[call.call_id]
        return ws

    async def end_call(self, call_id: str, reason: str) -> None:
        """End a call for everyone (the link was revoked)."""
        call = self.calls.get(call_id)
        if call is None:
            return
        sessions = list(call.sessions.values())
        for session in sessions:
            session.send({"type": "ended", "reason": reason})
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    async def close(self) -> None:
        for call_id in list(self.calls):
            await self.end_call(call_id, "server_shutdown")
