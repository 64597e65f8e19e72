"""Which worker hosts which call, and how many WebSockets each placement carries.

A call is placed when its first participant's WebSocket arrives and stays on
that worker while any of its participants is connected there. A placement
the pool *forgets* (its worker died or drains) keeps counting its last
connections, but new joins of that call are placed anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from control.workers.pool import Worker


@dataclass(eq=False)
class Placement:
    call_id: str
    worker: Worker
    connections: int = 0


class Placements:
    def __init__(self) -> None:
        self._by_call: dict[str, Placement] = {}
        self._live: set[Placement] = set()  # every placement with connections, forgotten or not

    def get(self, call_id: str) -> Placement | None:
        return self._by_call.get(call_id)

    def add(self, call_id: str, worker: Worker) -> Placement:
        if call_id in self._by_call:
            raise ValueError(f"call {call_id} is placed already")
        placement = self._by_call[call_id] = Placement(call_id, worker)
        self._live.add(placement)
        return placement

    def connect(self, placement: Placement) -> None:
        placement.connections += 1
        self._live.add(placement)

    def disconnect(self, placement: Placement) -> None:
        """A WebSocket of the placement ended; the last one ends the placement."""
        placement.connections -= 1
        if placement.connections <= 0:
            self._live.discard(placement)
            if self._by_call.get(placement.call_id) is placement:
                del self._by_call[placement.call_id]

    def forget_worker(self, worker: Worker) -> int:
        """Place that worker's calls anew from now on; returns their connections."""
        gone = [p for p in self._by_call.values() if p.worker is worker]
        for placement in gone:
            del self._by_call[placement.call_id]
        return sum(p.connections for p in gone)

    def connections_on(self, worker: Worker) -> int:
        return sum(p.connections for p in self._live if p.worker is worker)

    def call_ids(self) -> list[str]:
        return list(self._by_call)
