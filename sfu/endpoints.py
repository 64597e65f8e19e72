"""WHIP publishers and WHEP viewers of one SFU node, by resource id.

The control plane decides who may (the link, the seat, the viewer cap
comes from its configuration); this module admits them into the node's calls
and keeps the resources an HTTP ``DELETE`` ends. A resource id is a random
secret: knowing a call's link does not let anyone end someone else's session.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Union

from sfu.admission import Admission, Refused
from sfu.call import Call
from sfu.rtc import mux
from sfu.whep import Audience, Viewer
from sfu.whip import WhipSession, publish

if TYPE_CHECKING:
    from sfu.node import SfuNode

log = logging.getLogger("callsfu.sfu")

Resource = Union[WhipSession, Viewer]


class MediaEndpoints:
    def __init__(self, node: SfuNode, max_viewers: int) -> None:
        self.node = node
        self.max_viewers = max_viewers
        self.resources: dict[str, tuple[str, Resource]] = {}  # id -> (call id, session or viewer)
        self.audiences: dict[str, Audience] = {}

    def _call(self, admission: Admission) -> Call:
        call = self.node.calls.get(admission.call_id)
        if call is None:
            call = self.node.calls[admission.call_id] = Call(admission, loudest_audio=self.node.loudest_audio)
        return call

    async def publish(self, ticket: str, sdp: str) -> tuple[str, str]:
        """A WHIP publisher with a join ticket: (resource id, SDP answer).
        Refused: the ticket is bad, the call full, or the offer refused
        (SignalingError)."""
        admission = await self.node.gatekeeper.redeem(ticket)
        if admission is None:
            raise Refused("forbidden", "This join ticket is unknown, used or expired.")
        return await self.publish_admitted(admission, sdp)

    async def publish_admitted(self, admission: Admission, sdp: str) -> tuple[str, str]:
        """The same for a publisher already admitted (its ticket redeemed: by
        the gatekeeper, or by a front process for a worker); its seat is
        released through the node's gatekeeper when it leaves."""
        mux.current_mux.set(self.node.mux)  # its ICE gathers on the node's one port
        gatekeeper = self.node.gatekeeper
        call = self._call(admission)
        if not call.admit(admission):
            self.node._forget_if_empty(call)
            await gatekeeper.release(admission)
            raise Refused(
                "call_full",
                f"This call is full ({admission.max_participants} of {admission.max_participants}); try again when someone leaves.",
            )
        rid = secrets.token_urlsafe(18)

        async def release() -> None:
            call.discharge(admission)
            await gatekeeper.release(admission)

        def closed(session: WhipSession) -> None:
            self.resources.pop(rid, None)
            call.discharge(admission)
            self.node._forget_if_empty(call)

        session, answer = await publish(admission, call, sdp, release, closed)
        if session.closed.is_set():  # (ended while answering: a revocation)
            raise Refused("link_revoked", "This call link was revoked by its host; ask them for a new one.")
        self.resources[rid] = (admission.call_id, session)
        log.info("WHIP publisher %s (%s) joined a call", admission.participant_id, admission.name)
        return rid, answer

    async def view(self, call_of: Admission, sdp: str) -> tuple[str, str]:
        """A WHEP viewer of the call ``call_of`` describes: (resource id, SDP answer)."""
        mux.current_mux.set(self.node.mux)
        call = self._call(call_of)
        if len(call.viewers) >= self.max_viewers:
            self.node._forget_if_empty(call)
            raise Refused(
                "call_full", f"This call has {self.max_viewers} viewers already, the most it takes; try again later."
            )
        rid = secrets.token_urlsafe(18)
        audience = self.audiences.get(call.call_id)
        if audience is None or audience.call is not call:
            audience = self.audiences[call.call_id] = Audience(call)

        def closed(viewer: Viewer) -> None:
            self.resources.pop(rid, None)
            audience.remove(viewer)
            if not call.viewers and self.audiences.get(call.call_id) is audience:
                del self.audiences[call.call_id]
            self.node._forget_if_empty(call)

        viewer = Viewer(rid, call, closed)
        call.viewers[rid] = viewer  # counted from now on, so that racing viewers cannot pass the cap
        try:
            answer = await viewer.answer(sdp)
        except BaseException:
            await viewer.close()
            raise
        if viewer._closing:
            raise Refused("link_revoked", "This call link was revoked by its host; ask them for a new one.")
        audience.add(viewer)
        self.resources[rid] = (call.call_id, viewer)
        return rid, answer

    async def end(self, rid: str, call_id: str) -> bool:
        """End the session or viewer ``rid`` of call ``call_id``; False: no such resource."""
        found = self.resources.get(rid)
        if found is None or not secrets.compare_digest(found[0], call_id):
            return False
        await found[1].close()
        return True

    def viewer_count(self, call_id: str) -> int:
        call = self.node.calls.get(call_id)
        return 0 if call is None else len(call.viewers)

    async def close(self) -> None:
        await asyncio.gather(*(r.close() for _, r in list(self.resources.values())), return_exceptions=True)
