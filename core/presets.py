"""Training presets (Quick look / Good / Best) and how long a run takes on a device, torch-free.

Each generative family's `settings.py` lists its presets per device class (`PRESETS`), so the window and
the CLI offer the same ones. What a run costs is measured, not assumed: a step of each shape is timed on
the device (`core.training.StepTimingJob`, on synthetic tensors) and every real run reports its own rate
(`StepTiming`); a front end remembers those seconds per step by family, device and `StepShape.key`.
A shape never timed is estimated from the timed shape closest in cost (`seconds_per_step`).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

DeviceClass = Literal["cpu", "gpu"]  # "gpu": CUDA or Apple MPS; the presets differ by an order of magnitude
QUICK_LOOK, GOOD, BEST = "Quick look", "Good", "Best"
DEFAULT_PRESET: Mapping[DeviceClass, str] = {"cpu": QUICK_LOOK, "gpu": GOOD}  # what fits the device

# Step time grows with the batch and the pixels (convolutions: linearly) and with the width faster than
# linearly but slower than its square (conv work ~ width², yet small networks are overhead-bound):
# measured on a 2-core CPU, GAN 32 px (v1 plan): width 8 -> 16 -> 32 took 0.10 -> 0.26 -> 0.72 s (x2.6,
# x2.8); the v2 plan at batch 64, width 32 -> 64: 0.18 -> 0.37 s (x2.1).
WIDTH_EXPONENT = 1.5


@dataclass(frozen=True)
class StepShape:
    """What sets the cost of one training step: the image side (px), the batch size and the network width
    (None for a network of one width, the fast style's)."""

    size: int
    batch_size: int
    width: int | None = None

    @property
    def key(self) -> str:
        """A name for remembering its measured rate, e.g. "32px-b64-w16"."""
        return f"{self.size}px-b{self.batch_size}" + (f"-w{self.width}" if self.width else "")

    @property
    def cost(self) -> float:
        """Relative work of one step (the cost model above): only ratios of two costs mean something."""
        width = self.width**WIDTH_EXPONENT if self.width else 1.0
        return self.batch_size * self.size**2 * width


@dataclass(frozen=True)
class Preset:
    name: str
    steps: int
    shape: StepShape


@dataclass(frozen=True)
class StepTiming:
    """Seconds per step measured on `device` (`core.devices.describe`) for `shape`."""

    device: str
    device_class: DeviceClass
    shape: StepShape
    seconds_per_step: float


def device_class(device_type: str) -> DeviceClass:
    """ "cpu" for torch's device type "cpu", "gpu" for "cuda" and "mps"."""
    return "cpu" if device_type == "cpu" else "gpu"


def seconds_per_step(shape: StepShape, measured: Mapping[StepShape, float]) -> float | None:
    """The measured rate of `shape`, else that of the measured shape nearest in cost (on a log scale),
    scaled by the cost ratio; None when nothing was measured."""
    if shape in measured:
        return measured[shape]
    if not measured:
        return None
    nearest = min(measured, key=lambda known: abs(math.log(known.cost / shape.cost)))
    return measured[nearest] * shape.cost / nearest.cost
