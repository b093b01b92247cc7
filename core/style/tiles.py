"""Overlapping tiles with feathered blending: full-resolution style transfer in a fixed memory budget.

A 4096 px image does not fit through a conv net (or a Gatys optimisation) at once, so it goes through in
tiles of at most `tile` px per side that overlap their neighbours by at least `overlap` px. Each processed
tile is weighted by a raised-cosine ramp across the overlap and the weighted tiles are summed and divided
by the summed weights, out(p) = sum_t w_t(p) y_t(p) / sum_t w_t(p): the normalised weights are a
partition of unity, so an identity or pointwise `fn` comes back exactly and a conv net whose receptive
field is smaller than the overlap shows no seam (its wrong, zero-padded tile borders get weights near 0).

Peak memory: the full-resolution canvas (C x H x W, plus one H x W weight sum) lives on the blender's
device, CPU unless the caller chooses otherwise; the compute device only ever holds one tile, its
activations and its output, which `TileBlender.add` detaches and moves off before the next tile starts.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from core.jobs import JobCancelled


@dataclass(frozen=True)
class Tile:
    """A rectangle of the full image, in pixels."""

    top: int
    left: int
    height: int
    width: int

    def region(self, x: Tensor) -> Tensor:
        """The tile's view of `x` (..., H, W) -> (..., height, width); no copy."""
        return x[..., self.top : self.top + self.height, self.left : self.left + self.width]


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) of the tiles along one axis: the fewest that fit, all one size, evenly spaced.

    n tiles of size s with overlap o cover n*s - (n-1)*o px, so n = ceil((length - o) / (tile - o)) and
    s = ceil((length + (n-1)*o) / n) <= tile. Starts are i*(length - s) / (n-1) rounded down: strides differ
    by at most 1 px and none exceeds s - o, so every overlap is at least o (at most o + 1).
    """
    if length <= tile:
        return [(0, length)]
    count = -(-(length - overlap) // (tile - overlap))
    size = -(-(length + (count - 1) * overlap) // count)
    return [(i * (length - size) // (count - 1), size) for i in range(count)]


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles of at most `tile` px per side covering a height x width image, in rows top to bottom.

    Neighbours overlap by at least `overlap` px; all tiles have the same size (no sliver at the end, and
    one shape for cuDNN autotuning); an image that fits is a single tile.
    """
    if height < 1 or width < 1:
        raise ValueError(f"Cannot tile an image of {width} x {height} pixels.")
    if overlap < 0:
        raise ValueError(f"Tile overlap must be 0 or more pixels, not {overlap}.")
    if tile <= 2 * overlap:
        raise ValueError(
            f"Tiles of {tile} px are too small for an overlap of {overlap} px: "
            f"the tile size must be more than twice the overlap."
        )
    return [
        Tile(top, left, tile_height, tile_width)
        for top, tile_height in _spans(height, tile, overlap)
        for left, tile_width in _spans(width, tile, overlap)
    ]


def _profile(
    start: int, size: int, length: int, overlap: int, device: torch.device | str | None, dtype: torch.dtype
) -> Tensor:
    """1-D blend weights (size,) of a span [start, start + size) of an axis `length` px long."""
    weights = torch.ones(size, device=device, dtype=dtype)
    if overlap == 0:
        return weights
    # Raised cosine sin^2(pi (i + 0.5) / (2 o)): in (0, 1), and ramp(i) + ramp(o - 1 - i) = 1, so a rising
    # and a falling ramp over the same o px sum to exactly 1.
    # Computed in float64 on the CPU (MPS has no float64), then moved: o values, negligible.
    steps = torch.arange(overlap, dtype=torch.float64)
    ramp = torch.sin(math.pi * (steps + 0.5) / (2 * overlap)).square().to(device=device, dtype=dtype)
    if start > 0:
        weights[:overlap] = ramp
    if start + size < length:
        weights[-overlap:] = ramp.flip(0)
    return weights


