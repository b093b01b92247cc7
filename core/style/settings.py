"""What an artist asks of a stylization: torch-free, so the window can build requests before torch loads."""

import math
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from core.style.colour import KeepColours

MIN_SCALE_SIDE = 128  # coarser than this, VGG's deeper layers see only a few pixels


@dataclass(frozen=True)
class StyleImage:
    image: Image.Image
    weight: float = 1.0
    name: str = ""


@dataclass(frozen=True)
class GatysSettings:
    size: int = 512  # long side of the output, px
    iterations: int = 200  # at the coarsest scale; each finer one runs half as many as the one before
    scales: int = 3  # coarse-to-fine levels; 1 is the classic single-scale method
    style_strength: float = 1.0
    smoothing: float = 1.0
    style_scale: float = 1.0  # brush-stroke size: the style image's long side relative to the output's
    optimiser: Literal["lbfgs", "adam"] = "lbfgs"
    init: Literal["content", "noise"] = "content"
    seed: int = 0
    keep_colours: KeepColours = "off"
    tile: int = 768  # optimise the finest scale in tiles when it is larger than this
    preview_every: int = 10
    device: str | None = None
    weights_file: str | None = None  # a VGG weights file the user chose (core.features source 1)

    def schedule(self) -> list[tuple[int, int]]:
        """[(long side, iterations)] from coarsest to finest."""
        levels = max(1, min(self.scales, 1 + int(math.log2(max(1, self.size // MIN_SCALE_SIDE)))))
        sides = [round(self.size / 2**k) for k in reversed(range(levels))]
        return [(side, max(1, self.iterations >> k)) for k, side in enumerate(sides)]
