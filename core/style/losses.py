"""Perceptual losses for style transfer (Gatys, Ecker, Bethge 2016; Johnson, Alahi, Fei-Fei 2016).

Both losses are *relative*: each layer's squared error is divided by the squared norm of its target.
That makes them independent of the feature scale of the network in use (Caffe VGG16 activations are
about 50x larger than torchvision VGG19's) and of the image size, so one set of default weights serves
every source and resolution.
"""

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram(features: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, C, C) channel correlations, normalised by C * H * W."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def blend_grams(per_style: Sequence[Mapping[str, Tensor]], weights: Sequence[float]) -> dict[str, Tensor]:
    """Several styles' Gram targets -> one, by weighted average per layer (weights need not sum to 1)."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("style weights must add up to more than zero")
    return {
        layer: sum((g[layer] * (w / total) for g, w in zip(per_style, weights, strict=True)), torch.zeros(()))
        for layer in per_style[0]
    }


def style_loss(features: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Mean over layers of ||G(F) - T||^2 / ||T||^2; targets are (1, C, C) Grams, broadcast over a batch."""
    return gram_loss({layer: gram(features[layer]) for layer in targets}, targets)


def gram_loss(grams: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """`style_loss` of Grams already computed (a large picture's, summed in pieces)."""
    losses = [
        (grams[layer] - target).square().sum(dim=(1, 2)) / target.square().sum().clamp_min(1e-12)
        for layer, target in targets.items()
    ]
    return torch.stack(losses).mean(dim=0).mean()


def content_loss(features: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Tensor:
    """Mean over layers of ||F - F_content||^2 / ||F_content||^2."""
    losses = [
        (features[layer] - target).square().sum() / target.square().sum().clamp_min(1e-12)
        for layer, target in targets.items()
    ]
    return torch.stack(losses).mean()


def total_variation(image: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring pixels: penalises high-frequency noise."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return dx + dy
