"""One UDP port per SFU process: every ICE connection shares one socket per host address.

aioice opens a socket per connection; mediasoup's WebRtcServer and LiveKit's
UDP mux instead receive everything on one port and tell connections apart:

- a datagram from a known remote address goes to the connection that address
  belongs to;
- from a new address, only a STUN binding request is accepted: its USERNAME
  is ``OURUFRAG:THEIRUFRAG``, and the connection whose local ufrag it names
  (and whose password signs it) learns the address. A STUN success response
  to a check we sent to that very address (and signed with the remote
  password) does the same. Anything else from a new address is dropped and
  counted;
- a connection keeps at most :data:`MAX_ADDRESSES` addresses (the oldest that
  is not its nominated pair goes first), and closing it forgets its ufrag and
  addresses.

What arrives is sorted by its first byte (RFC 7983): STUN goes to the
connection's aioice protocol, DTLS to aioice's queue (bounded, read by
aiortc's DTLS transport), and SRTP/SRTCP never goes through either: it is
decrypted here with the DTLS transport's ``_rx_srtp`` (what comes before our
end of the handshake is done waits, bounded, in order) and handed over at
once: RTP to ``dtls._callsfu_on_rtp`` and RTCP to ``dtls._callsfu_on_rtcp``
when the ingress registered them (a publisher's transport), else to aiortc's
``_handle_rtp_data`` / ``_handle_rtcp_data`` (and the wrappers the egress put
on them), run synchronously (:func:`sfu.rtc.drive.run_now`).

aioice is reached through one seam: ``Connection.get_component_candidates``
gives the connection host candidates on the mux's port when a mux is current
(:data:`current_mux`, set by the SFU around its sessions), and behaves as
before otherwise (test peers in the same process keep their own sockets).
Each connection's protocol gets a :class:`Route` as its transport:
``get_extra_info("socket")`` answers the shared socket and ``sendto`` reaches
any address.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import time
import weakref
from collections import Counter
from typing import Any, Callable

import aioice.ice
import pylibsrtp
from aioice import stun
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import Connection, StunProtocol
from aiortc.rtcdtlstransport import RTCDtlsTransport, State

from sfu.logcontext import about
from sfu.rtc.drive import run_now

log = logging.getLogger("callsfu.sfu")

MAX_ADDRESSES = 8  # remote addresses one connection may use on one socket
MAX_TRANSACTIONS = 4096  # checks sent to addresses not learned yet, per socket
MAX_QUEUED = 64  # DTLS datagrams waiting in one connection's aioice queue
MAX_EARLY_SRTP = 128  # SRTP held while the connection's DTLS handshake completes
SOCKET_BUFFER = 4 * 1024 * 1024  # the kernel caps it at net.core.[rw]mem_max
BIND_ATTEMPTS = 20  # port 0 with several host addresses: retry when one is taken
NTP_EPOCH_MS = 2208988800 * 1000  # aiortc's arrival times count from 1900

Address = tuple[str, int]

current_mux: contextvars.ContextVar[UdpMux | None] = contextvars.ContextVar("callsfu_mux", default=None)


class Route(asyncio.DatagramTransport):
    """One ICE connection on one host socket: aioice's protocol's transport."""

    def __init__(self, host: HostSocket, protocol: StunProtocol, connection: Connection) -> None:
        super().__init__()
        self.host = host
        self.protocol = protocol
        self.connection = connection
        self.component = protocol.local_candidate.component
        self.ufrag = connection.local_username
        self.addresses: dict[Address, None] = {}  # insertion order: oldest first
        self.closed = False
        self._dtls: RTCDtlsTransport | None = None
        self._early: list[bytes] | None = None  # SRTP that came before our end of DTLS was up

    # -- asyncio.DatagramTransport, as aioice uses it ----------------------------
    def sendto(self, data: Any, addr: Any = None) -> None:
        if self.closed:
            return
        host = self.host
        if data[:2] == b"\x00\x01" and addr not in host.by_addr:
            host.expect_response(bytes(data[8:20]), self, addr)  # a check to an address not learned yet
        host.transport.sendto(data, addr)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return (self.protocol.local_candidate.host, self.host.port)
        if name == "socket":
            return self.host.transport.get_extra_info("socket")
        return default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._early = None
        self.host.forget(self)
        asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    # -- addresses ------------------------------------------------------------------
    def learn(self, addr: Address) -> None:
        if len(self.addresses) >= MAX_ADDRESSES:
            pair = self.connection._nominated.get(self.component)
            keep = pair.remote_addr if pair is not None and pair.protocol is self.protocol else None
            for old in self.addresses:
                if old != keep:
                    del self.addresses[old]
                    if self.host.by_addr.get(old) is self:
                        del self.host.by_addr[old]
                    self.host.dropped["address_evicted"] += 1
                    break
        self.addresses[addr] = None
        self.host.by_addr[addr] = self

    # -- datagrams in ------------------------------------------------------------------
    def deliver(self, data: bytes, addr: Address) -> None:
        first = data[0]
        if 127 < first < 192:
            self._srtp(data)
        elif first < 4:
            try:
                message = stun.parse_message(data)
            except ValueError:
                self.host.dropped["bad_stun"] += 1
                return
            self.deliver_stun(message, addr)
        elif 19 < first < 64:
            queue = self.connection._queue
            if queue.qsize() >= MAX_QUEUED:
                self.host.dropped["queue_full"] += 1
                return
            self.connection.data_received(data, self.component)
        else:
            self.host.dropped["junk"] += 1

    def deliver_stun(self, message: stun.Message, addr: Address) -> None:
        """What aioice's ``StunProtocol.datagram_received`` does with a parsed message."""
        cls = message.message_class
        if cls == stun.Class.REQUEST:
            self.connection.request_received(message, addr, self.protocol)
            return
        transaction = self.protocol.transactions.get(message.transaction_id)
        if transaction is not None:
            transaction.response_received(message, addr)
        else:
            self.host.dropped["stray_stun"] += 1

    def _srtp(self, data: bytes) -> None:
        dtls = self._dtls or self._find_dtls()
        if dtls is None or dtls._state is not State.CONNECTED or dtls._rx_srtp is None or self._early is not None:
            self._hold(data, dtls)
            return
        rtcp = len(data) > 1 and 191 < data[1] < 209  # aiortc's is_rtcp
        try:
            plain = dtls._rx_srtp.unprotect_rtcp(data) if rtcp else dtls._rx_srtp.unprotect(data)
        except pylibsrtp.Error:
            self.host.dropped["srtp_unprotect"] += 1
            return
        if rtcp:
            on_rtcp: Callable[[bytes], None] | None = dtls.__dict__.get("_callsfu_on_rtcp")
            if on_rtcp is None:
                run_now(dtls._handle_rtcp_data(plain), dtls.__dict__.get("_callsfu_participant"))
                return
            try:
                on_rtcp(plain)
            except Exception:
                log.exception("RTCP hand-over failed; packet dropped", extra=about(dtls.__dict__.get("_callsfu_participant")))
            return
        arrival_time_ms = int(time.time() * 1000) + NTP_EPOCH_MS
        on_rtp: Callable[[bytes, int], None] | None = dtls.__dict__.get("_callsfu_on_rtp")
        if on_rtp is None:
            run_now(dtls._handle_rtp_data(plain, arrival_time_ms), dtls.__dict__.get("_callsfu_participant"))
            return
        try:
            on_rtp(plain, arrival_time_ms)
        except Exception:  # the ingress never raises; if it did, one packet is lost
            log.exception("RTP hand-over failed; packet dropped", extra=about(dtls.__dict__.get("_callsfu_participant")))

    def _hold(self, data: bytes, dtls: RTCDtlsTransport | None) -> None:
        """SRTP before our end of the handshake is done (the peer's final flight
        still waits in aioice's queue): kept, in order, until DTLS is up, as
        aiortc's queue would have kept it. Without a DTLS transport: dropped."""
        if dtls is None or dtls._state in (State.FAILED, State.CLOSED) or self.closed:
            self.host.dropped["srtp_before_dtls"] += 1
            return
        if self._early is None:
            self._early = []
            dtls.on("statechange", self._dtls_state_changed)
        if len(self._early) >= MAX_EARLY_SRTP:
            self.host.dropped["srtp_before_dtls"] += 1
            return
        self._early.append(data)

    def _dtls_state_changed(self) -> None:
        dtls = self._dtls
        if dtls is None or self._early is None:
            return
        if dtls._state is State.CONNECTED:
            # after the task that connected it has also started its receivers
            # (aiortc does so right after, in the same step): then in order
            asyncio.get_running_loop().call_soon(self._release_early)
        elif dtls._state in (State.FAILED, State.CLOSED):
            self.host.dropped["srtp_before_dtls"] += len(self._early)
            self._early = None

    def _release_early(self) -> None:
        early, self._early = self._early, None
        for data in early or ():
            self._srtp(data)

    def _find_dtls(self) -> RTCDtlsTransport | None:
        ref = getattr(self.connection, "_callsfu_dtls", None)
        self._dtls = ref() if ref is not None else None
        return self._dtls


