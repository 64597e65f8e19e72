"""Run one of aiortc's coroutines from synchronous code (a datagram callback).

aiortc's per-packet handlers are coroutines that, in practice, never wait:
their sends end in a non-blocking ``sendto``. :func:`run_now` runs such a
coroutine to its end at once, without a task or a trip through the event
loop. Should it wait after all (on a future, or a bare ``yield``), the rest
of it runs in a task, exactly as if it had been awaited there.
Exceptions are logged, never raised into the caller.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine, Generator

from sfu.logcontext import about

log = logging.getLogger("callsfu.sfu")


class _Rest:
    """The remainder of a coroutine that suspended on ``pending``; awaitable in a task."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, None, None]:
        pending = self.pending
        while True:
            try:
                yield pending  # the task waits on what the coroutine waits on
            except BaseException as exc:  # cancellation: hand it to the coroutine
                try:
                    pending = self.coro.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                pending = self.coro.send(None)
            except StopIteration:
                return


async def _finish(rest: _Rest, participant_id: str | None) -> None:
    try:
        await rest
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("aiortc handler failed", extra=about(participant_id))


def run_now(coro: Coroutine[Any, Any, Any], participant_id: str | None = None) -> None:
    """Run ``coro`` now; if it suspends, finish it in a task. Never raises.
    ``participant_id``: whose packet it handles (for the log line of a failure)."""
    try:
        pending = coro.send(None)
    except StopIteration:
        return
    except Exception:
        log.exception("aiortc handler failed", extra=about(participant_id))
        return
    asyncio.get_running_loop().create_task(_finish(_Rest(coro, pending), participant_id))
