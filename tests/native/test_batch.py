"""The fan-out's one sendmmsg per packet, and its SRTP sessions, one per SSRC.

Subscribers are real loopback sockets with real SRTP (loopback.py): every
datagram is checked against what one pylibsrtp session per connection (what
aiortc keeps) would have sent, byte for byte, so a session per SSRC that
split an SSRC's rollover counter or replay state would show.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
from typing import Any, Iterator

import pytest

import sfu.native as native
from sfu.core.rewriter import Rewriter as Reference

from .loopback import Receiver, policy, udp_socket
from .streams import stream

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason=f"native fan-out not built: {native.BUILD_ERROR}")


def pair(ssrc: int, first: int = 1, rtx: bool = False) -> tuple[Any, Reference]:
    args: dict[str, Any] = dict(ssrc=ssrc, payload_type=96, ext_ids={}, mid="0", first_sequence_number=first,
                                first_timestamp=1, rtx_ssrc=ssrc + 1 if rtx else None,
                                rtx_payload_type=97 if rtx else None, first_rtx_sequence_number=first)  # fmt: skip
    return native.Rewriter(**args), Reference(**args)


def test_one_connection_many_ssrcs_fast_path_and_send_share_each_ssrcs_session(sender: Any) -> None:
    """Sections of one subscriber connection, their sequence numbers wrapping
    (rollover counter 1) while packets alternate between the fast group and
    send() (replays, RTX): the datagrams are the one-session reference's."""
    receiver = Receiver(sender)
    pairs = [pair(1000 + 2 * i, first=65500 + i, rtx=True) for i in range(6)]
    groups = [native.FanoutGroup() for _ in range(2)]  # two publishers' tracks feeding the same connection
    inside = [False] * len(pairs)
    rng = random.Random(3)
    for step in stream(4, packets=400, oldest_first=True):
        expected = []
        for i, (rewriter, reference) in enumerate(pairs):
            group = groups[i % 2]
            if rng.random() < 0.1:  # in or out of the fast state
                inside[i] = not inside[i]
                assert (group.add(rewriter, receiver.sink) is True) if inside[i] else group.remove(rewriter)
            if not inside[i]:
                receiver.send(rewriter.rewrite(step.view, 5))
            expected.append(reference.rewrite(step.view, 5))
            if rng.random() < 0.05:  # an RTX answer, on the RTX SSRC's own session
                rtx = rewriter.rtx(step.view, 5)
                assert rtx is not None and rtx == reference.rtx(step.view, 5)
                receiver.send(rtx)
                expected.append(rtx)
        for group in groups:
            group.forward(step.view, 5)
        assert sorted(receiver.drain()) == sorted(expected)  # drain() checks the SRTP bytes
    assert all(r.last_sequence_number < 1000 for r, _ in pairs)  # every SSRC wrapped
    assert set(receiver.sink.ssrcs) == {s for r, _ in pairs for s in (r.ssrc, r.rtx_ssrc)}
    assert receiver.sink.failed == 0
    receiver.close()


def test_one_sendmmsg_per_packet_per_batch(sender: Any) -> None:
    receivers = [Receiver(sender) for _ in range(native.BATCH + 6)]
    group = native.FanoutGroup()
    for n, receiver in enumerate(receivers):
        group.add(pair(n + 1)[0], receiver.sink)
    views = [step.view for step in stream(6, packets=5, oldest_first=True)]
    for view in views:
        assert group.forward(view, 0) == len(receivers)
    assert group.syscalls == 2 * len(views)  # 64 datagrams a call, then the other 6
    assert all(len(r.drain()) == len(views) and r.sink.sent == len(views) for r in receivers)
    assert group.cut_short == 0
    for r in receivers:
        r.close()


def test_each_socket_gets_its_own_sendmmsg(sender: Any) -> None:
    other = udp_socket()  # a second host address's socket
    receivers = [Receiver(sender if n % 3 else other) for n in range(9)]
    group = native.FanoutGroup()
    for n, receiver in enumerate(receivers):
        group.add(pair(n + 1)[0], receiver.sink)
    group.forward(next(stream(7, packets=1)).view, 0)
    assert group.syscalls == 6  # runs: other, sender x2, other, sender x2, other, sender x2
    for n, receiver in enumerate(receivers):
        data, source = receiver.socket.recvfrom(4096)  # (loopback delivers inside the send)
        assert source == (sender if n % 3 else other).getsockname()
        receiver.rx.unprotect(data)
        receiver.close()
    other.close()


def test_a_refused_destination_mid_batch_costs_only_its_own_datagram(sender: Any) -> None:
    first, last = Receiver(sender), Receiver(sender)
    refused = native.new_sink(sender, ("255.255.255.255", 9), first_policy())  # no SO_BROADCAST: EACCES
    group = native.FanoutGroup()
    for n, sink in enumerate((first.sink, refused, last.sink)):
        group.add(pair(n + 1)[0], sink)
    for step in stream(9, packets=4, oldest_first=True):
        group.forward(step.view, 0)
    assert (first.sink.sent, last.sink.sent, refused.sent, refused.failed) == (4, 4, 0, 4)
    assert len(first.drain()) == len(last.drain()) == 4
    assert group.cut_short == 0
    first.close()
    last.close()


