"""What a VAE is and is asked for, torch-free (stdlib and torch-free core modules only), so the window's
VAE panel and the CLI can use its sizes, likelihoods, presets and config before torch is loaded."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from core.errors import UserError
from core.presets import BEST, GOOD, QUICK_LOOK, DeviceClass, Preset, StepShape

ARCH = "conv-vae-v1"
CHECKPOINT_NAME = "vae.safetensors"
SIZES = (28, 32, 64, 128)
LIKELIHOODS = ("bernoulli", "gaussian")
Likelihood = Literal["bernoulli", "gaussian"]
# Where samples are drawn: "fitted", the density of the training pictures' codes fitted after training
# (core.vae.density; a checkpoint without one falls back to the standard one), or "standard", N(0, I).
PRIORS = ("fitted", "standard")
Prior = Literal["fitted", "standard"]
PREVIEW_PAIRS = 16  # preview grid: 2 x 8 training pictures over their reconstructions, then 32 samples
KL_IMAGES = 1024  # pictures the per-dimension KL (slider ranking) is averaged over
DENSITY_IMAGES = 20_000  # training pictures whose codes the sampling density is fitted to
# The width a run gets unless asked otherwise. On a CPU, 16 learns more per minute: Fashion-MNIST after
# 300 s of training, test negative ELBO 242.1 nats at width 16 against 244.9 at 32 (benchmarks/vae.py).
DEFAULT_WIDTH: Mapping[DeviceClass, int] = {"cpu": 16, "gpu": 32}

# StepShape(size, batch, width); one size per device class, as the data's size matters more than the
# preset's (the window trains Fashion-MNIST at its own 28 px). Measured on a 2-core EPYC CPU (fp32): steps
# of 0.09 / 0.17 / 0.43 s at 28 px, 0.15 / 0.37 / 1.0 s at 32 px: Quick look reconstructs recognisable
# clothes from Fashion-MNIST in 2.3 min; Good takes 12 min there (25 at 32 px), Best 36 (85).
PRESETS: Mapping[DeviceClass, tuple[Preset, ...]] = {
    "cpu": (
        Preset(QUICK_LOOK, 1500, StepShape(32, 64, 16)),
        Preset(GOOD, 4000, StepShape(32, 128, 16)),
        Preset(BEST, 5000, StepShape(32, 128, 32)),
    ),
    "gpu": (
        Preset(QUICK_LOOK, 2000, StepShape(64, 128, 32)),
        Preset(GOOD, 5000, StepShape(64, 128, 64)),
        Preset(BEST, 20000, StepShape(64, 128, 128)),
    ),
}


@dataclass(frozen=True)
class VaeConfig:
    size: int = 32
    channels: int = 1
    latent: int = 32
    width: int = 32  # channels of the full-resolution layer; up to 8x this at the bottom
    beta: float = 1.0
    likelihood: Likelihood = "bernoulli"
    warmup: int = 1000  # steps over which the KL weight rises from 0 to beta
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise UserError(
                f"The VAE image size must be one of {', '.join(map(str, SIZES))} px, not {self.size}."
            )
        if self.channels not in (1, 3):
            raise UserError(f"Images must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if min(self.latent, self.width, self.batch_size) < 1 or self.lr <= 0 or self.warmup < 0:
            raise UserError(
                "The latent size, width and batch size must be at least 1, the learning rate above 0."
            )
        if not self.beta > 0:
            raise UserError(f"Beta must be above 0, not {self.beta}.")
        if self.likelihood not in LIKELIHOODS:
            raise UserError(f"The likelihood must be {' or '.join(LIKELIHOODS)}, not {self.likelihood}.")

    @property
    def base(self) -> int:
        """Side of the smallest feature map: 28 -> 14 -> 7; 32/64/128 -> ... -> 4."""
        return 7 if self.size == 28 else 4

    @property
    def halvings(self) -> int:
        return round(math.log2(self.size / self.base))

    @property
    def dimensions(self) -> int:
        return self.channels * self.size * self.size

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "VaeConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
