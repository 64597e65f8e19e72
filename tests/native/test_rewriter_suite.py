"""The reference Rewriter's own tests (tests/core/test_rewriter.py), run on the native one."""

from __future__ import annotations

from typing import Iterator

import pytest

import sfu.native as native
from tests.core import test_rewriter as suite
from tests.core.test_rewriter import *  # noqa: F401,F403  (collects the same tests here)

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason=f"native fan-out not built: {native.BUILD_ERROR}")


@pytest.fixture(autouse=True)
def native_rewriter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if native.AVAILABLE:
        monkeypatch.setattr(suite, "Rewriter", native.Rewriter)
    yield


def test_the_suite_runs_on_the_native_class() -> None:
    from sfu.core.rewriter import Rewriter as Reference

    made = suite.rewriter()
    assert isinstance(made, native.Rewriter) and not isinstance(made, Reference)