def first_policy() -> Any:
    from pylibsrtp import Policy


    return policy("AEAD_AES_128_GCM", bytes(28), Policy.SSRC_ANY_OUTBOUND)


def test_too_many_ssrcs_on_one_connection_are_dropped_and_counted(sender: Any) -> None:
    receiver = Receiver(sender)
    view = next(stream(10, packets=1)).view
    group = native.FanoutGroup()
    rewriters = [pair(n + 1)[0] for n in range(native.MAX_STREAMS + 1)]
    assert all(group.add(r, receiver.sink) for r in rewriters[:-1])
    assert group.add(rewriters[-1], receiver.sink) is False  # no session for one SSRC more
    receiver.sink.send(rewriters[-1].rewrite(view, 0))
    assert receiver.sink.failed == 1 and len(receiver.sink.ssrcs) == native.MAX_STREAMS
    group.clear()
    receiver.close()


@pytest.fixture
def slow_link() -> Iterator[tuple[str, str]]:
    """A veth whose queue drains at 8 kbit/s, towards a neighbour that does not
    exist: datagrams sent there wait in the queue, charged to the sending
    socket, until its buffer is full and sendmmsg stops short (EAGAIN) — what
    a busy NIC does. Inside the suite's private network namespace."""
    commands = [
        "ip link add cfs0 type veth peer name cfs1", "ip link set cfs0 up", "ip link set cfs1 up",
        "ip addr add 10.250.0.1/24 dev cfs0", "ip neigh add 10.250.0.9 lladdr 02:00:00:00:00:09 dev cfs0",
        "tc qdisc add dev cfs0 root tbf rate 8kbit burst 1600 latency 60s",
    ]  # fmt: skip
    for command in commands:
        done = subprocess.run(command.split(), capture_output=True, text=True)
        if done.returncode:
            subprocess.run("ip link del cfs0".split(), capture_output=True)
            pytest.skip(f"cannot build a slow link here ({command}: {done.stderr.strip()})")
    yield "10.250.0.1", "10.250.0.9"
    subprocess.run("ip link del cfs0".split(), capture_output=True)


def test_a_full_socket_buffer_drops_the_rest_of_the_batch_counted(slow_link: tuple[str, str]) -> None:
    local, neighbour = slow_link
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # the kernel's minimum: a few datagrams
    sock.bind((local, 0))
    sock.setblocking(False)
    sinks = [native.new_sink(sock, (neighbour, 5000 + n), first_policy()) for n in range(40)]
    group = native.FanoutGroup()
    for n, sink in enumerate(sinks):
        group.add(pair(n + 1)[0], sink)
    for step in stream(11, packets=3, oldest_first=True):
        assert group.forward(step.view, 0) == len(sinks)  # never raises
    sent, failed = sum(s.sent for s in sinks), sum(s.failed for s in sinks)
    assert sent + failed == 3 * len(sinks)
    assert 0 < sent < len(sinks) and failed == group.cut_short  # the first few went, the rest dropped
    assert {s.last_errno for s in sinks if s.failed} <= {11, 105}  # EAGAIN, ENOBUFS
    sock.close()


def test_the_sending_window_refuses_only_a_packet_further_behind_than_it(sender: Any) -> None:
    """The product's sessions keep a replay window of OUTBOUND_WINDOW packets
    (sfu/rtc/srtp.py): a repair that late is dropped and counted; one within
    it is sent, exactly as one session per connection would send it."""
    from pylibsrtp import Policy

    from sfu.rtc.srtp import OUTBOUND_WINDOW

    from .loopback import PROFILES, session

    receiver = Receiver(sender)
    key = os.urandom(PROFILES["AEAD_AES_128_GCM"][1])
    windowed = policy("AEAD_AES_128_GCM", key, Policy.SSRC_ANY_OUTBOUND)
    windowed.window_size = OUTBOUND_WINDOW
    receiver.rx = session("AEAD_AES_128_GCM", key, Policy.SSRC_ANY_INBOUND)
    receiver.reference = session("AEAD_AES_128_GCM", key, Policy.SSRC_ANY_OUTBOUND)
    receiver.sink.close()
    receiver.sink = native.new_sink(sender, receiver.socket.getsockname(), windowed)
    packets = {seq: struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 77) + bytes(100) for seq in range(1, 400)}
    arrived = []
    for seq in range(1, 301):
        if seq not in (300 - OUTBOUND_WINDOW, 301 - OUTBOUND_WINDOW):
            receiver.sink.send(packets[seq])
        if seq % 50 == 0:
            arrived += receiver.drain()  # (before the receiving socket's buffer is full)
    receiver.sink.send(packets[300 - OUTBOUND_WINDOW])  # just past the window: refused
    receiver.sink.send(packets[301 - OUTBOUND_WINDOW])  # inside it: sent
    arrived += receiver.drain()
    assert receiver.sink.failed == 1
    assert [int.from_bytes(p[2:4], "big") for p in arrived[-3:]] == [299, 300, 301 - OUTBOUND_WINDOW], len(arrived)
    assert packets[300 - OUTBOUND_WINDOW] not in arrived
    receiver.close()
