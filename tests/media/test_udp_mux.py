"""One UDP port per SFU process: every participant's ICE, DTLS and SRTP goes through it."""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import struct
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.media.conftest import Server, new_link
from tests.media.peer import Peer, wait_for
from tests.rtc.stun_requests import binding_request


def udp_ports_of(pid: int) -> set[int]:
    """Local ports of the UDP sockets process ``pid`` holds (its descriptors, matched by inode)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def printed_udp_port(server: Server) -> int:
    match = re.search(r"on UDP port (\d+)", server.log())
    assert match, server.log()
    return int(match.group(1))


def candidates(sdp: str) -> set[tuple[str, int]]:
    found = set()
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            found.add((parts[4], int(parts[5])))
    return found


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nominated(pc: Any) -> tuple[str, int]:
    """Where this peer's connection sends: the server's end of the nominated pair."""
    connection = pc.getTransceivers()[0].receiver.transport.transport._connection
    return tuple(connection._nominated[1].remote_addr)  # type: ignore[return-value]


async def test_every_participant_uses_the_one_udp_port(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    port = free_udp_port()
    server = Server(tmp_path, env={"CALLSFU_UDP_PORT": str(port)})
    peers: list[Peer] = []
    try:
        assert printed_udp_port(server) == port
        token = await new_link(http, server)
        peers = [Peer(http, server.url, token, f"p{i}", i, video_fps=5, decode=i < 3) for i in range(8)]
        for p in peers:
            await p.join()
        assert await wait_for(lambda: all(len(p.tracks) == 14 for p in peers), 30)
        decoders = peers[:3]
        assert await wait_for(lambda: all(a.sees(b, 3.0) for a in decoders for b in peers if b is not a), 30)
        for p in peers:
            assert p.publish_pc is not None and p.subscribe_pc is not None
            # every candidate the server offers, on both connections, is the one port
            assert candidates(p.publish_pc.remoteDescription.sdp) == {("127.0.0.1", port)}
            assert candidates(p.subscribe_pc.remoteDescription.sdp) == {("127.0.0.1", port)}
            assert nominated(p.publish_pc) == nominated(p.subscribe_pc) == ("127.0.0.1", port)
        assert udp_ports_of(server.sfu_pid) == {port}  # 16 connections, one UDP port
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
        server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]


async def test_a_taken_udp_port_is_refused_at_start_with_a_precise_message(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        try:
            Server(tmp_path, "--udp-port", str(port))
        except RuntimeError as exc:
            assert f"cannot bind UDP port {port} on 127.0.0.1" in str(exc)
        else:
            raise AssertionError("the server started on a taken UDP port")


def server_ufrag(sdp: str) -> str:
    match = re.search(r"a=ice-ufrag:(\S+)", sdp)
    assert match
    return match.group(1)


async def test_junk_datagrams_to_the_port_change_nothing_for_a_call(server: Server, http: aiohttp.ClientSession) -> None:
    port = printed_udp_port(server)
    token = await new_link(http, server)
    a, b = Peer(http, server.url, token, "a", 0), Peer(http, server.url, token, "b", 1)
    everyone = [a, b]
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    try:
        for p in everyone:
            await p.join()

        def call_works() -> bool:
            return a.sees(b) and b.sees(a) and a.hears(b) and b.hears(a)

        assert await wait_for(call_works, 20)
        assert a.publish_pc is not None
        ufrag = server_ufrag(a.publish_pc.remoteDescription.sdp)
        ssrcs = [t.sender._ssrc for t in a.publish_pc.getTransceivers()]
        rng = random.Random(8)
        sent = 0
        for i in range(1500):
            junk = [
                rng.randbytes(rng.randrange(1, 300)),  # random bytes
                bytes([0x80, rng.choice([96, 111, 200, 201])]) + struct.pack("!HII", i, i * 90, rng.choice(ssrcs))
                + rng.randbytes(rng.randrange(20, 200)),  # forged SRTP/SRTCP, a real SSRC, from an unknown address
                binding_request(f"{rng.randbytes(3).hex()}:zz", "p" * 22),  # STUN, unknown ufrag
                binding_request(f"{ufrag}:zz", "wrong-password-wrong-pw"),  # a real ufrag, not its password
                bytes([22, 254, 253]) + rng.randbytes(50),  # a DTLS record
            ]
            for datagram in junk:
                stranger.sendto(datagram, ("127.0.0.1", port))
                sent += 1
            if i % 100 == 99:
                await asyncio.sleep(0.02)  # let this process's peers run too
        assert await wait_for(call_works, 10)
        # and the same kinds of junk from a participant's own address (known to the mux)
        connection = a.publish_pc.getTransceivers()[0].sender.transport.transport._connection
        pair = connection._nominated[1]
        known_stun = 0  # what looks like STUN from a known address is counted as bad STUN
        for i in range(500):
            first = rng.choice([0, 1, 23, 0x80, 0x90, 70, 200, 255])
            known_stun += first < 4
            pair.protocol.transport.sendto(bytes([first]) + rng.randbytes(rng.randrange(0, 200)), pair.remote_addr)
            if i % 100 == 99:
                await asyncio.sleep(0.02)
        assert await wait_for(call_works, 10)
        first_counts = [await p.packets_by_mid() for p in everyone]
        await asyncio.sleep(2)
        second_counts = [await p.packets_by_mid() for p in everyone]
        for p, before, after in zip(everyone, first_counts, second_counts):
            assert all(after[mid] - before.get(mid, 0) >= 10 for mid in p.tracks), (p.name, before, after)
        assert server.proc.poll() is None
        for p in everyone:
            assert p.errors == [] and p.ws is not None and not p.ws.closed
    finally:
        stranger.close()
        await asyncio.gather(*(p.leave() for p in everyone), return_exceptions=True)
    server.stop()
    log = server.log()
    assert "Traceback" not in log, log[-3000:]
    dropped = dict(re.findall(r"(\w+)=(\d+)", log.split("datagrams dropped:")[-1].splitlines()[0]))
    counts = {k: int(v) for k, v in dropped.items()}
    # every datagram of the stranger is dropped, none learned an address; the
    # random ones that happen to look like a STUN request are counted as such
    from_stranger = counts.get("unknown_address", 0) + counts.get("bad_stun", 0) - known_stun
    from_stranger += counts.get("unknown_ufrag", 0) + counts.get("unauthenticated", 0)
    assert from_stranger >= sent, (sent, counts)
    assert counts.get("unknown_ufrag", 0) >= 1500 and counts.get("unauthenticated", 0) >= 1500, counts


async def test_32_person_video_call_under_1024_descriptors(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = Server(tmp_path, wrapper=["prlimit", "--nofile=1024", sys.executable, "-m", "control.cli"])
    peers: list[Peer] = []
    try:
        assert "open files limit: 1024" in server.log()
        port = printed_udp_port(server)
        idle = open_descriptors(server.sfu_pid)
        token = await new_link(http, server)
        # Video only, 5 frames/s of 160×120, encoded once and looped: 32
        # publishers and 992 received streams share this one test process. Two
        # peers decode everything and check each picture is that participant's;
        # the others count packets.
        peers = [
            Peer(http, server.url, token, f"caller {i}", i, audio=False, video_fps=5, encoded_video=True, decode=i >= 30)
            for i in range(32)
        ]
        for batch in range(0, len(peers), 8):  # 8 at a time: the server gathers their tracks into fewer offers
            await asyncio.gather(*(p.join() for p in peers[batch : batch + 8]))

        def mapped() -> bool:
            return all(
                sorted(pid for pid, _ in p.tracks.values()) == sorted(q.participant_id for q in peers if q is not p)
                for p in peers
            )

        assert await wait_for(mapped, 90), [len(p.tracks) for p in peers]
        decoders = peers[30:]
        ok = await wait_for(lambda: all(a.sees(b, 3.0) for a in decoders for b in peers if b is not a), 60)
        assert ok, {a.name: [b.name for b in peers if b is not a and not a.sees(b, 3.0)] for a in decoders}
        first = [await p.packets_by_mid() for p in peers]
        await asyncio.sleep(5)
        second = [await p.packets_by_mid() for p in peers]
        for p, before, after in zip(peers, first, second):
            # 5 s at 5 frames/s is at least 25 packets; 5 proves the stream flows
            # even when this busy test process falls behind (it fell behind a 3 s
            # window once on a loaded machine)
            flowing = [mid for mid in p.tracks if after.get(mid, 0) - before.get(mid, 0) >= 5]
            assert len(flowing) == 31, (p.name, {m: after.get(m, 0) - before.get(m, 0) for m in p.tracks})
        # 64 ICE connections, one UDP socket; descriptors grow by the
        # participant (a WebSocket, a send socket), never by the connection
        assert udp_ports_of(server.sfu_pid) == {port}
        grown = open_descriptors(server.sfu_pid) - idle
        assert grown <= 2 * len(peers) + 8, grown
        for p in peers:
            assert p.errors == []
    finally:
        await asyncio.gather(*(p.leave() for p in peers), return_exceptions=True)
        server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]
