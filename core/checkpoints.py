"""Checkpoints: one .safetensors file per trained model, weights plus everything needed to use it.

The safetensors header's metadata (string -> string) carries one JSON document under "neural_easel":
the model kind, architecture, config, training state, app version and format version. So a single path
is all a user or the CLI passes around, loading can never execute code (unlike pickle), and the header
can be read without torch (the model picker lists checkpoints at start-up that way).
"""

import functools
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from core import __version__
from core.errors import CheckpointError, UserError
from core.files import atomic_path

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

M = TypeVar("M", bound="nn.Module")
T = TypeVar("T")

FORMAT_VERSION = 2  # 2: one layout for every family (core.training); 1 is read by `_upgraded`
SUFFIX = ".safetensors"
_METADATA_KEY = "neural_easel"
_MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


class ModelKind(StrEnum):
    FAST_STYLE = "fast-style"
    GAN = "gan"
    VAE = "vae"
    CLASSIFIER = "classifier"
    DRAW = "draw"
    SEQUENCE = "sequence"  # the ConvLSTM forecaster

    @property
    def label(self) -> str:
        labels = {
            "fast-style": "fast style network",
            "classifier": "classifier",
            "sequence": "sequence model",
        }
        return labels.get(self.value, self.upper())


def model_name(path: Path) -> str:
    """A checkpoint's name for people: its file's name, or its folder's for a file named after its kind
    (a training run writes <run name>/gan.safetensors)."""
    return path.parent.name if path.stem in set(ModelKind) else path.stem


@dataclass(frozen=True)
class CheckpointInfo:
    kind: ModelKind
    arch: str  # architecture name and revision, e.g. "dcgan-v1": what code rebuilds the model
    config: dict[str, Any] = field(default_factory=dict)  # hyper-parameters the architecture needs
    training: dict[str, Any] = field(default_factory=dict)  # step, data set, losses: for resume and display
    app_version: str = __version__
    format_version: int = FORMAT_VERSION
    created: str = ""


