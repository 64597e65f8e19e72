"""Which of a subscriber's m-sections carries whose track (pure).

aiortc cannot remove an m-section, so sections of people who left go
inactive and are reused, kind for kind, by newcomers; the SDP only grows
when more tracks are live at once than ever before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal, NamedTuple

Kind = Literal["audio", "video"]


class TrackKey(NamedTuple):
    participant_id: str
    kind: Kind
    # "" is the kind's own source (the microphone, the camera); "screen" is a
    # shared screen, a second video of the same participant
    source: str = ""

    @property
    def source_name(self) -> str:
        """What ``tracks`` entries call it: microphone, camera or screen."""
        return self.source or ("microphone" if self.kind == "audio" else "camera")


@dataclass(slots=True)
class Slot:
    index: int  # position in the subscribe connection's transceiver list
    kind: Kind
    source: TrackKey | None = None


@dataclass(slots=True)
class LayoutChange:
    added: list[Slot] = field(default_factory=list)  # new sections to create
    assigned: list[Slot] = field(default_factory=list)  # existing sections given a new source
    released: list[Slot] = field(default_factory=list)  # sections that go inactive

    def __bool__(self) -> bool:
        return bool(self.added or self.assigned or self.released)


class SubscriberLayout:
    def __init__(self) -> None:
        self.slots: list[Slot] = []

    def update(self, wanted: Iterable[TrackKey]) -> LayoutChange:
        """Make the slots carry exactly ``wanted`` (in order of first appearance)."""
        want = list(dict.fromkeys(wanted))
        want_set = set(want)
        change = LayoutChange()
        for slot in self.slots:
            if slot.source is not None and slot.source not in want_set:
                slot.source = None
                change.released.append(slot)
        carried = {slot.source for slot in self.slots if slot.source is not None}
        for key in want:
            if key in carried:
                continue
            free = next(
                (s for s in self.slots if s.source is None and s.kind == key.kind and s not in change.added),
                None,
            )
            if free is not None:
                free.source = key
                if free in change.released:
                    change.released.remove(free)
                change.assigned.append(free)
            else:
                slot = Slot(index=len(self.slots), kind=key.kind, source=key)
                self.slots.append(slot)
                change.added.append(slot)
        return change

    def active(self) -> list[Slot]:
        return [s for s in self.slots if s.source is not None]
