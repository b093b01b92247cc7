"""What a GAN is and is asked for, torch-free (stdlib and torch-free core modules only), so the window's
GAN panel and the CLI can use its sizes, DiffAugment policies, presets and config before torch is loaded."""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from core.errors import UserError
from core.presets import BEST, GOOD, QUICK_LOOK, DeviceClass, Preset, StepShape

ARCH = "dcgan-sn-v2"  # what new runs train (core.gan.networks)
V1 = "dcgan-sn-v1"  # the first layer plan, ten times the compute: its checkpoints still load and resume
ARCHS = (ARCH, V1)
CHECKPOINT_NAME = "gan.safetensors"
SIZES = (32, 64, 128)
AUGMENTS = ("color", "translation", "cutout")  # the DiffAugment ops (core.gan.networks.diff_augment)
DEFAULT_POLICY = "color,translation,cutout"
SMALL_DATA = 10_000  # below this many images DiffAugment is on by default (see core.gan.networks)
PREVIEW_SAMPLES = 64  # an 8 x 8 grid

# The width a run gets unless asked otherwise. On a CPU, 32 learns fastest per minute: Fashion-MNIST at
# 32 px after 150 s, Frechet distance 72 at width 32 (1,122 steps) against 293 at width 64 (398 steps),
# benchmarks/gan.py's judge. A GPU affords the architecture's full width.
DEFAULT_WIDTH: Mapping[DeviceClass, int] = {"cpu": 32, "gpu": 64}

# StepShape(size, batch, width). Measured on a 2-core EPYC CPU (fp32, no bf16), 32 px grey, DiffAugment on:
# steps of 0.18 s at width 32 and 0.3 s at width 48, so Quick look takes about 4 minutes (the CPU default:
# the CLI's own defaults at 1,200 steps), Good about 18 and Best about an hour. A GPU trains the
# architecture's defaults (64 px, width 64) and beyond.
PRESETS: Mapping[DeviceClass, tuple[Preset, ...]] = {
    "cpu": (
        Preset(QUICK_LOOK, 1200, StepShape(32, 64, 32)),
        Preset(GOOD, 6000, StepShape(32, 64, 32)),
        Preset(BEST, 12000, StepShape(32, 64, 48)),
    ),
    "gpu": (
        Preset(QUICK_LOOK, 2000, StepShape(64, 64, 32)),
        Preset(GOOD, 5000, StepShape(64, 64, 64)),
        Preset(BEST, 20000, StepShape(128, 64, 64)),
    ),
}


@dataclass(frozen=True)
class GanConfig:
    size: int = 64
    channels: int = 3
    latent: int = 128
    width: int = 64  # channels at S/2 (G's last hidden layer, D's first); at most 8x this at 4 x 4
    conditional: bool = False
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.99)
    batch_size: int = 64
    diffaugment: str = DEFAULT_POLICY  # comma-separated: color, translation, cutout; "" for none
    ema_decay: float = 0.999
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise UserError(
                f"The GAN image size must be one of {', '.join(map(str, SIZES))} px, not {self.size}."
            )
        if self.channels not in (1, 3):
            raise UserError(f"Images must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if min(self.latent, self.width, self.batch_size) < 1 or min(self.lr_g, self.lr_d) <= 0:
            raise UserError(
                "The latent size, width and batch size must be at least 1, learning rates above 0."
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"The EMA decay must be in [0, 1), not {self.ema_decay}.")
        if self.conditional and (self.num_classes < 2 or len(self.class_names) != self.num_classes):
            raise UserError("A class-conditional GAN needs at least 2 classes, each with a name.")
        unknown = set(policy_names(self.diffaugment)) - set(AUGMENTS)
        if unknown:
            raise UserError(
                f"Unknown DiffAugment policy {', '.join(sorted(unknown))}: use {', '.join(AUGMENTS)}."
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GanConfig":
        """The inverse of `asdict` (JSON turned the tuples into lists); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
        }
        return cls(**values)


def policy_names(policy: str) -> list[str]:
    """The op names of a comma-separated DiffAugment policy ("" for none)."""
    return [p.strip() for p in policy.split(",") if p.strip()]
