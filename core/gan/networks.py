"""The GAN's networks, losses and augmentation: DCGAN (Radford, Metz, Chintala, "Unsupervised
Representation Learning with Deep Convolutional GANs", 2015), with the later tricks that make it train on
a few hundred pictures and a laptop:

- Generator: z (B, latent) -> linear -> (B, c0, 4, 4), then per doubling a 4 x 4 stride-2 transposed
  convolution + batch norm + ReLU, the last one to (B, C, S, S) + tanh, in [-1, 1]. Channels halve per
  doubling down to w at S/2, at most 8w: 64 px, w 64: 512 256 128 64 -> 3, about 0.1 GMAC per image, as
  DCGAN. (A 4 x 4 kernel at stride 2 overlaps evenly, which avoids the worst of the checkerboard
  artefacts Odena et al. 2016 describe; v1 used their resize-convolution, at 2.25x the cost per layer.)
- Discriminator: the mirror image, 4 x 4 stride-2 convolutions from (B, C, S, S) down to (B, c0, 4, 4) with
  LeakyReLU(0.2), every layer under spectral normalisation (Miyato et al. 2018: keeps D 1-Lipschitz, so no
  batch norm or gradient penalty), global sum pooling, a linear head; trained with the hinge loss (Lim & Ye
  2017):
      L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],    L_G = -E[D(G(z))].
- DiffAugment (Zhao et al. 2020): the same random, differentiable colour / translation / cutout applied to
  real and fake images before D, so D cannot memorise a small set (the main reason small-data GANs
  collapse), while G still gets gradients through the augmentation. By default it is on for data sets
  under SMALL_DATA images only: on 60,000 Fashion-MNIST images it slowed learning (Frechet distance 73 vs
  63 after 150 s on a CPU with the v1 plan, benchmarks/gan.py), as Zhao et al. also found for large sets.
- Class-conditional when the data has classes: a class embedding concatenated to z in G, and a projection
  discriminator (Miyato & Koyama 2018) adding <embed(y), features(x)> to D's output.

Architecture "dcgan-sn-v1" (models trained before 2026-12) ran one resolution higher at every width:
nearest-upsample + 3 x 3 convolutions ending with w channels at S px, and a 3 x 3 stem in D, for ten times
the compute (1.06 GMAC per image for G at 64 px, w 64). Its checkpoints still load and resume: `arch`
picks the layer plan.
"""

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from core.gan.settings import ARCH, V1, GanConfig, policy_names


def _channels(config: GanConfig, arch: str) -> list[int]:
    """Hidden channels from 4 x 4 up: w * min(8, 2^k), ending at S/2 with w (v1: at S px), e.g.
    64 px, w 64: 512 256 128 64 (v1: 512 512 256 128 64)."""
    doublings = int(math.log2(config.size // 4)) - (arch != V1)
    return [config.width * min(8, 2 ** (doublings - i)) for i in range(doublings + 1)]


class Generator(nn.Module):
    """(B, latent) noise [and (B,) class indices] -> (B, C, S, S) images in [-1, 1]."""

    def __init__(self, config: GanConfig, arch: str = ARCH) -> None:
        super().__init__()
        chans = _channels(config, arch)
        self.embed = nn.Embedding(config.num_classes, config.latent) if config.conditional else None
        z_dim = config.latent * (2 if config.conditional else 1)
        self.project = nn.Linear(z_dim, chans[0] * 16, bias=False)  # no bias: batch norm follows
        layers: list[nn.Module] = [nn.Unflatten(1, (chans[0], 4, 4)), nn.BatchNorm2d(chans[0]), nn.ReLU()]
        for c_in, c_out in itertools.pairwise(chans):
            layers += [*_up(c_in, c_out, arch, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        last = (  # v1 is at full resolution already: a 3 x 3 convolution to the colours
            [nn.Conv2d(chans[-1], config.channels, 3, padding=1)]
            if arch == V1
            else _up(chans[-1], config.channels, arch, bias=True)
        )
        self.body = nn.Sequential(*layers, *last, nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs class labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.body(self.project(z))  # type: ignore[no-any-return]


def _up(c_in: int, c_out: int, arch: str, *, bias: bool) -> list[nn.Module]:
    """One doubling of G: (B, c_in, s, s) -> (B, c_out, 2s, 2s)."""
    if arch == V1:
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)]
    return [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias)]


class Discriminator(nn.Module):
    """(B, C, S, S) images [and (B,) class indices] -> (B,) realness scores (hinge loss: unbounded)."""

    def __init__(self, config: GanConfig, arch: str = ARCH) -> None:
        super().__init__()
        chans = [config.channels, *_channels(config, arch)[::-1]]  # full resolution first
        layers: list[nn.Module] = []
        if arch == V1:  # v1's stem: a 3 x 3 convolution at full resolution
            layers += [spectral_norm(nn.Conv2d(config.channels, chans[1], 3, padding=1)), nn.LeakyReLU(0.2)]
            chans = chans[1:]
        for c_in, c_out in itertools.pairwise(chans):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Linear(chans[-1], 1))
        self.embed = (
            spectral_norm(nn.Embedding(config.num_classes, chans[-1])) if config.conditional else None
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x).sum(dim=(2, 3))  # (B, c0): global sum pooling, as in SN-GAN
        out: Tensor = self.head(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs class labels")
            out = out + (self.embed(labels) * h).sum(dim=1)  # projection: <embed(y), phi(x)>
        return out


def d_hinge_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def g_hinge_loss(fake_scores: Tensor) -> Tensor:
    return -fake_scores.mean()


# DiffAugment (Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training",
# NeurIPS 2020), after the authors' code; every op is differentiable in x. Draws come from `generator`, so
# a training step's augmentation is as repeatable as its batch.
def _color(x: Tensor, g: torch.Generator) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5), per image."""
    b = x.shape[0]

    def rand() -> Tensor:
        return torch.rand(b, 1, 1, 1, generator=g, device=x.device, dtype=x.dtype)

    x = x + (rand() - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (rand() * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (rand() + 0.5) + mean


def _translation(x: Tensor, g: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to 1/8 of its size in x and y, filling with zeros (mid-grey in [-1, 1])."""
    b, _, h, w = x.shape
    shift_y, shift_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-shift_y, shift_y + 1, (b, 1, 1), generator=g, device=x.device)
    tx = torch.randint(-shift_x, shift_x + 1, (b, 1, 1), generator=g, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + ty  # (B, H, 1): source row of each output row
    cols = torch.arange(w, device=x.device).view(1, 1, w) + tx
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)  # (B, 1, H, W)
    flat = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(b, 1, h * w).expand(-1, x.shape[1], -1)
    moved = x.flatten(2).gather(2, flat).view_as(x)
    return moved * inside


def _cutout(x: Tensor, g: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Zero a random square of half the image's size per image (it may overhang the border)."""
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - size_y % 2), (b, 1, 1), generator=g, device=x.device)
    cx = torch.randint(0, w + (1 - size_x % 2), (b, 1, 1), generator=g, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - (cy - size_y // 2)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - (cx - size_x // 2)
    hole = (rows >= 0) & (rows < size_y) & (cols >= 0) & (cols < size_x)
    return x * (~hole).unsqueeze(1).to(x.dtype)


_AUGMENTS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
}


def diff_augment(x: Tensor, policy: str, generator: torch.Generator) -> Tensor:
    """Apply the comma-separated `policy` to (B, C, H, W) images in [-1, 1]; shape kept, differentiable."""
    for name in policy_names(policy):
        x = _AUGMENTS[name](x, generator)
    return x
