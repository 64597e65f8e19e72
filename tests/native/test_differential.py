"""The native Rewriter writes the reference's bytes and keeps its state.

Seeded 10,000-packet streams (loss, reordering, duplicates, source switches,
RTX requests, every header feature on input) go through
``sfu.core.rewriter.Rewriter`` and ``sfu.native.Rewriter`` side by side, for
every subscriber negotiation in ``streams.negotiations``; every output, every
NACK mapping and the whole public state are compared after every step.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import pytest

import sfu.native as native
from sfu.core.extensions import Ext
from sfu.core.packet import RtpView
from sfu.core.rewriter import Rewriter as Reference

from .streams import negotiations, state, stream

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason=f"native fan-out not built: {native.BUILD_ERROR}")


def pair(args: dict[str, Any], seed: int) -> tuple[Reference, Any]:
    random.seed(seed)  # the defaults are drawn in the same order
    reference = Reference(**args)
    random.seed(seed)
    return reference, native.Rewriter(**args)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streams_give_identical_bytes_and_state(seed: int) -> None:
    slots = [pair(args, seed * 100 + i) for i, args in enumerate(negotiations(seed))]
    rng = random.Random(seed)
    recent: deque[RtpView] = deque(maxlen=64)
    compared = 0
    for step in stream(seed, oldest_first=seed == 3):
        if step.switch is not None:
            recent.clear()
            for ref, nat in slots:
                ref.switch_source(step.switch)
                nat.switch_source(skip=step.switch)
        view = step.view
        if rng.random() < 0.05:  # a payload that is not exactly bytes
            view = RtpView(view.payload_type, view.marker, view.sequence_number, view.timestamp, view.ssrc,
                           memoryview(bytes(view.payload)), view.audio_level, view.mid, view.data)  # fmt: skip
        for ref, nat in slots:
            assert nat.precedes_epoch(view) == ref.precedes_epoch(view)
            assert nat.rewrite(view, step.abs_send_time) == ref.rewrite(view, step.abs_send_time)
            if recent and rng.random() < 0.1:  # a NACK: RTX of a cached packet
                old = rng.choice(recent)
                assert nat.rtx(old, step.abs_send_time) == ref.rtx(old, step.abs_send_time)
            probe = (ref.last_sequence_number - rng.randrange(-50, 400)) & 0xFFFF
            assert nat.original_sequence_number(probe) == ref.original_sequence_number(probe)
            assert state(nat) == state(ref)
            compared += 1
        recent.append(view)
    assert compared == 10_000 * len(slots)


def test_fresh_rewriters_agree_before_the_first_packet() -> None:
    for i, args in enumerate(negotiations(9)):
        ref, nat = pair(args, i)
        assert state(nat) == state(ref)
        view = next(stream(i, packets=1)).view
        assert nat.rtx(view, 0) is ref.rtx(view, 0) is None
        assert nat.original_sequence_number(ref.last_sequence_number) is None
        assert nat.precedes_epoch(view) is ref.precedes_epoch(view) is False
        nat.switch_source(skip=600)
        ref.switch_source(skip=600)  # nothing sent yet: nothing skipped
        assert nat.rewrite(view, 1) == ref.rewrite(view, 1)


@pytest.mark.parametrize("mid", ["", "x" * 17, "ü" * 9])
def test_bad_mid_is_the_same_value_error(mid: str) -> None:
    with pytest.raises(ValueError, match="MID must be 1..16 UTF-8 bytes"):
        native.Rewriter(1, 96, {Ext.MID: 1}, mid)


def test_out_of_range_arguments_are_precise_value_errors() -> None:
    with pytest.raises(ValueError, match="ssrc must be an integer from 0 to 4294967295"):
        native.Rewriter(1 << 32, 96, {}, "0")
    with pytest.raises(ValueError, match="payload_type must be an integer from 0 to 127"):
        native.Rewriter(1, 128, {}, "0")
    with pytest.raises(ValueError, match="rtx_payload_type"):
        native.Rewriter(1, 96, {}, "0", rtx_ssrc=2, rtx_payload_type=-1)


def test_wrong_arguments_are_type_errors_not_crashes() -> None:
    r = native.Rewriter(1, 96, {}, "0")
    view = next(stream(1, packets=1)).view
    for call in (lambda: r.rewrite(view), lambda: r.rtx(view, "x"), lambda: r.rewrite(object(), 0),
                 lambda: native.FanoutGroup().forward(view), lambda: native.FanoutGroup().forward(None, 0)):  # fmt: skip
        with pytest.raises((TypeError, AttributeError)):
            call()


def test_attributes_are_read_only() -> None:
    r = native.Rewriter(1, 96, {}, "0")
    with pytest.raises(AttributeError):
        r.last_timestamp = 5  # type: ignore[misc]
