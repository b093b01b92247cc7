"""What the model picker offers: the model families, their built-in tools and the trained checkpoints.

Checkpoints live in the user's models folder (`core.paths.models_dir`); their headers are read without
torch, so listing them is instant at start-up.
"""

import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.checkpoints import SUFFIX, CheckpointInfo, ModelKind, model_name, read_info
from core.errors import CheckpointError

log = logging.getLogger(__name__)


class Family(StrEnum):
    STYLE = "style"
    GAN = "gan"
    VAE = "vae"
    CLASSIFIER = "classifier"

    @property
    def label(self) -> str:
        return {"style": "Style transfer", "classifier": "Classifier"}.get(self.value, self.upper())


FAMILY_OF_KIND = {
    ModelKind.FAST_STYLE: Family.STYLE,
    ModelKind.GAN: Family.GAN,
    ModelKind.VAE: Family.VAE,
    ModelKind.CLASSIFIER: Family.CLASSIFIER,
}


class Tool(StrEnum):
    """Built-in tools that need no trained model."""

    STYLIZE = "stylize"
    COLOUR_TRANSFER = "colour-transfer"
    TRAIN_GAN = "train-gan"
    TRAIN_VAE = "train-vae"
    TRAIN_CLASSIFIER = "train-classifier"


# Built-in data sets, by the name the CLI and the settings use (core.data.open_data_set reads them).
FASHION_MNIST = "fashion-mnist"
TORCHVISION_PREFIX = "torchvision:"  # "torchvision:CIFAR10": a torchvision data set, downloaded once

BUILT_IN_TOOLS = {
    Family.STYLE: [Tool.STYLIZE, Tool.COLOUR_TRANSFER],
    Family.GAN: [Tool.TRAIN_GAN],
    Family.VAE: [Tool.TRAIN_VAE],
    Family.CLASSIFIER: [Tool.TRAIN_CLASSIFIER],
}
TOOL_LABELS = {
    Tool.STYLIZE: "Stylize",
    Tool.COLOUR_TRANSFER: "Colour transfer",
    Tool.TRAIN_GAN: "Train a GAN",
    Tool.TRAIN_VAE: "Train a VAE",
    Tool.TRAIN_CLASSIFIER: "Train a classifier",
}


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    info: CheckpointInfo

    @property
    def family(self) -> Family:
        return FAMILY_OF_KIND[self.info.kind]

    @property
    def name(self) -> str:
        return model_name(self.path)


@dataclass(frozen=True)
class Scan:
    models: list[TrainedModel]
    unreadable: list[tuple[Path, str]]  # files that look like checkpoints but are not usable, and why


def scan_models(folder: str | os.PathLike[str]) -> Scan:
    """Every checkpoint under `folder`, newest first; unusable files are reported, never fatal."""
    models, unreadable = [], []
    for path in sorted(Path(folder).rglob(f"*{SUFFIX}")):
        try:
            models.append(TrainedModel(path, read_info(path)))
        except CheckpointError as exc:
            log.warning("skipping %s: %s", path, exc)
            unreadable.append((path, str(exc)))
    models.sort(key=lambda m: m.info.created, reverse=True)
    return Scan(models, unreadable)
