"""The native fan-out group against the Python reference, over real SRTP and UDP.

Every datagram the group sends is received on a loopback socket, unprotected
with the subscriber's own pylibsrtp session, and compared with what the
reference Rewriter writes for the same packet.
"""

from __future__ import annotations

import errno
import gc
import random
from typing import Any

import pytest
from pylibsrtp import Policy

import sfu.native as native
from sfu.core.rewriter import Rewriter as Reference

from .loopback import PROFILES, Receiver, policy
from .streams import negotiations, stream

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason=f"native fan-out not built: {native.BUILD_ERROR}")


def test_fan_out_delivers_the_reference_bytes_to_every_subscriber(sender: Any) -> None:
    profiles = list(PROFILES)
    subs = []
    for i, args in enumerate(negotiations(5)):
        receiver = Receiver(sender, profiles[i % 3])
        random.seed(i)
        reference = Reference(**args)
        random.seed(i)
        subs.append((receiver, reference, native.Rewriter(**args)))
    group = native.FanoutGroup()
    for receiver, _, rewriter in subs:
        group.add(rewriter, receiver.sink)
    rng = random.Random(5)
    inside = [True] * len(subs)
    delivered = 0
    for step in stream(5, oldest_first=True, skips=(0, 600)):
        if step.switch is not None:
            for _, reference, rewriter in subs:
                reference.switch_source(step.switch)
                rewriter.switch_source(step.switch)
        for i, (receiver, _, rewriter) in enumerate(subs):
            if rng.random() < 0.003:  # leave the group (a special state) or come back
                inside[i] = not inside[i]
                assert group.remove(rewriter) if not inside[i] else group.add(rewriter, receiver.sink) is True
        assert group.forward(step.view, step.abs_send_time) == sum(inside) == len(group)
        for i, (receiver, reference, rewriter) in enumerate(subs):
            if not inside[i]:  # the Python path: rewrite, then the sink's send
                receiver.send(rewriter.rewrite(step.view, step.abs_send_time))
            expected = [reference.rewrite(step.view, step.abs_send_time)]
            if rng.random() < 0.01:  # an RTX answer to a NACK
                rtx, reference_rtx = rewriter.rtx(step.view, 7), reference.rtx(step.view, 7)
                assert rtx == reference_rtx
                if rtx is not None:
                    receiver.send(rtx)
                    expected.append(rtx)
            assert receiver.drain() == expected
            delivered += len(expected)
    assert not all(inside) and any(inside)  # the churn happened
    for receiver, reference, rewriter in subs:
        assert (rewriter.packets_sent, rewriter.last_timestamp) == (reference.packets_sent, reference.last_timestamp)
        assert receiver.sink.failed == 0
        receiver.close()
    assert sum(r.sink.sent for r, _, _ in subs) == delivered


def rewriter(ssrc: int = 1) -> Any:
    return native.Rewriter(ssrc, 96, {}, "0", first_sequence_number=1, first_timestamp=1)


def test_send_errors_are_counted_on_the_sink_never_raised(sender: Any) -> None:
    views = [step.view for step in stream(1, packets=3, oldest_first=True)]
    ok, refused = Receiver(sender), Receiver(sender)
    broadcast = native.new_sink(sender, ("255.255.255.255", 9), outbound())  # no SO_BROADCAST: EACCES
    closed = Receiver(sender)
    closed.sink.close()
    assert closed.sink.closed
    group = native.FanoutGroup()
    for n, sink in enumerate((ok.sink, broadcast, closed.sink)):
        group.add(rewriter(n), sink)
    for view in views:
        assert group.forward(view, 0) == 3
    assert (ok.sink.sent, ok.sink.failed) == (3, 0)
    assert (broadcast.sent, broadcast.failed, broadcast.last_errno) == (0, 3, errno.EACCES)
    assert (closed.sink.sent, closed.sink.failed) == (0, 3)
    assert len(ok.drain()) == 3
    ok.sink.send(bytes(12) + bytes(1400))  # longer than SRTP can protect here: dropped
    ok.sink.send(b"\x80")  # too short for libsrtp: dropped
    assert (ok.sink.sent, ok.sink.failed) == (3, 2)
    for r in (ok, refused, closed):
        r.close()


def test_group_membership(sender: Any) -> None:
    a, b = Receiver(sender), Receiver(sender)
    ra, rb = rewriter(1), rewriter(2)
    group = native.FanoutGroup()
    group.add(ra, a.sink)
    group.add(rb, b.sink)
    group.add(ra, b.sink)  # again: a new sink for the same rewriter
    assert len(group) == 2 and ra in group and rb in group
    view = next(stream(2, packets=1)).view
    group.forward(view, 0)
    assert (len(a.drain()), len(b.drain())) == (0, 2)
    assert group.remove(ra) is True and group.remove(ra) is False
    assert ra not in group and len(group) == 1
    group.clear()
    assert len(group) == 0 and group.forward(view, 0) == 0
    with pytest.raises(TypeError):
        group.add(Reference(1, 96, {}, "0"), a.sink)  # only native rewriters
    with pytest.raises(TypeError):
        group.add(ra, object())
    a.close()
    b.close()


def test_the_sink_keeps_its_srtp_session_alive(sender: Any) -> None:
    receiver = Receiver(sender)
    view = next(stream(3, packets=1)).view
    group = native.FanoutGroup()
    group.add(rewriter(), receiver.sink)
    gc.collect()  # nothing but the sink refers to the sending Session now
    group.forward(view, 0)
    assert len(receiver.drain()) == 1
    receiver.close()


def outbound() -> Any:
    return policy("AEAD_AES_128_GCM", bytes(28), Policy.SSRC_ANY_OUTBOUND)


def test_a_sink_needs_a_real_policy(sender: Any) -> None:
    with pytest.raises(ValueError, match="needs a pylibsrtp 1.0 Policy with a key, not object"):
        native.new_sink(sender, ("127.0.0.1", 9), object())
    with pytest.raises(ValueError, match="needs a pylibsrtp 1.0 Policy with a key, not Session"):
        native.new_sink(sender, ("127.0.0.1", 9), Receiver(sender).rx)
    with pytest.raises(ValueError, match="with a key"):
        native.new_sink(sender, ("127.0.0.1", 9), Policy(srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
    with pytest.raises(ValueError, match="cannot send to ::1"):
        native.new_sink(sender, ("::1", 9), outbound())
