"""What each subscriber shows (sans-IO): the ``view`` message's state.

A subscriber that never sent a ``view`` gets every video (``shows`` is True,
``size`` None). Once it has, it gets only the videos its latest view lists,
and ``size`` says how large it shows each (CSS pixels), for the layer choice
of simulcast.
"""

from __future__ import annotations

from dataclasses import dataclass

from sfu.routing.layout import TrackKey

__all__ = ["Tile", "Views", "source_of"]


@dataclass(frozen=True, slots=True)
class Tile:
    """One video a subscriber shows."""

    participant_id: str
    source: str  # "camera" or "screen"
    width: int
    height: int


def source_of(key: TrackKey) -> str:
    """The source a view names a video track key by: ``screen`` for a shared
    screen, else ``camera`` (the kind's own source, ``""`` in the key)."""
    source = getattr(key, "source", "")
    return source if isinstance(source, str) and source else "camera"


class Views:
    def __init__(self) -> None:
        self._views: dict[str, dict[tuple[str, str], tuple[int, int]]] = {}

    def set(self, subscriber: str, tiles: list[Tile]) -> None:
        """``subscriber``'s view is now exactly ``tiles``."""
        self._views[subscriber] = {(t.participant_id, t.source): (t.width, t.height) for t in tiles}

    def forget(self, subscriber: str) -> None:
        """``subscriber`` left: no view any more."""
        self._views.pop(subscriber, None)

    def has_view(self, subscriber: str) -> bool:
        return subscriber in self._views

    def shows(self, subscriber: str, key: TrackKey) -> bool:
        """Whether ``subscriber`` wants ``key``'s media: audio always, video
        when it sent no view or its view lists it."""
        if key.kind != "video":
            return True
        view = self._views.get(subscriber)
        return view is None or (key.participant_id, source_of(key)) in view

    def size(self, subscriber: str, publisher: str, source: str = "camera") -> tuple[int, int] | None:
        """None without a view; (0, 0) when the view leaves that video out."""
        view = self._views.get(subscriber)
        if view is None:
            return None
        return view.get((publisher, source), (0, 0))
