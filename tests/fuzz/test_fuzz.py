"""A short, seeded pass of every fuzz target (benchmarks/fuzz.py runs 100,000+ each).

Derandomized: the same few hundred inputs per target on every run, so a
failure here is reproducible; Hypothesis shrinks it to a small input.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.fuzz_targets import TARGETS, Target, close_rtcp_harness

CASES = {"rewriter": 150, "forwarder": 150}  # the slow ones; the rest get 300


@pytest.fixture(scope="module", autouse=True)
def _rtcp_harness() -> Iterator[None]:
    yield
    close_rtcp_harness()


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_target(target: Target) -> None:
    if target.name == "rewriter_native":
        import sfu.native as native

        if not native.AVAILABLE:
            pytest.skip(f"native fan-out not built: {native.BUILD_ERROR}")
    seen = 0

    @settings(
        max_examples=CASES.get(target.name, 300), derandomize=True, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )  # fmt: skip
    @given(target.strategy)
    def one(case: Any) -> None:
        nonlocal seen
        seen += 1
        target.run(case)  # raises only on a defect

    one()
    assert seen >= 100  # the strategy really produced inputs
