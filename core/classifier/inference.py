"""What a trained classifier does: load its checkpoint, `predict` the labels of a picture as the
training images were seen (`classify`: with whether the picture looks like the training pictures at all,
`core.classifier.novelty`), and export it to ONNX."""

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from core.checkpoints import CheckpointInfo, ModelKind, load_model
from core.classifier.networks import ClassifierNet, _Probabilities
from core.classifier.novelty import PREFIX, Novelty, NoveltyCheck
from core.classifier.settings import ARCH, ClassifierConfig
from core.errors import UserError
from core.export import export_module
from core.images import load_image


class LoadedClassifier(NamedTuple):
    net: ClassifierNet  # the best weights on validation, in eval mode on the CPU
    config: ClassifierConfig
    info: CheckpointInfo
    novelty: NoveltyCheck | None = None  # None: trained before the check existed (or not calibrated)


def load_classifier(path: str | Path) -> LoadedClassifier:
    """The trained network of a classifier checkpoint (its best weights), its config, info and the
    calibrated check of unfamiliar pictures when the checkpoint has one."""
    net, info = load_model(
        path,
        ModelKind.CLASSIFIER,
        ARCH,
        lambda info: ClassifierNet(ClassifierConfig.from_dict(info.config)),
        "best.",
    )
    record = info.training.get(PREFIX)
    return LoadedClassifier(net, net.config, info, _novelty_check(path, record) if record else None)


def _novelty_check(path: str | Path, record: dict[str, Any]) -> NoveltyCheck | None:
    """The "ood." tensors of the checkpoint with the training JSON's record; None when they are missing
    (the check is then left out: the classifier still works)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            names = [n for n in f.keys() if n.startswith(f"{PREFIX}.")]  # noqa: SIM118
            tensors = {n.removeprefix(f"{PREFIX}."): f.get_tensor(n) for n in names}
    except (SafetensorError, OSError):
        return None
    return NoveltyCheck.of(tensors, record)


def loaded(model: "str | Path | LoadedClassifier") -> LoadedClassifier:
    return model if isinstance(model, LoadedClassifier) else load_classifier(model)


def centre_square(image: Image.Image, size: int) -> Image.Image:
    """The largest centred square, resized to `size` px: how `ImageSet.from_folder` shows pictures to the
    network, so a picture is classified as the training images were seen."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))


def to_input(image: Image.Image, config: ClassifierConfig) -> Tensor:
    """A picture -> (1, C, S, S) in [-1, 1] as the network takes it."""
    square = centre_square(image.convert("L" if config.channels == 1 else "RGB"), config.size)
    pixels = torch.from_numpy(np.array(square)).reshape(config.size, config.size, -1)
    return pixels.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1.0)


class Prediction(NamedTuple):
    label: str
    probability: float


class Classification(NamedTuple):
    top: list[Prediction]  # most probable first
    novelty: Novelty | None  # whether the picture looks unlike the training pictures; None: not calibrated


def classify(
    model: "str | Path | LoadedClassifier", image: Image.Image | str | Path, top: int = 3
) -> Classification:
    """The `top` most probable labels of a picture (or an image file), most probable first, and how
    unlike the training pictures it looks (`core.classifier.novelty`), from one pass of the network."""
    if top < 1:
        raise UserError(f"Ask for at least the top 1 label, not {top}.")
    classifier = loaded(model)
    picture = image if isinstance(image, Image.Image) else load_image(image)
    net = classifier.net
    with torch.inference_mode():
        pooled = net.pooled(to_input(picture, classifier.config))
        probabilities = net.head(pooled).softmax(dim=1)[0]
    values, indices = probabilities.topk(min(top, len(classifier.config.class_names)))
    names = classifier.config.class_names
    labels = [Prediction(names[i], float(p)) for p, i in zip(values.tolist(), indices.tolist(), strict=True)]
    novelty = None if classifier.novelty is None else classifier.novelty.check(pooled)[0]
    return Classification(labels, novelty)


def predict(
    model: "str | Path | LoadedClassifier", image: Image.Image | str | Path, top: int = 3
) -> list[Prediction]:
    """The `top` most probable labels of a picture (or an image file), most probable first."""
    return classify(model, image, top).top


def export_onnx(model: "str | Path | LoadedClassifier", out: str | Path) -> float:
    """Export the classifier to ONNX (input "image" (B, C, S, S) in [-1, 1], output "probabilities" (B,
    classes); the class names in the file's metadata as "class_names", one per line) through
    `core.export.export_module`: written atomically once onnxruntime agrees with PyTorch on another batch
    size than the one traced. Returns the max abs difference."""
    classifier = loaded(model)
    config = classifier.config
    shape = (config.channels, config.size, config.size)
    generator = torch.Generator().manual_seed(0)
    return export_module(
        _Probabilities(classifier.net),
        out,
        example=torch.rand(2, *shape, generator=generator) * 2 - 1,
        probe=torch.rand(3, *shape, generator=generator) * 2 - 1,
        input_name="image",
        output_name="probabilities",
        dynamic_axes={0: "batch"},
        metadata={"class_names": "\n".join(config.class_names)},
    )
