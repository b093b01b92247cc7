"""The fast style network: Johnson, Alahi, Fei-Fei's image transformation network ("Perceptual Losses
for Real-Time Style Transfer and Super-Resolution", ECCV 2016), one per style, and how a trained one is
read from its checkpoint (kind FAST_STYLE: the network's weights, and Adam's state under "optim." for
resuming). Training is core.style.training; stylizing with a trained one, core.style.fast.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.checkpoints import CheckpointInfo, ModelKind, load_model

ARCH = "transformer-net-v1"
GRID = 4  # the network's total stride: two stride-2 stages


class _InstanceNorm(nn.InstanceNorm2d):
    """Affine instance normalisation (Ulyanov, Vedaldi, Lempitsky 2016) that can also normalise with the
    statistics it measured on another image: tiles of a large picture then all share the whole picture's
    statistics instead of each stretching its own contrast (which shows as a patchwork)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        self.measure = False
        self.shared: tuple[Tensor, Tensor] | None = None  # (mean, var), each (N, C, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.measure:
            var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)
            self.shared = (mean, var)
        if self.shared is None:
            return super().forward(x)
        mean, var = self.shared
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, *, upsample: bool = False) -> list[nn.Module]:
    """[nearest x2 upsample], reflection pad, conv, instance norm, ReLU. No conv bias: the norm removes it.

    Upsample-then-convolve instead of a transposed convolution avoids checkerboard artefacts (Odena,
    Dumoulin, Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016)."""
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
    layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride, bias=False)]
    return [*layers, _InstanceNorm(c_out), nn.ReLU(inplace=True)]


class _Residual(nn.Module):
    """x + norm(conv(relu(norm(conv(x))))), 128 channels at 1/4 resolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv(channels, channels, 3), *_conv(channels, channels, 3)[:-1])

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # type: ignore[no-any-return]


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network as in pytorch/examples fast_neural_style (~1.68M
    parameters): conv 9x9/32, 3x3/64 stride 2, 3x3/128 stride 2, five residual blocks, two upsample-convs,
    conv 9x9/3. RGB in [0, 1] (N, 3, H, W) -> RGB in [0, 1], same size.

    The output goes through a sigmoid: it stays in the image range without clamping, whose zero gradient
    outside [0, 1] lets saturated pixels get stuck during training.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(*_conv(3, 32, 9), *_conv(32, 64, 3, 2), *_conv(64, 128, 3, 2))
        self.residuals = nn.Sequential(*(_Residual(128) for _ in range(5)))
        self.decoder = nn.Sequential(
            *_conv(128, 64, 3, upsample=True),
            *_conv(64, 32, 3, upsample=True),
            nn.ReflectionPad2d(4),
            nn.Conv2d(32, 3, 9),
        )

    def forward(self, rgb: Tensor) -> Tensor:
        # Two stride-2 stages: pad to a multiple of 4 so the decoder restores the exact size, then crop.
        height, width = rgb.shape[-2:]
        x = F.pad(rgb, (0, (-width) % GRID, 0, (-height) % GRID), mode="reflect")
        x = self.decoder(self.residuals(self.encoder(x)))
        return torch.sigmoid(x)[..., :height, :width]

    @contextmanager
    def shared_statistics(self, image: Tensor) -> Iterator[None]:
        """Within the block, every instance norm uses the statistics it measured on `image` (1, 3, h, w),
        e.g. the whole picture at a size that fits, instead of each input's own."""
        norms = [m for m in self.modules() if isinstance(m, _InstanceNorm)]
        for norm in norms:
            norm.measure = True
        try:
            self(image)
        finally:
            for norm in norms:
                norm.measure = False
        try:
            yield
        finally:
            for norm in norms:
                norm.shared = None


def load_transformer(path: str | Path) -> tuple[TransformerNet, CheckpointInfo]:
    """A trained network (on the CPU, in eval mode) and its checkpoint info."""
    return load_model(path, ModelKind.FAST_STYLE, ARCH, lambda _info: TransformerNet(), "net.")
