"""The UDP mux with real aioice connections on loopback: one port, routing, bounds, junk."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import AsyncIterator

import pytest
from aioice import Candidate, Connection

from sfu.rtc import mux
from sfu.rtc.ice import use_host_addresses
from sfu.rtc.mux import MAX_ADDRESSES, MAX_QUEUED, UdpMux, current_mux
from tests.rtc.stun_requests import binding_request

use_host_addresses(["127.0.0.1"])


@pytest.fixture
async def udp_mux() -> AsyncIterator[UdpMux]:
    mux.install()
    m = await UdpMux.open(["127.0.0.1"], 0)
    yield m
    m.close()


async def muxed(m: UdpMux, count: int) -> list[Connection]:
    """``count`` connections gathered while ``m`` is current (as the SFU's sessions are)."""
    token = current_mux.set(m)
    try:
        conns = [Connection(ice_controlling=False) for _ in range(count)]
        for c in conns:
            await c.gather_candidates()
    finally:
        current_mux.reset(token)
    return conns


async def connect(server: Connection) -> Connection:
    """A plain aioice peer (its own socket) connected to ``server``."""
    client = Connection(ice_controlling=True)
    await client.gather_candidates()
    client.remote_username, client.remote_password = server.local_username, server.local_password
    server.remote_username, server.remote_password = client.local_username, client.local_password
    for a, b in ((client, server), (server, client)):
        for c in b.local_candidates:
            await a.add_remote_candidate(c)
        await a.add_remote_candidate(None)
    await asyncio.wait_for(asyncio.gather(client.connect(), server.connect()), 10)
    return client


def udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


async def test_every_connection_offers_the_one_port_and_data_reaches_the_right_one(udp_mux: UdpMux) -> None:
    servers = await muxed(udp_mux, 4)
    for conn in servers:
        assert [(c.host, c.port, c.type) for c in conn.local_candidates] == [("127.0.0.1", udp_mux.port, "host")]
    clients = [await connect(s) for s in servers]
    for i, (client, server) in enumerate(zip(clients, servers)):
        await client.send(bytes([23]) + b"dtls-like from client %d" % i)
    for i, server in enumerate(servers):
        assert await asyncio.wait_for(server.recv(), 2) == bytes([23]) + b"dtls-like from client %d" % i
    # and back: each server connection answers from the shared port
    for i, (client, server) in enumerate(zip(clients, servers)):
        await server.send(bytes([23]) + b"to client %d" % i)
        assert await asyncio.wait_for(client.recv(), 2) == bytes([23]) + b"to client %d" % i
    route = servers[0]._protocols[0].transport
    assert route.get_extra_info("socket").fileno() == udp_mux.hosts["127.0.0.1"].transport.get_extra_info("socket").fileno()
    assert route.get_extra_info("sockname") == ("127.0.0.1", udp_mux.port)
    for c in clients + servers:
        await c.close()
    assert udp_mux.routes() == 0 and udp_mux.addresses() == 0


async def test_junk_from_unknown_addresses_is_dropped_and_counted(udp_mux: UdpMux) -> None:
    (server,) = await muxed(udp_mux, 1)
    client = await connect(server)
    stranger = udp_socket()
    target = ("127.0.0.1", udp_mux.port)
    stranger.sendto(os.urandom(100), target)  # random bytes
    stranger.sendto(b"", target)
    stranger.sendto(bytes([0x80, 96]) + os.urandom(150), target)  # forged SRTP
    stranger.sendto(bytes([22, 254, 253]) + os.urandom(60), target)  # a DTLS record
    stranger.sendto(binding_request("nobody:x", "p" * 22), target)  # unknown ufrag
    stranger.sendto(binding_request(f"{server.local_username}:x", "wrong" * 5), target)  # known ufrag, bad password
    stranger.sendto(bytes(19), target)  # too short for STUN
    await settle()
    dropped = udp_mux.dropped
    assert dropped["unknown_address"] >= 4 and dropped["unknown_ufrag"] == 1 and dropped["unauthenticated"] == 1
    assert udp_mux.addresses() == 1  # only the client's own address was learned
    await client.send(bytes([23]) + b"still here")
    assert await asyncio.wait_for(server.recv(), 2) == bytes([23]) + b"still here"
    assert server._queue.qsize() == 0  # nothing of the junk was queued
    stranger.close()
    await client.close()
    await server.close()


async def test_addresses_per_connection_are_bounded_and_the_nominated_one_kept(udp_mux: UdpMux) -> None:
    (server,) = await muxed(udp_mux, 1)
    client = await connect(server)
    route = server._protocols[0].transport
    nominated = server._nominated[1].remote_addr
    sockets = [udp_socket() for _ in range(3 * MAX_ADDRESSES)]
    for s in sockets:  # valid checks from ever new addresses: each is learned
        s.sendto(binding_request(f"{server.local_username}:{client.local_username}", server.local_password), ("127.0.0.1", udp_mux.port))
        await asyncio.sleep(0.002)
    await settle()
    assert len(route.addresses) == MAX_ADDRESSES
    assert nominated in route.addresses and udp_mux.addresses() == MAX_ADDRESSES
    assert udp_mux.dropped["address_evicted"] == 2 * MAX_ADDRESSES + 1
    await client.send(bytes([23]) + b"nominated pair works")
    assert await asyncio.wait_for(server.recv(), 2) == bytes([23]) + b"nominated pair works"
    # nobody reads: the DTLS queue stays bounded
    for i in range(3 * MAX_QUEUED):
        await client.send(bytes([23, i % 256]))
    await settle()
    assert server._queue.qsize() == MAX_QUEUED and udp_mux.dropped["queue_full"] == 2 * MAX_QUEUED
    for s in sockets:
        s.close()
    await client.close()
    await server.close()


async def test_a_closed_connection_forgets_its_ufrag_and_addresses(udp_mux: UdpMux) -> None:
    first, second = await muxed(udp_mux, 2)
    c1, c2 = await connect(first), await connect(second)
    assert udp_mux.routes() == 2 and udp_mux.addresses() == 2
    ufrag, password = first.local_username, first.local_password
    await first.close()
    assert udp_mux.routes() == 1 and udp_mux.addresses() == 1
    stranger = udp_socket()
    stranger.sendto(binding_request(f"{ufrag}:x", password), ("127.0.0.1", udp_mux.port))
    await settle()
    assert udp_mux.dropped["unknown_ufrag"] == 1
    await c2.send(bytes([23]) + b"second")
    assert await asyncio.wait_for(second.recv(), 2) == bytes([23]) + b"second"
    stranger.close()
    for c in (c1, c2, second):
        await c.close()
    assert udp_mux.routes() == 0 and udp_mux.addresses() == 0


async def test_without_a_current_mux_aioice_keeps_its_own_sockets(udp_mux: UdpMux) -> None:
    conn = Connection(ice_controlling=False)
    await conn.gather_candidates()
    (candidate,) = conn.local_candidates
    assert isinstance(candidate, Candidate) and candidate.port != udp_mux.port
    assert udp_mux.routes() == 0
    await conn.close()


async def test_a_taken_port_is_a_precise_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot bind UDP port {port} on 127.0.0.1"):
            await UdpMux.open(["127.0.0.1"], port)
    with pytest.raises(ValueError, match="between 0 and 65535"):
        await UdpMux.open(["127.0.0.1"], 70000)


async def test_an_address_given_twice_is_one_socket_and_one_candidate() -> None:
    from sfu.rtc.ice import host_addresses

    assert host_addresses(["127.0.0.1", "127.0.0.1"]) == ["127.0.0.1"]
    mux.install()
    m = await UdpMux.open(host_addresses(["127.0.0.1", "127.0.0.1"]), 0)
    try:
        conn = Connection(ice_controlling=False)
        candidates = m.attach(conn, 1, ["127.0.0.1", "127.0.0.1"])
        assert [(c.host, c.port) for c in candidates] == [("127.0.0.1", m.port)] and m.routes() == 1
        await conn.close()
        assert m.routes() == 0
    finally:
        m.close()


async def test_srtp_is_decrypted_in_the_callback_and_handed_over_never_queued(udp_mux: UdpMux) -> None:
    """Two real aiortc peers, the answering one on the mux: every RTP packet the
    other sends reaches ``_callsfu_on_rtp`` in order, from the first (also what
    came before our end of DTLS was up); none goes through aioice's queue or
    aiortc's receive coroutine."""
    from aiortc import RTCConfiguration, RTCPeerConnection
    from aiortc.rtcconfiguration import RTCBundlePolicy

    from tests.media.peer import COLOURS, EncodedColourTrack

    def new_pc() -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))

    client, server = new_pc(), new_pc()
    client.addTransceiver(EncodedColourTrack(COLOURS[0], 15), direction="sendonly")
    sent: list[int] = []
    client_dtls = client.getTransceivers()[0].sender.transport
    original_send = client_dtls._send_rtp

    async def send_rtp(data: bytes) -> None:
        if not 191 < data[1] < 209:
            sent.append(int.from_bytes(data[2:4], "big"))
        await original_send(data)

    client_dtls._send_rtp = send_rtp
    await client.setLocalDescription(await client.createOffer())
    await server.setRemoteDescription(client.localDescription)
    dtls = server.getTransceivers()[0].receiver.transport
    received: list[int] = []
    slow_path: list[bytes] = []
    queued: list[bytes] = []
    dtls._callsfu_on_rtp = lambda data, arrival_ms: received.append(int.from_bytes(data[2:4], "big"))

    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        slow_path.append(data)

    dtls._handle_rtp_data = handle_rtp_data
    connection = dtls.transport._connection
    original_data_received = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        queued.append(data)
        original_data_received(data, component)

    connection.data_received = data_received
    token = current_mux.set(udp_mux)
    try:
        await server.setLocalDescription(await server.createAnswer())
    finally:
        current_mux.reset(token)
    assert {(c.ip, c.port) for c in server.getTransceivers()[0].receiver.transport.transport.iceGatherer.getLocalCandidates()} == {("127.0.0.1", udp_mux.port)}
    await client.setRemoteDescription(server.localDescription)
    for _ in range(300):
        if len(received) >= 30:
            break
        await asyncio.sleep(0.01)
    try:
        assert len(received) >= 30, (received, udp_mux.dropped)
        assert received == sent[: len(received)]  # from the very first packet, in order
        assert slow_path == [] and udp_mux.dropped["srtp_before_dtls"] == 0
        assert queued and all(19 < d[0] < 64 for d in queued)  # only DTLS went to aioice's queue
    finally:
        await client.close()
        await server.close()
    assert udp_mux.routes() == 0
