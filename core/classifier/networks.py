"""The classifier's networks. Input is always (B, C, S, S) in [-1, 1] at the config's size S, as
`ImageSet.batch` makes it; each network turns that into what it needs. Two kinds of trunk, one head
(global average pooling, dropout, a linear layer), so Grad-CAM and the metrics treat both alike:

- "scratch": `CompactResNet` for small images (Fashion-MNIST, icons, 64 px photos).
- a pretrained ImageNet backbone (`core.classifier.backbones`): grey images become RGB, the input is
  resized to the backbone's 224 px and normalised as its weights expect.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.classifier.backbones import BACKBONES, INPUT_SIZE, build_backbone
from core.classifier.settings import SCRATCH, ClassifierConfig, scratch_stages


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
    Grad-CAM explains), `pooled` their average and `classify` the logits from them."""

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

    def pooled(self, x: Tensor) -> Tensor:
        """(B, C, S, S) -> (B, F): the global average of the last feature maps, what the head reads (and
        what `core.classifier.novelty` compares with the training pictures')."""
        return self.features(x).mean(dim=(2, 3))

    def classify(self, features: Tensor) -> Tensor:
        return self.head(features.mean(dim=(2, 3)))  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.features(x))


class _Probabilities(nn.Module):
    """What the ONNX file computes: class probabilities, more useful to other apps than logits."""

    def __init__(self, net: ClassifierNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).softmax(dim=1)  # type: ignore[no-any-return]