class HostSocket(asyncio.DatagramProtocol):
    """The shared socket of one host address, and who is behind each remote address."""

    def __init__(self, address: str, port: int, dropped: Counter[str]) -> None:
        self.address = address
        self.port = port
        self.dropped = dropped
        self.transport: asyncio.DatagramTransport = None  # type: ignore[assignment]
        self.by_addr: dict[Address, Route] = {}
        self.by_ufrag: dict[str, list[Route]] = {}
        self.transactions: dict[bytes, tuple[Route, Address]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def error_received(self, exc: Exception) -> None:
        self.dropped["socket_error"] += 1  # an ICMP error for something we sent

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not data:
            self.dropped["junk"] += 1
            return
        addr = (addr[0], addr[1])
        route = self.by_addr.get(addr)
        if route is not None:
            route.deliver(data, addr)
        else:
            self._from_new_address(data, addr)

    def _from_new_address(self, data: bytes, addr: Address) -> None:
        if len(data) < 20 or data[0] > 1:  # only STUN requests and responses can introduce an address
            self.dropped["unknown_address"] += 1
            return
        try:
            message = stun.parse_message(data)
        except ValueError:
            self.dropped["bad_stun"] += 1
            return
        if message.message_class == stun.Class.REQUEST:
            route = self._by_username(message)
            if route is None:
                return
            route.learn(addr)
        else:
            entry = self.transactions.pop(message.transaction_id, None)
            if entry is None or entry[1] != addr or entry[0].closed:
                self.dropped["unknown_address"] += 1
                return
            route = entry[0]
            password = route.connection.remote_password
            if (
                message.message_class == stun.Class.RESPONSE
                and password is not None
                and message.check_message_integrity(password.encode("utf8"))
            ):
                route.learn(addr)  # the peer answered our check from where we sent it
        route.deliver_stun(message, addr)

    def _by_username(self, message: stun.Message) -> Route | None:
        username = message.attributes.get("USERNAME")
        routes = self.by_ufrag.get(username.partition(":")[0]) if isinstance(username, str) else None
        if not routes:
            self.dropped["unknown_ufrag"] += 1
            return None
        for route in routes:  # ufrags are 4 random characters: tell collisions apart by password
            if message.check_message_integrity(route.connection.local_password.encode("utf8")):
                return route
        self.dropped["unauthenticated"] += 1
        return None

    def expect_response(self, transaction_id: bytes, route: Route, addr: Address) -> None:
        transactions = self.transactions
        if transaction_id not in transactions and len(transactions) >= MAX_TRANSACTIONS:
            del transactions[next(iter(transactions))]
        transactions[transaction_id] = (route, addr)

    def add(self, route: Route) -> None:
        self.by_ufrag.setdefault(route.ufrag, []).append(route)

    def forget(self, route: Route) -> None:
        routes = self.by_ufrag.get(route.ufrag)
        if routes is not None and route in routes:
            routes.remove(route)
            if not routes:
                del self.by_ufrag[route.ufrag]
        for addr in route.addresses:
            if self.by_addr.get(addr) is route:
                del self.by_addr[addr]
        route.addresses.clear()


class UdpMux:
    """The process's UDP port: one :class:`HostSocket` per ICE host address."""

    def __init__(self, port: int, hosts: list[HostSocket], dropped: Counter[str]) -> None:
        self.port = port
        self.hosts = {h.address: h for h in hosts}
        self.dropped = dropped

    @classmethod
    async def open(cls, addresses: list[str], port: int = 0) -> UdpMux:
        """Bind ``port`` (0: a free one) on every address; OSError names what failed."""
        if not 0 <= port <= 65535:
            raise ValueError(f"the UDP port must be between 0 and 65535, not {port}")
        sockets = _bind_all(addresses, port)
        chosen = sockets[0].getsockname()[1] if sockets else port
        dropped: Counter[str] = Counter()
        loop = asyncio.get_running_loop()
        hosts = []
        for address, sock in zip(addresses, sockets):
            host = HostSocket(address, chosen, dropped)
            await loop.create_datagram_endpoint(lambda h=host: h, sock=sock)  # type: ignore[misc]
            hosts.append(host)
        return cls(chosen, hosts, dropped)

    def routes(self) -> int:
        return sum(len(r) for h in self.hosts.values() for r in h.by_ufrag.values())

    def addresses(self) -> int:
        return sum(len(h.by_addr) for h in self.hosts.values())

    def attach(self, connection: Connection, component: int, addresses: list[str]) -> list[Candidate]:
        """Host candidates for ``connection`` on the shared sockets of ``addresses``."""
        candidates = []
        for address in dict.fromkeys(addresses):
            host = self.hosts.get(address)
            if host is None:
                continue  # an interface that appeared after start: not offered
            protocol = StunProtocol(connection)
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", address),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=address,
                port=host.port,
                type="host",
            )
            route = Route(host, protocol, connection)
            protocol.connection_made(route)
            host.add(route)
            connection._protocols.append(protocol)
            candidates.append(protocol.local_candidate)
        return candidates

    def close(self) -> None:
        for host in self.hosts.values():
            host.transport.close()