def feather_weights(
    tile: Tile,
    height: int,
    width: int,
    overlap: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Blend weights (1, 1, tile.height, tile.width) of `tile` in a height x width image.

    Across `overlap` px at each side that faces a neighbour the weight ramps from ~0 at the tile's edge to
    1; on sides at the image border it stays 1. Every pixel is in some tile and every weight is > 0, so
    the sum over tiles is positive everywhere. Separable: w(y, x) = w_rows(y) * w_cols(x).
    """
    rows = _profile(tile.top, tile.height, height, overlap, device, dtype)
    cols = _profile(tile.left, tile.width, width, overlap, device, dtype)
    return torch.outer(rows, cols).view(1, 1, tile.height, tile.width)


class TileBlender:
    """Accumulates processed tiles into a (1, C, H, W) canvas on a chosen device (CPU by default, to bound
    GPU memory): `add(tile, tensor)` adds weights * tensor and the weights; `result()` returns the
    normalised image.

    The canvas is allocated by the first `add`, with that tile's channel count, so `fn` may change C;
    `result()` hands it over and empties the blender.
    """

    def __init__(
        self,
        height: int,
        width: int,
        overlap: int,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.height = height
        self.width = width
        self.overlap = overlap
        self.device = torch.device(device)
        self.dtype = dtype
        self._sums: tuple[Tensor, Tensor] | None = None  # (canvas (1, C, H, W), weight sum (1, 1, H, W))

    def add(self, tile: Tile, tensor: Tensor) -> None:
        """Blend in one processed tile, (1, C, tile.height, tile.width) on any device.

        Detached first: an optimised tile's autograd graph must not outlive its step.
        """
        if tensor.dim() != 4 or tensor.shape[0] != 1 or tensor.shape[2:] != (tile.height, tile.width):
            raise ValueError(
                f"A processed tile must be (1, C, {tile.height}, {tile.width}), not {tuple(tensor.shape)}: "
                f"tiling needs a function that keeps the spatial size."
            )
        if self._sums is None:
            shape = (self.height, self.width)
            self._sums = (
                torch.zeros(1, tensor.shape[1], *shape, device=self.device, dtype=self.dtype),
                torch.zeros(1, 1, *shape, device=self.device, dtype=self.dtype),
            )
        canvas, weight_sum = self._sums
        weights = feather_weights(tile, self.height, self.width, self.overlap, self.device, self.dtype)
        values = tensor.detach().to(device=self.device, dtype=self.dtype)
        tile.region(canvas).addcmul_(values, weights)
        tile.region(weight_sum).add_(weights)

    def result(self) -> Tensor:
        """The blended image (1, C, H, W), once every tile of the plan has been added.

        The canvas is divided in place (no second full-size copy) and handed over: the blender is empty again.
        """
        if self._sums is None:
            raise RuntimeError("TileBlender has nothing to blend: add() tiles before calling result().")
        canvas, weight_sum = self._sums
        self._sums = None
        return canvas.div_(weight_sum)


def map_tiles(
    fn: Callable[[Tensor], Tensor],
    image: Tensor,
    tile: int,
    overlap: int,
    should_stop: Callable[[], bool] | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> Tensor:
    """Apply `fn` tile by tile: image (1, C, H, W) -> (1, C', H, W), blended on `image`'s device.

    `fn` gets a copy (1, C, h, w) of one tile and must return (1, C', h, w); it moves the tile to the
    compute device itself, so a CPU `image` keeps the full-resolution canvas off the GPU. `should_stop`
    (e.g. `JobContext.stop_requested`) is polled before each tile and raises `JobCancelled`; `on_tile(done,
    total)` is called after each one, for progress.
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"map_tiles needs one image (1, C, H, W), not {tuple(image.shape)}.")
    height, width = image.shape[2:]
    tiles = plan_tiles(height, width, tile, overlap)
    # Accumulate in at least float32: half-precision sums of many weighted tiles lose the low bits.
    blender = TileBlender(
        height, width, overlap, device=image.device, dtype=torch.promote_types(image.dtype, torch.float32)
    )
    for done, current in enumerate(tiles, start=1):
        if should_stop is not None and should_stop():
            raise JobCancelled
        # A copy, tile-sized: an fn that works in place must not write into its neighbours' input.
        blender.add(current, fn(current.region(image).clone()))
        if on_tile is not None:
            on_tile(done, len(tiles))
    return blender.result()
