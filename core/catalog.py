"""What the model picker offers: the model families, their built-in tools and the trained checkpoints.

Checkpoints live in the user's models folder (`core.paths.models_dir`); their headers are read without
torch, so listing them is instant at start-up. `rename_model` and `delete_model` are what the picker's
Rename and Delete do (the window first tries the system's trash, which only Qt knows).
"""

import logging
import os
import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.checkpoints import SUFFIX, CheckpointInfo, ModelKind, model_name, read_info
from core.errors import CheckpointError, StorageError, UserError, os_error_message

log = logging.getLogger(__name__)


class Family(StrEnum):
    STYLE = "style"
    GAN = "gan"
    VAE = "vae"
    CLASSIFIER = "classifier"
    SEQUENCE = "sequence"

    @property
    def label(self) -> str:
        return {"style": "Style transfer", "classifier": "Classifier", "sequence": "Sequence"}.get(
            self.value, self.upper()
        )


FAMILY_OF_KIND = {
    ModelKind.FAST_STYLE: Family.STYLE,
    ModelKind.GAN: Family.GAN,
    ModelKind.VAE: Family.VAE,
    ModelKind.CLASSIFIER: Family.CLASSIFIER,
    ModelKind.DRAW: Family.SEQUENCE,
    ModelKind.SEQUENCE: Family.SEQUENCE,
}


class Tool(StrEnum):
    """Built-in tools that need no trained model."""

    STYLIZE = "stylize"
    COLOUR_TRANSFER = "colour-transfer"
    TRAIN_GAN = "train-gan"
    TRAIN_VAE = "train-vae"
    TRAIN_CLASSIFIER = "train-classifier"
    TRAIN_DRAW = "train-draw"
    CONTINUE_SEQUENCE = "continue-sequence"


# Built-in data sets, by the name the CLI and the settings use (core.data.open_data_set reads them).
FASHION_MNIST = "fashion-mnist"
FASHION_MNIST_TRAIN_IMAGES = 60_000  # its training split: what training reads and a model records
TORCHVISION_PREFIX = "torchvision:"  # "torchvision:CIFAR10": a torchvision data set, downloaded once

BUILT_IN_TOOLS = {
    Family.STYLE: [Tool.STYLIZE, Tool.COLOUR_TRANSFER],
    Family.GAN: [Tool.TRAIN_GAN],
    Family.VAE: [Tool.TRAIN_VAE],
    Family.CLASSIFIER: [Tool.TRAIN_CLASSIFIER],
    Family.SEQUENCE: [Tool.TRAIN_DRAW, Tool.CONTINUE_SEQUENCE],
}
TOOL_LABELS = {
    Tool.STYLIZE: "Stylize",
    Tool.COLOUR_TRANSFER: "Colour transfer",
    Tool.TRAIN_GAN: "Train a GAN",
    Tool.TRAIN_VAE: "Train a VAE",
    Tool.TRAIN_CLASSIFIER: "Train a classifier",
    Tool.TRAIN_DRAW: "Train DRAW",
    Tool.CONTINUE_SEQUENCE: "Continue a sequence",
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


# What no model name may hold: path separators, and what Windows or macOS refuse in a file name.
_NOT_IN_NAMES = frozenset('/\\:*?"<>|')
MAX_NAME_BYTES = 200  # file systems allow 255; leave room for the suffix and a temporary file's


def model_location(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """What holds the trained model at `path` on disk: its training run's folder for a checkpoint named
    after its kind (<run>/gan.safetensors, as `core.checkpoints.model_name` names it), else the file.
    Never `folder` itself (the models folder) nor anything outside it."""
    path, root = Path(path), Path(folder).resolve()
    location = path.parent if path.stem in set(ModelKind) else path
    if location.resolve() == root:  # a kind-named file right in the models folder: only the file
        location = path
    if not location.resolve().is_relative_to(root) or location.resolve() == root:
        raise UserError(f"{path} is not in the models folder {folder}.")
    return location


def check_model_name(name: str) -> str:
    """`name` without surrounding spaces, or a UserError saying why it cannot name a model."""
    name = name.strip()
    if not name:
        raise UserError("Type a name for the model.")
    if name.startswith("."):
        raise UserError("A model's name cannot start with a dot (that would hide it).")
    bad = sorted({c for c in name if c in _NOT_IN_NAMES or ord(c) < 32})
    if bad:
        shown = " ".join(c if c.isprintable() else f"U+{ord(c):04X}" for c in bad)
        raise UserError(f"A model's name cannot hold {shown}: file names may not.")
    if name.endswith("."):
        raise UserError("A model's name cannot end with a dot (Windows drops it).")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UserError("That name is too long: choose a shorter one.")
    return name


def rename_model(path: str | os.PathLike[str], new_name: str, folder: str | os.PathLike[str]) -> Path:
    """Rename the trained model at `path` (its run folder or its file, `model_location`) to `new_name`
    and return the checkpoint's new path. A name another file or folder has is refused: nothing is ever
    replaced. Renaming to its own name returns `path` unchanged."""
    path = Path(path)
    source = model_location(path, folder)
    is_folder = source != path
    name = check_model_name(new_name)
    if not is_folder:
        if name.lower().endswith(SUFFIX):
            name = check_model_name(name[: -len(SUFFIX)])
        if name in set(ModelKind):  # <kind>.safetensors is named after its folder (`model_name`)
            raise UserError(f"“{name}” is reserved for a training run's file: choose another name.")
    target = source.with_name(name if is_folder else f"{name}{SUFFIX}")
    if target == source:
        return path
    if target.exists() and not _same_entry(source, target):
        raise UserError(f"A model or file called “{name}” is already there: choose another name.")
    try:
        _rename_without_replacing(source, target)
    except FileExistsError:
        raise UserError(f"A model or file called “{name}” is already there: choose another name.") from None
    except OSError as exc:
        raise StorageError(os_error_message(exc, source, "rename")) from exc
    log.info("renamed model %s to %s", source, target)
    return target / path.name if is_folder else target


def delete_model(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Delete the trained model at `path` for good (its run folder or its file) and return what was
    deleted. For when there is no trash to move it to: the window asks first and says so."""
    location = model_location(path, folder)
    try:
        if location.is_dir() and not location.is_symlink():
            shutil.rmtree(location)
        else:
            location.unlink()
    except OSError as exc:
        raise StorageError(os_error_message(exc, location, "delete")) from exc
    log.info("deleted model %s", location)
    return location


def _same_entry(source: Path, target: Path) -> bool:
    """Whether `target` is `source` under another spelling (a case-only rename on macOS or Windows)."""
    try:
        return os.path.samefile(source, target)
    except OSError:
        return False


def _rename_without_replacing(source: Path, target: Path) -> None:
    """`os.rename` that never replaces `target`. A file is linked under its new name first (which fails
    if the name is taken, atomically), then unlinked; where links are not supported, and for folders
    (a rename replaces an empty folder only, and `target` was just checked), it is a plain rename."""
    if source.is_dir() or _same_entry(source, target):
        os.rename(source, target)  # Windows never replaces; POSIX refuses a folder that holds anything
        return
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:  # FAT, some network disks: no hard links
        if target.exists():
            raise FileExistsError(target) from None
        os.rename(source, target)
        return
    os.unlink(source)
