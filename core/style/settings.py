"""What an artist asks of a stylization: torch-free, so the window can build requests before torch loads."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from PIL import Image

from core.errors import UserError
from core.presets import BEST, GOOD, QUICK_LOOK, DeviceClass, Preset, StepShape
from core.style.colour import KeepColours

MIN_SCALE_SIDE = 128  # coarser than this, VGG's deeper layers see only a few pixels
FAST_STYLE_STEPS = 2000  # a fast style network's training steps unless asked otherwise

# Training a fast style network: StepShape(crop side, batch). On a 2-core EPYC CPU without bf16 a step
# takes 0.93 s at 128 px, batch 2, and 9.4 s at 256 px, batch 4 (VGG forward and backward), so a CPU's
# Quick look learns on small crops: the Starry Night's colours and strokes on a photo in 3.4 min; Good
# takes about 30 min, Best (the original recipe) 5 h. A GPU trains Johnson et al.'s 256 px crops.
FAST_STYLE_PRESETS: Mapping[DeviceClass, tuple[Preset, ...]] = {
    "cpu": (
        Preset(QUICK_LOOK, 200, StepShape(128, 2)),
        Preset(GOOD, 800, StepShape(192, 2)),
        Preset(BEST, FAST_STYLE_STEPS, StepShape(256, 4)),
    ),
    "gpu": (
        Preset(QUICK_LOOK, 1000, StepShape(256, 4)),
        Preset(GOOD, 4000, StepShape(256, 4)),
        Preset(BEST, 10000, StepShape(256, 8)),
    ),
}


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
    style_strength: float = 1.0  # 1: the same balance for every pair (core.style.gatys); the slider: 0-10
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

    def sizes(self, picture: tuple[int, int]) -> list[tuple[int, int]]:
        """(width, height) of each scale of `schedule` for a picture of size `picture` (width, height):
        the picture's aspect, its long side as scheduled. The last is the output's size."""
        return [long_side_size(picture, side) for side, _ in self.schedule()]

    def output_size(self, picture: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the stylization of a picture of size `picture`: exactly what GatysJob returns
        (also when cancelled early), so the window and the CLI can say it before the run."""
        return self.sizes(picture)[-1]

    def pixel_iterations(self, picture: tuple[int, int]) -> int:
        """The run's work, pixels x iterations summed over the scales (tile overlap not counted): the unit
        in which a measured time per pixel-iteration extrapolates to another size or quality."""
        return sum(w * h * its for (w, h), (_, its) in zip(self.sizes(picture), self.schedule(), strict=True))


def long_side_size(picture: tuple[int, int], side: int) -> tuple[int, int]:
    """(width, height) of `picture` (width, height) scaled so its longer side is `side` px, aspect kept
    (the arithmetic of core.images.resize_long_side)."""
    width, height = picture
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# Relative losses (core.style.losses) make the weights independent of the VGG source and the image size.
# Gatys' 10 starts from the photo; a network that learns from scratch loses the photo under it, 3 keeps it.
FAST_STYLE_WEIGHT = 3.0
FAST_TV_WEIGHT = 0.02


@dataclass(frozen=True)
class FastStyleConfig:
    """What shapes a learned style: stored in its checkpoint, kept when a run is resumed (except the
    learning rate: core.training's resume rule)."""

    image_size: int = 256  # side of the square training crops, px
    style_scale: float = 1.0
    style_weight: float = FAST_STYLE_WEIGHT
    content_weight: float = 1.0
    tv_weight: float = FAST_TV_WEIGHT
    batch_size: int = 4
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 32 <= self.image_size <= 2048:
            raise UserError(f"The training image size must be between 32 and 2048 px, not {self.image_size}.")
        if self.batch_size < 1:
            raise UserError(f"The batch size must be at least 1, not {self.batch_size}.")
        weights = (self.style_weight, self.content_weight, self.tv_weight)
        if min(weights) < 0 or self.lr <= 0 or self.style_scale <= 0:
            raise UserError("Loss weights must be 0 or more; the learning rate and style scale above 0.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FastStyleConfig":
        """The inverse of `asdict`; unknown keys (the loss layers, kept for display) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
