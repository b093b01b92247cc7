"""The classifier network, its config and checkpoint, and what a trained one does: predict, export.

Input is always (B, C, S, S) in [-1, 1] at the config's size S, as `ImageSet.batch` makes it; each
network turns that into what it needs. Two kinds of trunk, one head (global average pooling, dropout, a
linear layer), so Grad-CAM and the metrics treat both alike:

- "scratch": `CompactResNet` for small images (Fashion-MNIST, icons, 64 px photos).
- a pretrained ImageNet backbone (`core.classifier.backbones`): grey images become RGB, the input is
  resized to the backbone's 224 px and normalised as its weights expect.
"""

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from core.checkpoints import CheckpointInfo, ModelKind, load_checkpoint, under_prefix
from core.classifier.backbones import BACKBONES, INPUT_SIZE, build_backbone
from core.errors import CheckpointError, UserError
from core.files import atomic_path
from core.images import load_image

ARCH = "classifier-v1"
CHECKPOINT_NAME = "classifier.safetensors"
SCRATCH = "scratch"
PRETRAINED = "pretrained"
ROUTES = (SCRATCH, PRETRAINED)


@dataclass(frozen=True)
class ClassifierConfig:
    class_names: tuple[str, ...]
    size: int  # the side of the square images the network takes
    channels: int = 3
    backbone: str = SCRATCH  # SCRATCH, or a name in backbones.BACKBONES
    width: int = 24  # scratch: channels of the first stage, doubled per stage
    dropout: float = 0.0  # before the linear head

    def __post_init__(self) -> None:
        if len(self.class_names) < 2:
            raise UserError("A classifier needs at least two classes.")
        if self.channels not in (1, 3):
            raise UserError(f"Images must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if self.backbone != SCRATCH and self.backbone not in BACKBONES:
            raise UserError(f"Unknown backbone '{self.backbone}': choose one of {', '.join(BACKBONES)}.")

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


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    """x + BN(conv(ReLU(BN(conv(x))))), then ReLU (He et al. 2016, the basic block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(channels, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


def scratch_stages(size: int) -> int:
    """Downsamplings for an S px input: the last feature map keeps 7-16 px, enough for Grad-CAM to say
    where, while each stage doubles what a unit sees."""
    return 2 if size <= 32 else 3 if size <= 64 else 4


class CompactResNet(nn.Module):
    """(B, C, S, S) -> (B, w * 2^stages, S / 2^stages, S / 2^stages): a 3x3 conv stem at full resolution,
    then per stage a stride-2 conv that doubles the channels and a residual block. Width 24 at 28 px (two
    stages): 0.26M parameters and 20M multiply-adds per image, so it trains at about 1,000 images/s on two
    CPU cores; at 64 px (three stages) 1.1M and 160M."""

    def __init__(self, channels: int, width: int, size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = _conv_bn(channels, width)
        for stage in range(scratch_stages(size)):
            c_in = width * 2**stage
            layers += [*_conv_bn(c_in, 2 * c_in, stride=2), ResidualBlock(2 * c_in)]
        self.layers = nn.Sequential(*layers)
        self.out_channels = width * 2 ** scratch_stages(size)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # type: ignore[no-any-return]


class ClassifierNet(nn.Module):
    """(B, C, S, S) in [-1, 1] -> (B, classes) logits; `features` gives the last feature maps (the layer
    Grad-CAM explains) and `classify` the logits from them."""

    mean: Tensor
    std: Tensor

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        if config.backbone == SCRATCH:
            scratch = CompactResNet(config.channels, config.width, config.size)
            self.trunk: nn.Module = scratch
            features = scratch.out_channels
        else:
            spec = BACKBONES[config.backbone]
            self.trunk = build_backbone(config.backbone)
            features = spec.features
            self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(features, len(config.class_names)))

    def prepare(self, x: Tensor) -> Tensor:
        """What the trunk takes: the input itself from scratch; RGB at 224 px, normalised, for a backbone."""
        if self.config.backbone == SCRATCH:
            return x
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        if x.shape[-1] != INPUT_SIZE:  # antialiasing only matters, and only exports to ONNX, when shrinking
            shrink = x.shape[-1] > INPUT_SIZE
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=shrink)
        return (x.add(1).mul(0.5) - self.mean) / self.std

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(self.prepare(x))  # type: ignore[no-any-return]

    def classify(self, features: Tensor) -> Tensor:
        return self.head(features.mean(dim=(2, 3)))  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.features(x))


class LoadedClassifier(NamedTuple):
    net: ClassifierNet  # the best weights on validation, in eval mode on the CPU
    config: ClassifierConfig
    info: CheckpointInfo


def read_classifier_checkpoint(path: Path) -> tuple[dict[str, Tensor], CheckpointInfo]:
    return load_checkpoint(path, ModelKind.CLASSIFIER, arch=ARCH)


def load_classifier(path: str | Path) -> LoadedClassifier:
    """The trained network of a classifier checkpoint (its best weights), its config and info."""
    path = Path(path)
    tensors, info = read_classifier_checkpoint(path)
    try:
        config = ClassifierConfig.from_dict(info.config)
        net = ClassifierNet(config)
        net.load_state_dict(under_prefix(tensors, "best."))
    except (RuntimeError, TypeError, UserError):
        raise CheckpointError(f"{path.name} does not hold the weights of a {ARCH} classifier.") from None
    return LoadedClassifier(net.eval().requires_grad_(False), config, info)


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


def predict(
    model: "str | Path | LoadedClassifier", image: Image.Image | str | Path, top: int = 3
) -> list[Prediction]:
    """The `top` most probable labels of a picture (or an image file), most probable first."""
    if top < 1:
        raise UserError(f"Ask for at least the top 1 label, not {top}.")
    classifier = loaded(model)
    picture = image if isinstance(image, Image.Image) else load_image(image)
    with torch.inference_mode():
        probabilities = classifier.net(to_input(picture, classifier.config)).softmax(dim=1)[0]
    values, indices = probabilities.topk(min(top, len(classifier.config.class_names)))
    names = classifier.config.class_names
    return [Prediction(names[i], float(p)) for p, i in zip(values.tolist(), indices.tolist(), strict=True)]


class _Probabilities(nn.Module):
    """What the ONNX file computes: class probabilities, more useful to other apps than logits."""

    def __init__(self, net: ClassifierNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).softmax(dim=1)  # type: ignore[no-any-return]


def export_onnx(model: "str | Path | LoadedClassifier", out: str | Path) -> float:
    """Export the classifier to ONNX (opset 17; input "image" (B, C, S, S) in [-1, 1], output
    "probabilities" (B, classes); the class names in the file's metadata as "class_names", one per line),
    written atomically once onnxruntime agrees with PyTorch. Returns the max abs difference."""
    import onnx

    classifier = loaded(model)
    config = classifier.config
    wrapper = _Probabilities(classifier.net).eval()
    generator = torch.Generator().manual_seed(0)
    traced = torch.rand(2, config.channels, config.size, config.size, generator=generator) * 2 - 1
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter warns that it is deprecated
            torch.onnx.export(
                wrapper,
                (traced,),
                str(tmp),
                dynamo=False,
                opset_version=17,
                input_names=["image"],
                output_names=["probabilities"],
                dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
            )
        exported = onnx.load(str(tmp))
        entry = exported.metadata_props.add()
        entry.key, entry.value = "class_names", "\n".join(config.class_names)
        onnx.save(exported, str(tmp))
        import onnxruntime  # here: it takes a while to import and only exports need it

        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        probe = torch.rand(3, config.channels, config.size, config.size, generator=generator) * 2 - 1
        with torch.inference_mode():
            expected = wrapper(probe)
        (got,) = session.run(None, {"image": probe.numpy()})
        difference = float((torch.from_numpy(got) - expected).abs().max())
        if difference > 1e-4:
            raise UserError(f"The ONNX export differs from the model by {difference:.2g}: not saved.")
    return difference
