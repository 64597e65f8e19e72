"""One sender-report task per subscriber connection (aiortc glue).

Replaces aiortc's task per ``RTCRtpSender`` (see ``sfu/feedback/sender_reports.py``):
about once a second, every outgoing stream of the connection that has started
is reported in compound packets sent through its DTLS transport.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu.feedback.sender_reports import SenderState, compound_sender_reports
from sfu.routing.forwarder import Outlet

log = logging.getLogger("callsfu.sfu")

INTERVAL = 1.0  # seconds, varied over [0.5, 1.5] × as RFC 3550 6.3.1 asks


class SenderReports:
    def __init__(self) -> None:
        self._streams: list[Outlet[Any]] = []
        self._dtls: RTCDtlsTransport | None = None
        self._cname = ""
        self._task: asyncio.Task[None] | None = None

    def add(self, outlet: Outlet[Any], dtls: RTCDtlsTransport, cname: str) -> None:
        """``outlet`` started sending on ``dtls``: report it from now on."""
        if outlet not in self._streams:
            self._streams.append(outlet)
        self._dtls, self._cname = dtls, cname
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def packets(self, ntp: int) -> list[bytes]:
        streams = [
            SenderState(r.ssrc, r.last_timestamp, r.packets_sent, r.octets_sent)
            for r in (o.rewriter for o in self._streams)
            if r is not None
        ]
        return compound_sender_reports(streams, self._cname, ntp)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL * (0.5 + random.random()))
            dtls = self._dtls
            if dtls is None or dtls._tx_srtp is None:
                continue
            for packet in self.packets(clock.current_ntp_time()):
                try:
                    await dtls._send_rtp(packet)
                except Exception as exc:  # a closed transport: nothing to report to
                    log.debug("sender report not sent: %r", exc)
                    return
