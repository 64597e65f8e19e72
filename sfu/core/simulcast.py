"""Simulcast layer choice (pure): which layer of a publisher's video each of
a subscriber's tiles gets.

A publisher sends up to :data:`MAX_LAYERS` encodings of its camera, each
named by a rid (RFC 8851). For each tile a subscriber shows, the layer is:

1. by the tile's size (the subscriber's ``view``): the smallest layer at least
   as large as the tile in both dimensions (with :data:`SIZE_SLACK`), else the
   largest; without a view size, the largest;
2. then by the subscriber's bandwidth (:class:`Bandwidth`, from its REMB):
   while the layers chosen for all its tiles need more than its budget, the
   tile with the most expensive layer steps down one layer (of equals, the
   later in the list: a view lists its main tile first).

Only layers that are active (media arrived recently) are chosen. Sizes are
measured from the layers' keyframes; a layer whose size is not known yet
ranks by its position in the publisher's list (lowest first, as sent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

__all__ = [
    "Bandwidth",
    "LayerInfo",
    "MAX_LAYERS",
    "MAX_RID_LENGTH",
    "allocate",
    "by_view",
    "validate_rid",
]

MAX_LAYERS = 3  # simulcast encodings per video section
MAX_RID_LENGTH = 16  # a one-byte header extension element holds at most 16 bytes
_RID = re.compile(r"[A-Za-z0-9_-]+")
SIZE_SLACK = 0.9  # a layer 10 % smaller than the tile still counts as large enough
CONGESTED = 0.8  # a REMB below this share of what is sent: the subscriber is congested
HOLD_AFTER_CONGESTION = 8.0  # seconds without stepping up after a congestion cut
REMB_STALE = 5.0  # seconds after which a REMB no longer counts
PEAK_WINDOW = 10.0  # seconds a REMB peak is remembered (a fall from it is congestion)


def validate_rid(rid: str) -> str:
    """``rid`` if it is 1..16 characters of letters, digits, ``-`` and ``_``
    (RFC 8851's rid-id, within a one-byte header element); ValueError otherwise."""
    if not 1 <= len(rid) <= MAX_RID_LENGTH:
        raise ValueError(f"a rid must be 1 to {MAX_RID_LENGTH} characters, got {len(rid)}")
    if not _RID.fullmatch(rid):
        raise ValueError(f"a rid may hold only letters, digits, '-' and '_': {rid[:MAX_RID_LENGTH]!r}")
    return rid


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """What is known of one layer now."""

    size: tuple[int, int] | None  # width, height of its last keyframe
    bitrate: float | None  # bits per second recently, None: not measured yet
    active: bool  # media arrived recently


def _rank(layers: Sequence[LayerInfo]) -> list[int]:
    """Indices of the active layers, smallest first: by measured area when
    every active layer's size is known, else in the publisher's order."""
    active = [i for i, layer in enumerate(layers) if layer.active]
    sizes = [layers[i].size for i in active]
    if all(size is not None for size in sizes):
        return sorted(active, key=lambda i: (_area(layers[i].size), i))
    return active


def _area(size: tuple[int, int] | None) -> int:
    return size[0] * size[1] if size is not None else 0


def by_view(layers: Sequence[LayerInfo], view: tuple[int, int] | None) -> list[int]:
    """The active layers from the one the tile wants down to the smallest
    (the first is the choice by size alone); empty when none is active."""
    ranked = _rank(layers)
    if not ranked:
        return []
    if view is None:
        return ranked[::-1]
    width, height = view
    for pos, i in enumerate(ranked):
        size = layers[i].size
        if size is not None and size[0] >= width * SIZE_SLACK and size[1] >= height * SIZE_SLACK:
            return ranked[: pos + 1][::-1]
    return ranked[::-1]


def allocate(tiles: Sequence[tuple[Sequence[LayerInfo], tuple[int, int] | None]], budget: float | None) -> list[int | None]:
    """The layer index for each tile (None: no active layer), within
    ``budget`` bits per second when given (each tile keeps at least its
    smallest active layer)."""
    options = [by_view(layers, view) for layers, view in tiles]
    chosen = [0] * len(options)  # position in each tile's options

    def cost(t: int) -> float:
        opts = options[t]
        return (tiles[t][0][opts[chosen[t]]].bitrate or 0.0) if opts else 0.0

    if budget is not None:
        total = sum(cost(t) for t in range(len(options)))
        while total > budget:
            steppable = [t for t, opts in enumerate(options) if chosen[t] + 1 < len(opts)]
            if not steppable:
                break
            t = max(reversed(steppable), key=cost)  # ties: the later tile (a view lists its main tile first)
            total -= cost(t)
            chosen[t] += 1
            total += cost(t)
    return [opts[chosen[t]] if opts else None for t, opts in enumerate(options)]


class Bandwidth:
    """One subscriber's bandwidth, from its REMB, as a budget for :func:`allocate`.

    A receiver's REMB only grows to about 1.5x what it receives, so it cannot
    say how much more would fit: it limits, it never invites. And a REMB that
    keeps rising is an estimator still ramping up, not a congested link
    (Chromium's starts near 10 kbit/s here and climbs about 1 kbit/s a
    second while it decodes a 300 kbit/s layer without loss). So the
    subscriber counts as congested when its REMB is below :data:`CONGESTED`
    of what it is sent *and* has fallen below :data:`CONGESTED` of its own
    recent peak (over :data:`PEAK_WINDOW` seconds): the budget is then the
    REMB (step down), and for :data:`HOLD_AFTER_CONGESTION` seconds after,
    the larger of the REMB and what is sent (no stepping up); otherwise None
    (the view alone decides)."""

    __slots__ = ("bitrate", "at", "held_until", "_peak", "_peak_at")

    def __init__(self) -> None:
        self.bitrate: float | None = None
        self.at = 0.0
        self.held_until = float("-inf")
        self._peak = 0.0
        self._peak_at = float("-inf")

    def on_remb(self, bitrate: float, now: float) -> None:
        self.bitrate = float(bitrate)
        self.at = now
        if bitrate >= self._peak or now - self._peak_at > PEAK_WINDOW:
            self._peak, self._peak_at = float(bitrate), now

    def budget(self, sending: float, now: float) -> float | None:
        """The budget now, given ``sending`` bits per second sent to it."""
        remb = self.bitrate
        if remb is None or now - self.at > REMB_STALE:
            return None
        if remb < CONGESTED * sending and remb < CONGESTED * self._peak:
            self.held_until = now + HOLD_AFTER_CONGESTION
            return remb
        if now < self.held_until:
            return max(remb, sending)
        return None