def _bind_all(addresses: list[str], port: int) -> list[socket.socket]:
    for attempt in range(1 if port else BIND_ATTEMPTS):
        sockets: list[socket.socket] = []
        chosen = port
        try:
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sockets.append(sock)
                for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
                sock.setblocking(False)
                sock.bind((address, chosen))
                chosen = sock.getsockname()[1]
        except OSError as exc:
            for sock in sockets:
                sock.close()
            if port == 0 and attempt + 1 < BIND_ATTEMPTS and len(sockets) > 1:
                continue  # the free port of the first address is taken on another one
            raise OSError(exc.errno, f"cannot bind UDP port {chosen} on {address}: {exc.strerror}") from None
        return sockets
    return []  # not reached


# -- the seams in aioice and aiortc -----------------------------------------------------
_get_component_candidates = Connection.get_component_candidates
_dtls_init = RTCDtlsTransport.__init__


async def _get_component_candidates_muxed(
    self: Connection, component: int, addresses: list[str], timeout: int = 5
) -> list[Candidate]:
    mux = current_mux.get()
    if mux is None:
        return await _get_component_candidates(self, component, addresses, timeout)
    candidates = mux.attach(self, component, addresses)
    if self.turn_server:  # relayed candidates still get their own socket to the TURN server
        candidates += await _get_component_candidates(self, component, [], timeout)
    return candidates


def _dtls_init_noted(self: RTCDtlsTransport, transport: Any, certificates: Any) -> None:
    _dtls_init(self, transport, certificates)
    transport._connection._callsfu_dtls = weakref.ref(self)  # how the mux finds it


def install() -> None:
    """Put the seams in place (idempotent); they only act while a mux is current."""
    aioice.ice.Connection.get_component_candidates = _get_component_candidates_muxed  # type: ignore[method-assign]
    RTCDtlsTransport.__init__ = _dtls_init_noted  # type: ignore[method-assign]