def save_checkpoint(
    path: str | os.PathLike[str],
    tensors: Mapping[str, "torch.Tensor"],
    *,
    kind: ModelKind,
    arch: str,
    config: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
) -> CheckpointInfo:
    """Write weights and metadata atomically: a crash mid-write leaves any previous file untouched."""
    from safetensors.torch import save_file

    info = CheckpointInfo(
        kind=ModelKind(kind),
        arch=arch,
        config=dict(config or {}),
        training=dict(training or {}),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    header = {_METADATA_KEY: json.dumps(asdict(info))}
    weights = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(weights, str(tmp), metadata=header)
    return info


def read_info(path: str | os.PathLike[str], kind: ModelKind | None = None) -> CheckpointInfo:
    """Read a checkpoint's metadata from its header alone (no weights, no torch).

    Raises CheckpointError for a file that is not ours, of another kind than `kind`, or too new.
    """
    path = Path(path)
    name = path.name
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > _MAX_HEADER_BYTES:
                raise ValueError("header too large")
            header = json.loads(f.read(size))
        raw = header.get("__metadata__", {}).get(_METADATA_KEY)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise CheckpointError(f"{name} is a folder, not a checkpoint file.") from None
    except (struct.error, ValueError, UnicodeDecodeError, AttributeError):
        raise CheckpointError(f"{name} is not a Neural Easel checkpoint (a {SUFFIX} model file).") from None
    if raw is None:
        raise CheckpointError(
            f"{name} is a safetensors file, but not one Neural Easel wrote (no model info)."
        )
    try:
        data = json.loads(raw)
        version = int(data.get("format_version", 0))
    except (ValueError, TypeError, AttributeError):
        raise CheckpointError(f"{name} has damaged model info and cannot be used.") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{name} was saved by a newer Neural Easel ({data.get('app_version', '?')}, checkpoint format "
            f"{version}); this version reads format {FORMAT_VERSION} at most. Update the app to use it."
        )
    if not _well_formed(data):
        raise CheckpointError(f"{name} has damaged model info and cannot be used.")
    try:
        info = _upgraded(CheckpointInfo(**{**data, "kind": ModelKind(data["kind"])}))
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{name} has damaged or unknown model info and cannot be used.") from None
    if kind is not None and info.kind != kind:
        raise CheckpointError(
            f"{name} is a {info.kind.label} checkpoint, not a {ModelKind(kind).label}: choose a "
            f"{ModelKind(kind).label} checkpoint."
        )
    return info


# Where format 1 kept each family's optimiser param groups, by the optimiser's name in format 2.
_V1_PARAM_GROUPS = {
    ModelKind.GAN: {"opt_g": "opt_g.param_groups", "opt_d": "opt_d.param_groups"},
    ModelKind.VAE: {"optim": "optimizer"},
    ModelKind.CLASSIFIER: {"optim": "optim.param_groups"},
    ModelKind.FAST_STYLE: {"optim": "optimizer"},
}
_V1_FAST_STYLE_SETTINGS = ("batch_size", "lr", "seed")  # format 1 kept them in the training JSON


def _upgraded(info: CheckpointInfo) -> CheckpointInfo:
    """A format-1 checkpoint's info in format 2: param groups under "optimizers", and a fast style's
    batch size, learning rate and seed in its config. Its tensors are renamed by `_upgraded_tensors`."""
    if info.format_version >= 2:
        return info
    training = dict(info.training)
    groups = {new: training.pop(old) for new, old in _V1_PARAM_GROUPS[info.kind].items() if old in training}
    config = dict(info.config)
    if info.kind == ModelKind.FAST_STYLE:
        config.update({k: training[k] for k in _V1_FAST_STYLE_SETTINGS if k in training})
    return replace(info, config=config, training={**training, "optimizers": groups}, format_version=2)


def _upgraded_tensors(tensors: dict[str, "torch.Tensor"], info: CheckpointInfo) -> dict[str, "torch.Tensor"]:
    """Format 1 saved a fast style network's weights without the "net." prefix of format 2."""
    if info.kind != ModelKind.FAST_STYLE or any(key.startswith("net.") for key in tensors):
        return tensors
    return {key if key.startswith("optim.") else f"net.{key}": value for key, value in tensors.items()}


# Counters of the training state: whole numbers, never negative (a resume starts from them).
_COUNTERS = ("step", "steps", "epoch", "batch", "image_count")


def _well_formed(data: dict[str, Any]) -> bool:
    """Whether a header's model info has the types every reader relies on (a hand-edited or damaged one
    may not): JSON of the shape CheckpointInfo describes, with whole, non-negative training counters."""
    config, training = data.get("config", {}), data.get("training", {})
    if not (isinstance(config, dict) and isinstance(training, dict)):
        return False
    return (
        all(isinstance(data.get(key, ""), str) for key in ("arch", "app_version", "created"))
        and type(data.get("format_version", FORMAT_VERSION)) is int
        and all(type(training.get(key, 0)) is int and training.get(key, 0) >= 0 for key in _COUNTERS)
        and isinstance(training.get("losses", {}), dict)
    )


def load_checkpoint(
    path: str | os.PathLike[str],
    kind: ModelKind | None = None,
    device: "torch.device | str" = "cpu",
    arch: str | tuple[str, ...] | None = None,
) -> tuple[dict[str, "torch.Tensor"], CheckpointInfo]:
    """Weights and metadata of a checkpoint, checked against `kind` and `arch` (the architecture, or
    architectures, the calling code builds) before any weight is read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = read_info(path, kind)
    if arch is not None and info.arch not in ((arch,) if isinstance(arch, str) else arch):
        raise CheckpointError(
            f"{Path(path).name} is a {info.kind.label} of an architecture this version does not know "
            f"({info.arch}): update the app to use it."
        )
    try:
        tensors = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{Path(path).name} is damaged and cannot be loaded ({exc}).") from None
    return _upgraded_tensors(tensors, info), info


def load_model(
    path: str | os.PathLike[str],
    kind: ModelKind,
    arch: str | tuple[str, ...],
    build: "Callable[[CheckpointInfo], M]",
    prefix: str,
) -> tuple["M", CheckpointInfo]:
    """The one way a trained model is loaded for use: the checkpoint is checked against `kind` and `arch`,
    `build(info)` makes the network from its config (and architecture), raising UserError, TypeError or
    ValueError for one it cannot build; it takes the weights saved under `prefix` and comes back on the
    CPU, in eval mode, without gradients."""
    tensors, info = load_checkpoint(path, kind, arch=arch)
    try:
        model = build(info)
        model.load_state_dict(under_prefix(tensors, prefix))
    except (RuntimeError, TypeError, ValueError, UserError):
        raise CheckpointError(
            f"{Path(path).name} does not hold the weights of a {info.kind.label} ({info.arch})."
        ) from None
    return model.eval().requires_grad_(False), info


def cached_by_file(load: "Callable[[Path], T]", maxsize: int = 4) -> "Callable[[str | Path], T]":
    """`load(path)` that keeps the last `maxsize` models loaded, keyed by the file's resolved path and
    modification time (a retrained or replaced file is read again); a missing file is a CheckpointError.
    For the models a panel uses again and again (a slider's decodes, a drawing's frames)."""

    @functools.lru_cache(maxsize=maxsize)
    def cached(path: Path, _modified_ns: int) -> T:
        return load(path)

    @functools.wraps(load)
    def loader(path: str | Path) -> T:
        path = Path(path)
        try:
            modified = path.stat().st_mtime_ns
        except OSError:
            raise CheckpointError(f"{path} does not exist.") from None
        return cached(path.resolve(), modified)

    return loader


def optimizer_tensors(
    optimizer: "torch.optim.Optimizer", prefix: str
) -> tuple[dict[str, "torch.Tensor"], list[dict[str, Any]]]:
    """An optimizer's state for a checkpoint: its per-parameter tensors named `{prefix}{index}.{name}`
    (e.g. "optim.3.exp_avg") and its param groups, which are plain numbers for the training JSON."""
    state = optimizer.state_dict()
    tensors = {
        f"{prefix}{index}.{name}": value
        for index, entry in state["state"].items()
        for name, value in entry.items()
    }
    return tensors, state["param_groups"]


def under_prefix(tensors: Mapping[str, "torch.Tensor"], prefix: str) -> dict[str, "torch.Tensor"]:
    """The tensors saved under `prefix` (e.g. "ema." of a GAN checkpoint), with the prefix removed: a
    module's state dict."""
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def restore_optimizer(
    optimizer: "torch.optim.Optimizer",
    tensors: Mapping[str, "torch.Tensor"],
    prefix: str,
    param_groups: list[dict[str, Any]],
    lr: float,
) -> None:
    """Load what `optimizer_tensors` saved, with the learning rate `lr` (a resume may lower it, e.g. after a
    divergence). Raises RuntimeError, KeyError or ValueError when the state does not fit the optimizer."""
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        if key.startswith(prefix):
            index, name = key.removeprefix(prefix).split(".", 1)
            per_param.setdefault(int(index), {})[name] = tensor
    optimizer.load_state_dict({"state": per_param, "param_groups": param_groups})
    for group in optimizer.param_groups:
        group["lr"] = lr
