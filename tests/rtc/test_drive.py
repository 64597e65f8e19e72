"""run_now: a coroutine that never waits runs at once; one that waits finishes in a task."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sfu.rtc.drive import run_now


async def test_a_coroutine_that_does_not_wait_runs_to_its_end_at_once() -> None:
    done: list[int] = []

    async def inner(n: int) -> int:
        done.append(n)
        return n

    async def handler(n: int) -> None:
        await inner(n)  # awaiting a coroutine that returns at once does not suspend
        done.append(n + 1)

    run_now(handler(1))
    assert done == [1, 2]  # before any trip through the event loop


async def test_a_coroutine_that_waits_finishes_in_order_with_the_results_it_awaited() -> None:
    seen: list[object] = []
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    async def handler() -> None:
        seen.append("start")
        seen.append(await future)  # suspends: the rest runs in a task
        await asyncio.sleep(0)  # a bare yield, too
        seen.append(await asyncio.sleep(0.01, result="slept"))

    run_now(handler())
    assert seen == ["start"]
    loop.call_later(0.01, future.set_result, "value")
    for _ in range(100):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.01)
    assert seen == ["start", "value", "slept"]


async def test_exceptions_are_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def at_once() -> None:
        raise RuntimeError("boom now")

    async def later() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom later")

    with caplog.at_level(logging.ERROR, logger="callsfu.sfu"):
        run_now(at_once())
        run_now(later())
        for _ in range(10):
            await asyncio.sleep(0)
    messages = [r.exc_info[1].args[0] for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert messages == ["boom now", "boom later"]
