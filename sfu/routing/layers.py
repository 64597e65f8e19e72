"""Which simulcast layer each of one subscriber's outlets should carry (sans-IO).

The policy is :mod:`sfu.core.simulcast`; this module reads what it needs off
the forwarder's objects (a layer's measured size and rate, whether media
arrived lately) and says, per outlet, the layer to be on. Moving there is
:meth:`sfu.routing.forwarder.Forwarder.switch_layer` (at a keyframe).

View sizes come through a :data:`ViewSize` callable: the size in CSS pixels
of the tile showing a track, None when unknown (then the largest layer),
(0, 0) when the subscriber does not show it (then nothing is chosen).
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from sfu.core.simulcast import Bandwidth, LayerInfo, allocate
from sfu.routing.forwarder import Inbound, Outlet
from sfu.routing.layout import TrackKey

__all__ = ["ACTIVE_WITHIN", "ViewSize", "initial_layer", "layer_info", "plan", "sending_bitrate"]

S = TypeVar("S")

ViewSize = Callable[[TrackKey], "tuple[int, int] | None"]
ACTIVE_WITHIN = 1.0  # seconds: a layer with no packet for longer is not chosen
HIDDEN = (0, 0)  # the view size of a video the subscriber's view leaves out


def no_view(key: TrackKey) -> tuple[int, int] | None:
    """The default :data:`ViewSize`: nothing known (the largest layer)."""
    return None


def layer_info(layer: Inbound[S], now: float) -> LayerInfo:
    rate = layer.byte_rate(now)
    return LayerInfo(
        size=layer.frame_size,
        bitrate=None if rate is None else 8.0 * rate,
        active=now - layer.last_arrival <= ACTIVE_WITHIN,
    )


def initial_layer(inbound: Inbound[S], view: tuple[int, int] | None, now: float) -> Inbound[S]:
    """The layer a new outlet of ``inbound``'s track starts on (``inbound``
    itself for a one-layer track, or when no layer is active yet)."""
    layers = inbound.layers
    if not layers:
        return inbound
    (choice,) = allocate([([layer_info(layer, now) for layer in layers], view)], None)
    return inbound if choice is None else layers[choice]


def sending_bitrate(outlets: Sequence[Outlet[S]], now: float) -> float:
    """Bits per second currently forwarded to these outlets."""
    total = 0.0
    for outlet in outlets:
        source = outlet.source
        rate = source.byte_rate(now) if source is not None and not outlet.paused else None
        total += 8.0 * rate if rate is not None else 0.0
    return total


def plan(
    outlets: Sequence[Outlet[S]], view_size: ViewSize, bandwidth: Bandwidth, now: float
) -> list[tuple[Outlet[S], Inbound[S]]]:
    """(outlet, layer) for every simulcast outlet whose layer should change
    (it is not on it, nor moving to it)."""
    tiles: list[tuple[Outlet[S], list[Inbound[S]], tuple[int, int] | None]] = []
    for outlet in outlets:
        source = outlet.source
        if source is not None and source.layers and not outlet.paused:  # (a hidden tile gets nothing)
            view = view_size(source.key)
            if view != HIDDEN:  # not shown: no layer to choose, no keyframe to ask for
                tiles.append((outlet, source.layers, view))
    if not tiles:
        return []
    budget = bandwidth.budget(sending_bitrate(outlets, now), now)
    choices = allocate([([layer_info(layer, now) for layer in layers], view) for _, layers, view in tiles], budget)
    moves: list[tuple[Outlet[S], Inbound[S]]] = []
    for (outlet, layers, _), choice in zip(tiles, choices):
        if choice is None:
            continue
        layer = layers[choice]
        if layer is not (outlet.target or outlet.source):
            moves.append((outlet, layer))
    return moves
