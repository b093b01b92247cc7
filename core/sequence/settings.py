"""What the Sequence studio's models are and are asked for, torch-free (stdlib and torch-free core modules
only), so the window's panels and the CLI can use their sizes, presets and configs before torch is loaded:
DRAW (`DrawConfig`) and the ConvLSTM forecaster (`ForecastConfig`)."""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from core.errors import UserError
from core.presets import BEST, GOOD, QUICK_LOOK, DeviceClass, Preset, StepShape
from core.vae.settings import LIKELIHOODS, Likelihood

DRAW_ARCH = "draw-v1"
DRAW_CHECKPOINT = "draw.safetensors"
DRAW_SIZES = (28, 32, 64)
DRAW_PREVIEW_PAIRS = 16  # preview grid: 2 x 8 training pictures over their reconstructions, then 32 samples
DRAW_KL_IMAGES = 256  # pictures the per-glimpse KL of the training JSON is averaged over

# StepShape(size, batch, hidden), at the default T = 16, read and write 5 x 5, latent 16. Measured on a
# 2-core AMD EPYC with bf16 (Fashion-MNIST): 0.107 s per step at batch 128, hidden 128; 0.121 s at hidden
# 256 (without attention 0.150 s). At equal time batch 128 beats 64 (600 s, hidden 256: 245.6 nats
# against 246.7; learning rate 2e-3: 244.2), though a step is thousands of small kernels whose launches,
# not the batch, set its cost; hence a GPU's larger batch too.
DRAW_PRESETS: Mapping[DeviceClass, tuple[Preset, ...]] = {
    "cpu": (
        Preset(QUICK_LOOK, 800, StepShape(28, 128, 128)),
        Preset(GOOD, 3000, StepShape(28, 128, 256)),
        Preset(BEST, 8000, StepShape(28, 128, 256)),
    ),
    "gpu": (
        Preset(QUICK_LOOK, 3000, StepShape(28, 128, 256)),
        Preset(GOOD, 10000, StepShape(28, 128, 256)),
        Preset(BEST, 30000, StepShape(28, 128, 512)),
    ),
}


@dataclass(frozen=True)
class DrawConfig:
    size: int = 28
    channels: int = 1
    glimpses: int = 16  # T: canvas updates per picture
    attention: bool = True  # False: read the whole picture and write the whole canvas each glimpse
    # N x N read grid. The paper's 2 x 2 needs its T = 64: at T = 16 a 2 x 2 read starts on the corner
    # pixels (stride 27 at 28 px), reads too little to encode a garment and the KL collapses (Fashion-MNIST,
    # 300 steps: 350.5 nats, KL 3.1, against 278.8 with 5 x 5 at the same 0.30 s per step).
    read_n: int = 5
    write_n: int = 5  # N x N write patch
    hidden: int = 256  # LSTM units of the encoder and of the decoder
    latent: int = 16  # z_t dimensions per glimpse
    likelihood: Likelihood = "bernoulli"
    lr: float = 2e-3
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in DRAW_SIZES:
            raise UserError(
                f"The DRAW image size must be one of {', '.join(map(str, DRAW_SIZES))} px, not {self.size}."
            )
        if self.channels not in (1, 3):
            raise UserError(f"Images must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if min(self.glimpses, self.hidden, self.latent, self.batch_size) < 1 or self.lr <= 0:
            raise UserError(
                "The glimpses, hidden size, latent size and batch size must be at least 1, the learning "
                "rate above 0."
            )
        # The grid stride (max(A, B) - 1) / (N - 1) (eq. 24) needs two points at least.
        if not (2 <= self.read_n <= self.size and 2 <= self.write_n <= self.size):
            raise UserError(
                f"The read and write grids must be 2 to {self.size} points wide, not "
                f"{self.read_n} and {self.write_n}."
            )
        if self.likelihood not in LIKELIHOODS:
            raise UserError(f"The likelihood must be {' or '.join(LIKELIHOODS)}, not {self.likelihood}.")

    @property
    def dimensions(self) -> int:
        return self.channels * self.size * self.size

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DrawConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


FORECAST_ARCH = "convlstm-v1"
FORECAST_CHECKPOINT = "sequence.safetensors"
FORECAST_GRID = 16  # every frame is a 16 x 16 grid of patches (Shi et al.: 64 px frames as 4 x 4 px patches)
FORECAST_SIZES = (32, 64, 128)  # patches of 2, 4 and 8 px
MOVING_FASHION_MNIST = "moving-fashion-mnist"  # the built-in sequences (core.sequence.sequences)
MOVING_SIZE = 64  # px: their frames
FORECAST_PREVIEW_SEQUENCES = 3  # preview rows: each sequence's true next frames over the predicted ones

# StepShape(size, batch, width: the hidden channels of each layer), 10 frames in and 10 out, two layers.
# Measured on a 2-core AMD EPYC with bf16 (Moving Fashion-MNIST): 0.26 s per step at width 32, 0.76 s at
# width 64, whose 1,574 steps in 20 min predict the held-out sequences at 0.41 of copy-last's MSE
# (benchmarks/sequence.py). Frame size barely matters: every frame is a 16 x 16 grid of patches. The GPU
# presets are scaled up by the same cost model, not yet timed on a GPU.
FORECAST_PRESETS: Mapping[DeviceClass, tuple[Preset, ...]] = {
    "cpu": (
        Preset(QUICK_LOOK, 500, StepShape(64, 16, 32)),
        Preset(GOOD, 1500, StepShape(64, 16, 64)),
        Preset(BEST, 6000, StepShape(64, 16, 64)),
    ),
    "gpu": (
        Preset(QUICK_LOOK, 2000, StepShape(64, 32, 64)),
        Preset(GOOD, 10000, StepShape(64, 32, 128)),
        Preset(BEST, 40000, StepShape(64, 32, 128)),
    ),
}


@dataclass(frozen=True)
class ForecastConfig:
    size: int = 64
    channels: int = 1
    input_frames: int = 10  # frames the encoder reads
    output_frames: int = 10  # frames a training step predicts (a trained model continues for any count)
    width: int = 64  # hidden channels of each ConvLSTM layer
    layers: int = 2  # in the encoder, and as many in the forecaster
    kernel: int = 3  # of the input-to-state and state-to-state convolutions
    lr: float = 1e-3
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in FORECAST_SIZES:
            raise UserError(
                f"The sequence frame size must be one of {', '.join(map(str, FORECAST_SIZES))} px, "
                f"not {self.size}."
            )
        if self.channels not in (1, 3):
            raise UserError(f"Frames must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if min(self.input_frames, self.output_frames, self.width, self.layers, self.batch_size) < 1:
            raise UserError("The input and output frames, width, layers and batch size must be at least 1.")
        if self.kernel < 1 or self.kernel % 2 == 0 or self.lr <= 0:
            raise UserError(
                f"The kernel must be odd (1, 3, 5, ...), not {self.kernel}, and the learning rate above 0."
            )

    @property
    def patch(self) -> int:
        """Side of the square of pixels one grid cell holds."""
        return self.size // FORECAST_GRID

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden channels per layer."""
        return (self.width,) * self.layers

    @property
    def frames(self) -> int:
        """Frames a training window spans: those read, then those predicted."""
        return self.input_frames + self.output_frames

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ForecastConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
