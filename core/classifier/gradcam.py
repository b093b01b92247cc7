"""Grad-CAM: where in a picture the classifier looked (Selvaraju et al., "Grad-CAM: Visual Explanations
from Deep Networks via Gradient-based Localization", ICCV 2017).

For class c and the last convolutional feature maps A^k (the trunk's output, (K, h, w)):
    alpha_k = mean over (i, j) of d y_c / d A^k_ij      (eq. 1: how much map k matters for c)
    L_c     = ReLU(sum_k alpha_k A^k)                    (eq. 2: only evidence *for* c)
upsampled to the input and scaled to [0, 1]. The map covers the centred square the network sees; the
overlay puts it back on the whole picture and dims what the network did not see.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core.classifier.inference import LoadedClassifier, to_input


def grad_cam(
    classifier: LoadedClassifier, image: Image.Image, target: int | None = None
) -> tuple[Tensor, int]:
    """The Grad-CAM map (S, S) in [0, 1] of class `target` (default: the predicted one) over the network's
    S x S input, and that class's index."""
    x = to_input(image, classifier.config)
    net = classifier.net
    with torch.enable_grad():
        features = net.features(x).detach().requires_grad_(True)  # (1, K, h, w)
        logits = net.classify(features)
        chosen = int(logits.argmax(dim=1)) if target is None else target
        (gradients,) = torch.autograd.grad(logits[0, chosen], features)
    alpha = gradients.mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    cam = F.relu((alpha * features.detach()).sum(dim=1, keepdim=True))  # (1, 1, h, w)
    size = classifier.config.size
    cam = F.interpolate(cam, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam), chosen


def _heat_colours(cam: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) float RGB along a dark blue - cyan - yellow - red ramp."""
    stops = np.array([[0.0, 0.0, 0.5], [0.0, 0.8, 1.0], [1.0, 0.9, 0.0], [0.9, 0.0, 0.0]])
    position = cam * (len(stops) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(stops) - 2)
    t = (position - low)[..., None]
    return stops[low] * (1 - t) + stops[low + 1] * t  # type: ignore[no-any-return]


def overlay(image: Image.Image, cam: Tensor, opacity: float = 0.5) -> Image.Image:
    """`image` (any size) with the (S, S) map over its centred square, blended at `opacity` where the map
    is high; outside the square the picture is dimmed."""
    rgb = image.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    heat = Image.fromarray((cam.clamp(0, 1).numpy() * 255).astype(np.uint8), "L").resize(
        (side, side), Image.Resampling.BILINEAR
    )
    strength = np.asarray(heat, dtype=np.float32)[..., None] / 255  # (side, side, 1)
    pixels = np.asarray(rgb, dtype=np.float32) / 255
    result = pixels * 0.45  # dimmed: not seen
    square = pixels[top : top + side, left : left + side]
    weight = opacity * np.sqrt(strength)  # sqrt: weak evidence still shows
    result[top : top + side, left : left + side] = (
        square * (1 - weight) + _heat_colours(strength[..., 0]) * weight
    )
    return Image.fromarray((np.clip(result, 0, 1) * 255).round().astype(np.uint8), "RGB")
