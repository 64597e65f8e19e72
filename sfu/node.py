"""An SFU node: the calls it hosts and the WebSocket that admits participants."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from sfu.admission import Admission, Gatekeeper
from sfu.call import Call
from sfu.events import EventSink
from sfu.logcontext import PARTICIPANT
from sfu.observe import Observer
from sfu.rtc import dtls_ciphers, fingerprints, mux, sdp_reuse, srtp_profiles
from sfu.rtc.ice import host_addresses, use_host_addresses
from sfu.session import CLOSE_TIMEOUT, Session
from sfu.load import LoadMeter
from sfu.signaling.messages import MAX_MESSAGE

log = logging.getLogger("callsfu.sfu")

END_CALL_TIMEOUT = 5.0  # seconds ending a call waits for its sessions' (bounded) closes


class SfuNode:
    def __init__(
        self, gatekeeper: Gatekeeper, ice_hosts: list[str], udp_port: int = 0, on_event: EventSink | None = None,
        loudest_audio: int = 3,
    ) -> None:
        self.gatekeeper = gatekeeper
        self.on_event = on_event  # call events (sfu/events.py): the control plane's webhooks
        self.observer = Observer()
        self.loudest_audio = loudest_audio  # each subscriber's audio: the N loudest (0: everyone's)
        self.calls: dict[str, Call] = {}
        self.ice_hosts = ice_hosts
        self.udp_port = udp_port
        self.mux: mux.UdpMux | None = None
        self.draining = False  # moving its calls away: admits nobody new
        self.load = LoadMeter()
        use_host_addresses(ice_hosts)
        fingerprints.install()
        sdp_reuse.install()  # a subscribe answer is parsed once, not twice
        srtp_profiles.install()
        dtls_ciphers.install()  # peers with RSA certificates (GStreamer) too

    async def start(self) -> int:
        """Open the UDP port all ICE/DTLS/SRTP of this node goes through; returns it."""
        mux.install()
        addresses = host_addresses(self.ice_hosts)
        self.mux = await mux.UdpMux.open(addresses, self.udp_port)
        if addresses:
            log.info("SFU media on UDP port %d (%s)", self.mux.port, ", ".join(addresses))
        else:
            log.warning("no address to offer ICE host candidates on; pass --ice-host")
        return self.mux.port

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
        return await self.handle_admitted(request, admission)

    async def handle_admitted(self, request: web.Request, admission: Admission) -> web.StreamResponse:
        """The participant's WebSocket, once its ticket was redeemed (here, or by
        the front process that proxies it to this worker)."""
        # this request's task, and every task it starts (its call's, its
        # session's), gathers ICE candidates on the node's one UDP port
        mux.current_mux.set(self.mux)
        PARTICIPANT.set(admission.participant_id)  # every log line of this task and those it starts names them
        if self.draining:
            await self.gatekeeper.release(admission)
            return web.json_response(
                {"error": {"code": "unavailable", "message": "This SFU is moving its calls elsewhere; join again."}},
                status=503,
            )
        call = self.calls.get(admission.call_id)
        if call is None:
            call = self.calls[admission.call_id] = Call(admission, self.on_event, self.loudest_audio)
        if not call.admit(admission):  # the store's count drifted, or a store without the cap
            self._forget_if_empty(call)
            await self.gatekeeper.release(admission)
            return web.json_response(
                {
                    "error": {
                        "code": "call_full",
                        "message": f"This call is full ({admission.max_participants} of {admission.max_participants});"
                        " try again when someone leaves.",
                    }
                },
                status=409,
            )
        # no aiohttp heartbeat (it drops a client whose pong is 1.5 s late); the
        # session pings itself and tolerates a few seconds of silence
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_MESSAGE, timeout=CLOSE_TIMEOUT)
        try:
            await ws.prepare(request)
        except Exception:
            call.discharge(admission)
            self._forget_if_empty(call)
            await self.gatekeeper.release(admission)
            raise
        async def release() -> None:  # the SFU's place and the store's seat, together
            call.discharge(admission)
            await self.gatekeeper.release(admission)

        session = Session(admission, ws, call, release=release)
        try:
            await session.run()
        except Exception:
            log.exception("session %s failed", admission.participant_id)
        finally:
            await self._retire(session, call, admission)
        return ws

    async def _retire(self, session: Session, call: Call, admission: Admission) -> None:
        """Close the session and forget its call once empty, even when the
        handler is cancelled meanwhile (aiohttp's ``handler_cancellation``,
        on by default in its test server, cancels it as the client's
        connection drops): the close goes on to its end and the call is not
        left behind with nobody in it."""

        def forget(_: object = None) -> None:
            call.discharge(admission)
            self._forget_if_empty(call)

        closing = asyncio.ensure_future(session.close())  # frees the seat first thing after leaving the call
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            closing.add_done_callback(forget)
            raise
        forget()

    def _forget_if_empty(self, call: Call) -> None:
        if call.empty and self.calls.get(call.call_id) is call:
            call.close()
            del self.calls[call.call_id]

    async def end_call(self, call_id: str, reason: str) -> None:
        """End a call for everyone (the link was revoked). Waits on nobody in
        particular: each session's close is bounded, and the call is out of
        the way (no new forwarding, seats freed) before the slowest finishes."""
        call = self.calls.get(call_id)
        if call is None:
            return
        call.end_reason = reason
        sessions = list(call.sessions.values())
        for session in sessions:
            session.send({"type": "ended", "reason": reason})
        closing = [asyncio.ensure_future(s.close()) for s in sessions]
        closing += [asyncio.ensure_future(v.close()) for v in list(call.viewers.values())]
        if closing:
            await asyncio.wait(closing, timeout=END_CALL_TIMEOUT)

    def snapshot(self) -> dict[str, Any]:
        """Counters, calls and participants of this process (sfu/observe.py)."""
        return self.observer.snapshot(self.calls.values(), time.monotonic())

    async def observe(self) -> dict[str, Any]:
        """:meth:`snapshot`, as the control plane asks for it (a front process
        awaits its workers' the same way)."""
        return self.snapshot()
    async def drain(self, reason: str) -> None:
        """Move every call elsewhere: each participant is asked to join again
        (``rejoin``: a new POST …/join places the call on another worker or
        node), then its session closes. Nobody new is admitted from now on."""
        self.draining = True
        sessions = [s for call in list(self.calls.values()) for s in call.sessions.values()]
        for session in sessions:
            session.send({"type": "rejoin", "reason": reason})
        closing = [asyncio.ensure_future(s.close()) for s in sessions]
        closing += [asyncio.ensure_future(v.close()) for call in list(self.calls.values()) for v in list(call.viewers.values())]
        if closing:
            await asyncio.wait(closing, timeout=END_CALL_TIMEOUT)

    def report(self, now: float) -> dict[str, float | int]:
        """What placement goes by: calls, participants, forwarded packets/s."""
        calls = list(self.calls.values())
        return {
            "calls": len(calls),
            "participants": sum(len(c.sessions) for c in calls),
            "forwarded_per_s": round(self.load.forwarded_per_s(calls, now), 1),
        }

    async def close(self) -> None:
        await asyncio.gather(*(self.end_call(call_id, "server_shutdown") for call_id in list(self.calls)))
        if self.mux is not None:
            dropped = ", ".join(f"{k}={v}" for k, v in sorted(self.mux.dropped.items())) or "none"
            log.info("UDP port %d closed; datagrams dropped: %s", self.mux.port, dropped)
            self.mux.close()
