"""Stylizing with a trained fast style network (core.style.networks): one forward pass (milliseconds on
a GPU) instead of an optimisation, in tiles on the network's grid for large pictures; and its ONNX export.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core.checkpoints import model_name
from core.devices import autocast, memory_format, pick_device, precision_name
from core.errors import UserError
from core.export import export_module
from core.images import to_pil, to_tensor
from core.jobs import ImageResult, JobContext
from core.style.colour import KeepColours, preserve_colours
from core.style.networks import GRID, load_transformer
from core.style.tiles import map_tiles

# The receptive field reaches 54 px, so a tile's output differs from the untiled one near its edges; over a
# 96 px feathered overlap what is left is < 0.04 at the worst pixel (measured: 64 px left 0.09).
TILE_OVERLAP = 96
MIN_TILE = 2 * TILE_OVERLAP + GRID


class FastStyleJob:
    """Stylize a picture with a trained network: one forward pass, or tiles for pictures larger than
    `tile` px (which then share the whole picture's normalisation statistics, measured at a size that
    fits: see `TransformerNet.shared_statistics`)."""

    title = "Stylize (fast network)"

    def __init__(
        self,
        content: Image.Image,
        model: Path,
        *,
        keep_colours: KeepColours = "off",
        tile: int = 1024,
        device: str | None = None,
    ) -> None:
        if keep_colours not in get_args(KeepColours):
            raise UserError(f"Unknown colour option '{keep_colours}': choose off, luminance or match.")
        if tile < MIN_TILE:
            raise UserError(f"The tile size must be at least {MIN_TILE} px, not {tile}.")
        self.content, self.model, self.keep_colours = content, Path(model), keep_colours
        self.tile, self.device = tile, device

    def run(self, ctx: JobContext) -> ImageResult:
        device = pick_device(self.device)
        layout = memory_format(device)
        net, _ = load_transformer(self.model)
        net.to(device).to(memory_format=layout)
        image = to_tensor(self.content)  # (1, 3, H, W) on the CPU: a large picture's canvas stays off the GPU
        height, width = image.shape[-2:]

        def stylize(part: Tensor) -> Tensor:
            with autocast(device):
                out: Tensor = net(part.to(device).contiguous(memory_format=layout))
            return out.float().cpu()

        with torch.inference_mode():
            if max(height, width) <= self.tile:
                ctx.progress(0, 1, stage="Stylizing")
                result = stylize(image)
                ctx.progress(1, 1, stage="Stylizing")
            else:
                # Statistics from the whole picture scaled to about one tile's area (the memory budget).
                scale = self.tile / math.sqrt(height * width)
                size = (max(32, round(height * scale)), max(32, round(width * scale)))
                whole = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
                with net.shared_statistics(whole.to(device).contiguous(memory_format=layout)):
                    result = map_grid_tiles(
                        stylize,
                        image,
                        self.tile,
                        should_stop=ctx.stop_requested,
                        on_tile=lambda done, total: ctx.progress(done, total, stage="Stylizing tiles"),
                    )
        stylized = preserve_colours(to_pil(result), self.content, self.keep_colours)
        settings = {
            "operation": "stylize",
            "method": "fast",
            "model": model_name(self.model),
            "keep_colours": self.keep_colours,
            "precision": precision_name(device),
        }
        return ImageResult(stylized, settings)


def map_grid_tiles(
    fn: Callable[[Tensor], Tensor],
    image: Tensor,
    tile: int,
    should_stop: Callable[[], bool] | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> Tensor:
    """`core.style.tiles.map_tiles` with every tile starting on the network's 4-px grid: image (1, 3, H, W)
    -> fn's output (1, 3, H, W), tiles of at most `tile` px overlapping by TILE_OVERLAP px.

    The stride-2 stages make the network's output depend on the phase of its input relative to that grid
    (aliasing), so two tiles on different phases disagree across their whole overlap. Tiling the image
    as 4 x 4 pixel blocks (pixel-unshuffled into 48 channels, (1, 48, H/4, W/4)) puts every tile on the grid;
    the feathered blend then ramps in 4-px steps.
    """
    height, width = image.shape[-2:]
    blocks = F.pixel_unshuffle(F.pad(image, (0, (-width) % GRID, 0, (-height) % GRID), mode="reflect"), GRID)
    out = map_tiles(
        lambda part: F.pixel_unshuffle(fn(F.pixel_shuffle(part, GRID)), GRID),
        blocks,
        tile // GRID,
        TILE_OVERLAP // GRID,
        should_stop=should_stop,
        on_tile=on_tile,
    )
    return F.pixel_shuffle(out, GRID)[..., :height, :width]


def export_onnx(model: str | Path, out: str | Path) -> float:
    """Export a trained network to ONNX with dynamic batch, height and width (input "image", output
    "stylized"), through `core.export.export_module`: written atomically once onnxruntime agrees with PyTorch
    on a picture of another size than the one traced. Returns the max abs difference."""
    net, _ = load_transformer(model)
    generator = torch.Generator().manual_seed(0)
    return export_module(
        net,
        out,
        example=torch.rand(1, 3, 256, 256, generator=generator),
        probe=torch.rand(1, 3, 197, 141, generator=generator),  # odd sizes: the padding path too
        input_name="image",
        output_name="stylized",
        dynamic_axes={0: "batch", 2: "height", 3: "width"},
    )
