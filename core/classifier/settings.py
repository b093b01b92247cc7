"""What a classifier is and is asked for, torch-free (stdlib and core.errors only): its routes, backbone
names, config and training settings, so the window's classifier panel and the CLI can use them before
torch is loaded."""

import math
from dataclasses import dataclass, fields
from typing import Any

from core.errors import UserError

ARCH = "classifier-v1"
CHECKPOINT_NAME = "classifier.safetensors"
SCRATCH = "scratch"
PRETRAINED = "pretrained"
ROUTES = (SCRATCH, PRETRAINED)
EFFICIENTNET_LITE0 = "efficientnet-lite0"
# The keys of core.classifier.backbones.BACKBONES (that module imports torch), in its order.
BACKBONE_NAMES = (EFFICIENTNET_LITE0, "resnet18", "resnet50", "mobilenet_v3_large")


@dataclass(frozen=True)
class ClassifierConfig:
    class_names: tuple[str, ...]
    size: int  # the side of the square images the network takes
    channels: int = 3
    backbone: str = SCRATCH  # SCRATCH, or one of BACKBONE_NAMES
    width: int = 24  # scratch: channels of the first stage, doubled per stage
    dropout: float = 0.0  # before the linear head

    def __post_init__(self) -> None:
        if len(self.class_names) < 2:
            raise UserError("A classifier needs at least two classes.")
        if self.channels not in (1, 3):
            raise UserError(f"Images must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if self.backbone != SCRATCH and self.backbone not in BACKBONE_NAMES:
            raise UserError(f"Unknown backbone '{self.backbone}': choose one of {', '.join(BACKBONE_NAMES)}.")

    @property
    def route(self) -> str:
        return SCRATCH if self.backbone == SCRATCH else PRETRAINED

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClassifierConfig":
        """The inverse of `asdict` (JSON turned the tuple into a list); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
        }
        return cls(**values)


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int  # scratch: all of training; pretrained: the head on frozen features
    fine_tune_epochs: int = 0  # pretrained only: then the whole network
    batch_size: int = 128
    lr: float = 0.1  # the one-cycle peak
    fine_tune_lr: float = 1e-4
    weight_decay: float = 5e-4
    val_fraction: float = 0.1
    patience: int = 4  # epochs without a better validation accuracy before stopping
    seed: int = 0


SCRATCH_MIN_SIZE, SCRATCH_MAX_SIZE = 16, 64  # photos are capped: small images train fast on a CPU


def scratch_stages(size: int) -> int:
    """Downsamplings for an S px input: the last feature map keeps 4-16 px (7 for Fashion-MNIST's 28),
    enough for Grad-CAM to say where, while each stage doubles what a unit sees."""
    return 2 if size <= 32 else 3 if size <= 64 else 4


def scratch_size(side: int) -> int:
    """The size a from-scratch network trains at for pictures whose shorter side is `side` px: their own
    resolution (an upscaled picture costs compute and shows nothing new; a 28 px set trained at 64 px
    costs 5x), kept within 16-64 px and rounded to a multiple of 2^stages, so that every stride-2 stage
    halves the map exactly."""
    size = min(SCRATCH_MAX_SIZE, max(SCRATCH_MIN_SIZE, side))
    step = 1 << scratch_stages(size)
    return max(SCRATCH_MIN_SIZE, min(SCRATCH_MAX_SIZE, step * round(size / step)))


def default_settings(route: str, train_images: int) -> TrainingSettings:
    """The route's defaults; from scratch, small sets get enough epochs for about 800 steps."""
    if route == PRETRAINED:
        return TrainingSettings(epochs=30, batch_size=64, lr=3e-3, weight_decay=1e-4, patience=8)
    steps_per_epoch = math.ceil(train_images / effective_batch(128, train_images))
    epochs = min(200, max(12, math.ceil(800 / steps_per_epoch)))
    return TrainingSettings(epochs=epochs, patience=max(4, epochs // 5))


def effective_batch(batch_size: int, train_images: int) -> int:
    """Small sets take smaller batches (16 at least), so that an epoch has about 8 steps to learn from."""
    return max(1, min(batch_size, max(16, math.ceil(train_images / 8)), train_images))
