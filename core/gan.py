"""A DCGAN-style GAN that learns from small data sets (Radford, Metz, Chintala, "Unsupervised
Representation Learning with Deep Convolutional GANs", 2015), with the later tricks that make it train on
a few hundred pictures and a laptop:

- Generator: z (B, latent) -> linear -> (B, 8w, 4, 4), then per doubling nearest-upsample + 3x3 conv +
  batch norm + ReLU (upsample-conv avoids the checkerboard of transposed convolutions: Odena et al. 2016),
  3x3 conv + tanh -> (B, C, S, S) in [-1, 1]. Channels halve per doubling from 8w down to w.
- Discriminator: the mirror image with stride-2 4x4 convolutions and LeakyReLU(0.2), every layer under
  spectral normalisation (Miyato et al. 2018: keeps D 1-Lipschitz, so no batch norm or gradient penalty),
  global sum pooling, a linear head; trained with the hinge loss (Lim & Ye 2017):
      L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],    L_G = -E[D(G(z))].
- DiffAugment (Zhao et al. 2020): the same random, differentiable colour / translation / cutout applied to
  real and fake images before D, so D cannot memorise a small set (the main reason small-data GANs
  collapse), while G still gets gradients through the augmentation. By default it is on for data sets
  under SMALL_DATA images only: on 60,000 Fashion-MNIST images it slowed learning (Frechet distance 73 vs
  63 after 150 s on a CPU, benchmarks/gan.py), as Zhao et al. also found for large sets.
- An exponential moving average of G's weights (Karras et al. 2018; decay 0.999, warmed up as
  min(decay, (1 + t) / (10 + t)) so early previews are not stuck at the initial weights) draws every sample
  and preview: it is much smoother than the raw G, which oscillates with the adversarial game.
- Class-conditional when the data has classes: a class embedding concatenated to z in G, and a projection
  discriminator (Miyato & Koyama 2018) adding <embed(y), features(x)> to D's output.

Defaults: latent 128, width 64, Adam with lr 2e-4 and betas (0.0, 0.99) for both (beta1 = 0 as in
StyleGAN2 and DiffAugment: momentum lags the moving target of the other network), batch 64, one D step
per G step. Sizes 32, 64 and 128 px; data of other sizes (Fashion-MNIST's 28 px) is resized once to the
next supported size, so a 28 px set trains a 32 px model.

Checkpoints (kind GAN, arch ARCH) hold G, D, the EMA generator and both Adam states under the prefixes
"g.", "d.", "ema.", "opt_g.", "opt_d."; the config is `asdict(GanConfig)`, the training JSON carries the
step and the Adam scalars. Samples are made one at a time on the CPU, so a picture depends only on its
latent point and class: `sample(seed=s)[0]` is the same picture however many are asked for.
"""

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from core.checkpoints import (
    CheckpointInfo,
    ModelKind,
    load_checkpoint,
    model_name,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
    under_prefix,
)
from core.data import ImageSet
from core.devices import autocast, memory_format, pick_device
from core.errors import CheckpointError, UserError
from core.images import grid, save_gif
from core.jobs import ImageResult, JobContext, Resumable
from core.latents import latents
from core.safety import check_new_model
from core.training import (
    all_finite,
    diverged,
    read_data,
    require_at_least_one,
    require_room_for,
    restoring,
    resumed_step,
)

ARCH = "dcgan-sn-v1"
CHECKPOINT_NAME = "gan.safetensors"
SIZES = (32, 64, 128)
DEFAULT_POLICY = "color,translation,cutout"
SMALL_DATA = 10_000  # below this many images DiffAugment is on by default (see the module docstring)
PREVIEW_SAMPLES = 64  # an 8 x 8 grid
_PREFIXES = ("g.", "d.", "ema.", "opt_g.", "opt_d.")


@dataclass(frozen=True)
class GanConfig:
    size: int = 64
    channels: int = 3
    latent: int = 128
    width: int = 64  # channels of the full-resolution layer; 8x this at 4 x 4
    conditional: bool = False
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.99)
    batch_size: int = 64
    diffaugment: str = DEFAULT_POLICY  # comma-separated: color, translation, cutout; "" for none
    ema_decay: float = 0.999
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise UserError(
                f"The GAN image size must be one of {', '.join(map(str, SIZES))} px, not {self.size}."
            )
        if self.channels not in (1, 3):
            raise UserError(f"Images must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if min(self.latent, self.width, self.batch_size) < 1 or min(self.lr_g, self.lr_d) <= 0:
            raise UserError(
                "The latent size, width and batch size must be at least 1, learning rates above 0."
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"The EMA decay must be in [0, 1), not {self.ema_decay}.")
        if self.conditional and (self.num_classes < 2 or len(self.class_names) != self.num_classes):
            raise UserError("A class-conditional GAN needs at least 2 classes, each with a name.")
        unknown = set(_policy(self.diffaugment)) - set(_AUGMENTS)
        if unknown:
            raise UserError(
                f"Unknown DiffAugment policy {', '.join(sorted(unknown))}: use color, translation, cutout."
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GanConfig":
        """The inverse of `asdict` (JSON turned the tuples into lists); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
        }
        return cls(**values)


def _channels(config: GanConfig) -> list[int]:
    """Channels at 4, 8, ..., size px: w * min(8, size / resolution), e.g. 64 px, w 64: 512 512 256 128 64."""
    doublings = int(math.log2(config.size // 4))
    return [config.width * min(8, 2 ** (doublings - i)) for i in range(doublings + 1)]


class Generator(nn.Module):
    """(B, latent) noise [and (B,) class indices] -> (B, C, S, S) images in [-1, 1]."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        chans = _channels(config)
        self.embed = nn.Embedding(config.num_classes, config.latent) if config.conditional else None
        z_dim = config.latent * (2 if config.conditional else 1)
        self.project = nn.Linear(z_dim, chans[0] * 16, bias=False)  # no bias: batch norm follows
        layers: list[nn.Module] = [nn.Unflatten(1, (chans[0], 4, 4)), nn.BatchNorm2d(chans[0]), nn.ReLU()]
        for c_in, c_out in itertools.pairwise(chans):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        self.body = nn.Sequential(*layers, nn.Conv2d(chans[-1], config.channels, 3, padding=1), nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs class labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.body(self.project(z))  # type: ignore[no-any-return]


class Discriminator(nn.Module):
    """(B, C, S, S) images [and (B,) class indices] -> (B,) realness scores (hinge loss: unbounded)."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        chans = _channels(config)[::-1]  # full resolution first
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(config.channels, chans[0], 3, padding=1))]
        layers.append(nn.LeakyReLU(0.2))
        for c_in, c_out in itertools.pairwise(chans):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Linear(chans[-1], 1))
        self.embed = (
            spectral_norm(nn.Embedding(config.num_classes, chans[-1])) if config.conditional else None
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x).sum(dim=(2, 3))  # (B, 8w): global sum pooling, as in SN-GAN
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


def _policy(policy: str) -> list[str]:
    return [p.strip() for p in policy.split(",") if p.strip()]


def diff_augment(x: Tensor, policy: str, generator: torch.Generator) -> Tensor:
    """Apply the comma-separated `policy` to (B, C, H, W) images in [-1, 1]; shape kept, differentiable."""
    for name in _policy(policy):
        x = _AUGMENTS[name](x, generator)
    return x


def _to_images(x: Tensor) -> list[Image.Image]:
    """(B, C, S, S) in [-1, 1] -> B RGB images (grey models give grey RGB images)."""
    pixels = x.detach().float().add(1).mul(127.5).round().clamp(0, 255).byte().cpu()
    pixels = pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels
    return [Image.fromarray(p.permute(1, 2, 0).numpy(), "RGB") for p in pixels]


class GanTrainingJob(Resumable):
    """Train a GAN on an image set; returns the checkpoint path `out_dir / CHECKPOINT_NAME`.

    Step k trains D once and G once on the data set's batch for k and noise / augmentations from a
    generator seeded with (seed, k), so a resumed run ends exactly where an uninterrupted one would
    (bit-identical on the CPU). Losses are checked every step: a NaN or infinity stops training with a
    UserError and leaves the last good checkpoint in place.
    """

    title = "Train a GAN"

    def __init__(
        self,
        data: ImageSet | Callable[[JobContext], ImageSet],
        out_dir: Path,
        *,
        steps: int = 5000,
        size: int | None = None,
        width: int = 64,
        latent: int = 128,
        batch_size: int = 64,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.0, 0.99),
        diffaugment: str | None = None,  # None: DEFAULT_POLICY for small data sets, none for large ones
        ema_decay: float = 0.999,
        conditional: bool | None = None,
        seed: int = 0,
        sample_every: int = 100,
        checkpoint_every: int = 500,
        resume: Path | None = None,
        device: str | None = None,
        data_name: str = "",
    ) -> None:
        require_at_least_one(
            {"steps": steps, "sample interval": sample_every, "checkpoint interval": checkpoint_every}
        )
        self.data, self.out = data, Path(out_dir) / CHECKPOINT_NAME
        self.steps, self.size, self.conditional = steps, size, conditional
        self.settings: dict[str, Any] = dict(
            width=width, latent=latent, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, betas=tuple(betas),
            diffaugment=diffaugment, ema_decay=ema_decay, seed=seed,
        )  # fmt: skip
        self.sample_every, self.checkpoint_every = sample_every, checkpoint_every
        self.resume = None if resume is None else Path(resume)
        self.device, self.data_name = device, data_name

    def run(self, ctx: JobContext) -> Path:
        device = pick_device(self.device)
        data = read_data(self.data, ctx)
        check_new_model(self.out, self.resume)  # after the data's own checks, the first thing to hear of
        name = self.data_name or data.name
        stored = _read_checkpoint(self.resume)[1] if self.resume else None
        config = self._config(data, stored, ctx)
        data = data.resized(config.size)
        if data.channels != config.channels:
            raise UserError(
                f"{name} has {data.channels}-channel images; the model makes {config.channels}-channel ones."
            )
        if config.conditional and data.class_names != config.class_names:
            raise UserError(f"{name} has other classes than the model ({', '.join(config.class_names)}).")

        layout = memory_format(device)
        g_net, d_net, ema = _new_nets(config)
        for net in (g_net, d_net, ema):
            net.to(device).to(memory_format=layout)
        ema.eval().requires_grad_(False)
        opt_g = torch.optim.Adam(g_net.parameters(), lr=config.lr_g, betas=config.betas)
        opt_d = torch.optim.Adam(d_net.parameters(), lr=config.lr_d, betas=config.betas)
        start, losses = 0, dict[str, float]()
        if self.resume is not None:
            start, losses = self._restore((g_net, d_net, ema, opt_g, opt_d), config, ctx)
        require_room_for(self.out, (g_net, d_net, ema), (opt_g, opt_d))
        ctx.message(f"Training on {len(data)} images of {name} ({config.size} px) on {device}.")

        fixed_z = latents(config.seed, PREVIEW_SAMPLES, config.latent).to(device)
        fixed_labels = _labels(config, PREVIEW_SAMPLES, None, device)
        step = start
        while step < self.steps and not ctx.stop_requested():
            step += 1
            losses = self._step((g_net, d_net, ema), (opt_g, opt_d), data, config, step, device, layout)
            if not all(math.isfinite(v) for v in losses.values()):
                raise self._diverged(step, config)
            stage = f"Training: step {step} of {self.steps}"
            ctx.progress(step - start, self.steps - start, losses, stage=stage)
            if step % self.checkpoint_every == 0 and step < self.steps:
                self._save((g_net, d_net, ema, opt_g, opt_d), config, step, losses, name, len(data))
            if step % self.sample_every == 0:
                with torch.inference_mode(), autocast(device):
                    images = _to_images(ema(fixed_z, fixed_labels))
                ctx.preview(grid(images, 8), f"Step {step} of {self.steps}")
        if step < self.steps:
            ctx.message(f"Stopped at step {step} of {self.steps}; resume from {self.out} to go on.")
        self._save((g_net, d_net, ema, opt_g, opt_d), config, step, losses, name, len(data))
        return self.out

    def _config(self, data: ImageSet, stored: CheckpointInfo | None, ctx: JobContext) -> GanConfig:
        """A new run's config from the data and the settings; a resumed run keeps its checkpoint's, except
        the learning rates (lowering them is the cure for a divergence)."""
        if stored is not None:
            config = GanConfig.from_dict(stored.config)
            changed = sorted(
                k
                for k, v in self.settings.items()
                if k not in ("lr_g", "lr_d") and v is not None and getattr(config, k) != v
            )
            if changed:
                ctx.message(f"Resuming keeps the checkpoint's {', '.join(changed)}.")
            return replace(config, lr_g=self.settings["lr_g"], lr_d=self.settings["lr_d"])
        size = self.size or next((s for s in SIZES if s >= data.size), SIZES[-1])
        has_classes = data.labels is not None and len(data.class_names) >= 2
        if self.conditional and not has_classes:
            raise UserError(
                f"{self.data_name or data.name} has no classes: a class-conditional GAN needs a folder "
                "with one subfolder per class."
            )
        conditional = has_classes if self.conditional is None else self.conditional
        policy = self.settings["diffaugment"]
        if policy is None:
            policy = DEFAULT_POLICY if len(data) < SMALL_DATA else ""
        return GanConfig(
            size=size,
            channels=data.channels,
            conditional=conditional,
            num_classes=len(data.class_names) if conditional else 0,
            class_names=data.class_names if conditional else (),
            **{**self.settings, "diffaugment": policy},
        )

    def _step(
        self,
        nets: tuple[Generator, Discriminator, Generator],
        optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
        data: ImageSet,
        config: GanConfig,
        step: int,
        device: torch.device,
        layout: torch.memory_format,
    ) -> dict[str, float]:
        """One D update and one G update, then the EMA; returns the losses and D's mean scores."""
        g_net, d_net, ema = nets
        opt_g, opt_d = optimizers
        real, labels = data.batch(step, config.batch_size, seed=config.seed, device=device)
        real = real.contiguous(memory_format=layout)
        labels = labels if config.conditional else None
        rng = torch.Generator(device).manual_seed(config.seed * 1_000_003 + step)  # noise and augmentation
        z = torch.randn(config.batch_size, config.latent, generator=rng, device=device)

        d_net.requires_grad_(True)
        with autocast(device):
            with torch.no_grad():
                fake = g_net(z, labels)
            real_scores = d_net(diff_augment(real, config.diffaugment, rng), labels).float()
            fake_scores = d_net(diff_augment(fake, config.diffaugment, rng), labels).float()
        loss_d = d_hinge_loss(real_scores, fake_scores)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()  # type: ignore[no-untyped-call]
        opt_d.step()

        d_net.requires_grad_(False)  # G's step needs gradients through D, not for it
        z = torch.randn(config.batch_size, config.latent, generator=rng, device=device)
        with autocast(device):
            scores = d_net(diff_augment(g_net(z, labels), config.diffaugment, rng), labels).float()
        loss_g = g_hinge_loss(scores)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()  # type: ignore[no-untyped-call]
        opt_g.step()

        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, current in zip(ema.parameters(), g_net.parameters(), strict=True):
                averaged.lerp_(current, 1.0 - decay)
            for stat, value in zip(ema.buffers(), g_net.buffers(), strict=True):
                stat.copy_(value)  # batch-norm statistics: taken as they are
        values = torch.stack([loss_d, loss_g, real_scores.mean(), fake_scores.mean()]).detach().tolist()
        return dict(zip(("d", "g", "d_real", "d_fake"), values, strict=True))

    def _diverged(self, step: int, config: GanConfig) -> UserError:
        return diverged(
            f"at step {step}",
            self.out,
            f"lower the learning rate (now {config.lr_g:g} for G, {config.lr_d:g} for D)",
        )

    def _restore(
        self,
        state: tuple[Generator, Discriminator, Generator, torch.optim.Optimizer, torch.optim.Optimizer],
        config: GanConfig,
        ctx: JobContext,
    ) -> tuple[int, dict[str, float]]:
        """Load nets and Adam states from `self.resume`; returns (step, its last losses)."""
        assert self.resume is not None
        tensors, info = _read_checkpoint(self.resume)
        step = resumed_step(info, self.resume, self.steps)
        with restoring(self.resume):
            for module, prefix in zip(state[:3], _PREFIXES, strict=False):
                module.load_state_dict(under_prefix(tensors, prefix))
            for optimizer, prefix, lr in zip(
                state[3:], _PREFIXES[3:], (config.lr_g, config.lr_d), strict=True
            ):
                restore_optimizer(optimizer, tensors, prefix, info.training[f"{prefix}param_groups"], lr)
        ctx.message(f"Resuming from step {step} of {self.resume.name}.")
        return step, dict(info.training.get("losses", {}))

    def _save(
        self,
        state: tuple[Generator, Discriminator, Generator, torch.optim.Optimizer, torch.optim.Optimizer],
        config: GanConfig,
        step: int,
        losses: Mapping[str, float],
        data_name: str,
        image_count: int,
    ) -> None:
        """Write the checkpoint, unless a weight is no longer finite: never replace a good file by a bad."""
        if not all_finite(state[:3]):
            raise self._diverged(step, config)
        tensors: dict[str, Tensor] = {}
        training: dict[str, Any] = {
            "step": step,
            "steps": self.steps,
            "data_set": data_name,
            "image_count": image_count,
            "losses": dict(losses),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        for module, prefix in zip(state[:3], _PREFIXES, strict=False):
            tensors.update({prefix + k: v for k, v in module.state_dict().items()})
        for optimizer, prefix in zip(state[3:], _PREFIXES[3:], strict=True):
            optim_tensors, training[f"{prefix}param_groups"] = optimizer_tensors(optimizer, prefix)
            tensors.update(optim_tensors)
        save_checkpoint(
            self.out, tensors, kind=ModelKind.GAN, arch=ARCH, config=asdict(config), training=training
        )


def _new_nets(config: GanConfig) -> tuple[Generator, Discriminator, Generator]:
    """(G, D, EMA copy of G), initialised from the config's seed without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        g_net, d_net = Generator(config), Discriminator(config)
    ema = Generator(config)
    ema.load_state_dict(g_net.state_dict())
    return g_net, d_net, ema


def _read_checkpoint(path: Path) -> tuple[dict[str, Tensor], CheckpointInfo]:
    return load_checkpoint(path, ModelKind.GAN, arch=ARCH)


class LoadedGan(NamedTuple):
    generator: Generator  # the EMA weights, in eval mode on the CPU
    config: GanConfig
    info: CheckpointInfo


def load_generator(path: str | Path) -> LoadedGan:
    """The trained generator (EMA weights) of a GAN checkpoint, its config and checkpoint info."""
    path = Path(path)
    tensors, info = _read_checkpoint(path)
    try:
        config = GanConfig.from_dict(info.config)
        generator = Generator(config)
        generator.load_state_dict(under_prefix(tensors, "ema."))
    except (RuntimeError, TypeError, UserError):
        raise CheckpointError(f"{path.name} does not hold the weights of a {ARCH} GAN.") from None
    return LoadedGan(generator.eval().requires_grad_(False), config, info)


def _loaded(model: "str | Path | LoadedGan") -> LoadedGan:
    return model if isinstance(model, LoadedGan) else load_generator(model)


def _labels(
    config: GanConfig, n: int, class_name: str | None, device: torch.device | str = "cpu"
) -> Tensor | None:
    """None for an unconditional model; else `class_name`'s index n times, or the classes in turn."""
    if not config.conditional:
        if class_name is not None:
            raise UserError(f"This GAN was trained without classes: it cannot make a '{class_name}'.")
        return None
    if class_name is None:
        return torch.arange(n, device=device) % config.num_classes
    if class_name not in config.class_names:
        raise UserError(f"Unknown class '{class_name}': this GAN knows {', '.join(config.class_names)}.")
    return torch.full((n,), config.class_names.index(class_name), device=device)


def _generate(loaded: LoadedGan, z: Tensor, labels: Tensor | None) -> list[Image.Image]:
    """One image per latent row, each in its own forward pass: a picture then depends on its z alone,
    not on the batch it came in (batched convolutions may round differently)."""
    with torch.inference_mode():
        return [
            _to_images(loaded.generator(z[i : i + 1], None if labels is None else labels[i : i + 1]))[0]
            for i in range(len(z))
        ]


def sample(
    model: "str | Path | LoadedGan",
    n: int,
    *,
    seed: int = 0,
    truncation: float = 1.0,
    class_name: str | None = None,
) -> list[Image.Image]:
    """`n` pictures from the latent points of `seed`. Truncation psi in (0, 1] scales z (the 'scale' form
    of Brock et al.'s 2018 truncation trick): the same seed keeps its picture, pulled towards the model's
    average one, trading variety for quality; 1 is off. A conditional model makes `class_name`, or its
    classes in turn when it is None."""
    if n < 1:
        raise UserError(f"Ask for at least 1 sample, not {n}.")
    if not 0.0 < truncation <= 1.0:
        raise UserError(f"The truncation must be above 0 and at most 1, not {truncation}.")
    loaded = _loaded(model)
    z = latents(seed, n, loaded.config.latent) * truncation
    return _generate(loaded, z, _labels(loaded.config, n, class_name))


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (White, "Sampling Generative Networks", 2016) between (D,) points for each
    t in (T,) -> (T, D): stays on the shell where Gaussian samples live, unlike a straight line.
    t = 0 and t = 1 give a and b exactly."""
    omega = torch.arccos(torch.clamp(F.cosine_similarity(a, b, dim=0), -1.0, 1.0))
    t = t.view(-1, 1)
    if float(omega) < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(
    model: "str | Path | LoadedGan", steps: int, *, seed_a: int, seed_b: int, class_name: str | None = None
) -> list[Image.Image]:
    """`steps` frames from `sample(seed=seed_a)[0]` to `sample(seed=seed_b)[0]` along a slerp."""
    if steps < 2:
        raise UserError(f"An interpolation needs at least 2 steps, not {steps}.")
    loaded = _loaded(model)
    latent = loaded.config.latent
    z = slerp(latents(seed_a, 1, latent)[0], latents(seed_b, 1, latent)[0], torch.linspace(0, 1, steps))
    labels = _labels(loaded.config, 1, class_name)  # sample()'s first class: the endpoints match it
    return _generate(loaded, z, None if labels is None else labels.expand(steps))


def vary(
    model: "str | Path | LoadedGan", seed: int, n: int, spread: float = 0.3, *, class_name: str | None = None
) -> list[Image.Image]:
    """`n` pictures around `sample(seed=seed)[0]` (the first is that picture itself): z + spread * noise,
    rescaled to |z| so the variations stay as typical as the pinned point."""
    if n < 1 or spread < 0:
        raise UserError("Ask for at least 1 variation, with a spread of 0 or more.")
    loaded = _loaded(model)
    latent = loaded.config.latent
    z = latents(seed, 1, latent)[0]
    noise = torch.randn(n, latent, generator=torch.Generator().manual_seed(seed + 1_000_003))
    noise[0] = 0
    moved = z + spread * noise
    moved = moved * (z.norm() / moved.norm(dim=1, keepdim=True))
    labels = _labels(loaded.config, 1, class_name)
    return _generate(loaded, moved, None if labels is None else labels.expand(n))


class SampleJob:
    """A grid of samples from a trained GAN; `images` holds the single pictures once it has run."""

    title = "Sample a GAN"

    def __init__(
        self, path: Path, n: int = 16, seed: int = 0, truncation: float = 1.0, class_name: str | None = None
    ) -> None:
        self.path, self.n, self.seed, self.truncation, self.class_name = (
            Path(path),
            n,
            seed,
            truncation,
            class_name,
        )
        self.images: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Sampling")
        self.images = sample(
            self.path, self.n, seed=self.seed, truncation=self.truncation, class_name=self.class_name
        )
        ctx.progress(1, 1, stage="Sampling")
        settings = {
            "operation": "gan-sample",
            "model": model_name(self.path),
            "n": self.n,
            "seed": self.seed,
            "truncation": self.truncation,
            "class": self.class_name,
        }
        return ImageResult(grid(self.images, math.ceil(math.sqrt(self.n))), settings)


class InterpolateJob:
    """An interpolation between two seeds as one strip; `frames` holds the frames, and with `gif` they are
    also written there as an animated GIF."""

    title = "Interpolate a GAN"

    def __init__(
        self,
        path: Path,
        steps: int,
        seed_a: int,
        seed_b: int,
        class_name: str | None = None,
        gif: Path | None = None,
    ) -> None:
        self.path, self.steps, self.seed_a, self.seed_b = Path(path), steps, seed_a, seed_b
        self.class_name, self.gif = class_name, gif
        self.frames: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Interpolating")
        self.frames = interpolate(
            self.path, self.steps, seed_a=self.seed_a, seed_b=self.seed_b, class_name=self.class_name
        )
        if self.gif is not None:
            save_gif(self.frames, self.gif)
        ctx.progress(1, 1, stage="Interpolating")
        settings = {
            "operation": "gan-interpolate",
            "model": model_name(self.path),
            "steps": self.steps,
            "seed_a": self.seed_a,
            "seed_b": self.seed_b,
            "class": self.class_name,
        }
        return ImageResult(grid(self.frames, len(self.frames)), settings)


class VaryJob:
    """A grid of variations around a pinned sample (`vary`); the pinned picture comes first."""

    title = "Vary a GAN sample"

    def __init__(
        self, path: Path, seed: int, n: int = 16, spread: float = 0.3, class_name: str | None = None
    ) -> None:
        self.path, self.seed, self.n, self.spread, self.class_name = Path(path), seed, n, spread, class_name

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Varying")
        images = vary(self.path, self.seed, self.n, self.spread, class_name=self.class_name)
        ctx.progress(1, 1, stage="Varying")
        settings = {
            "operation": "gan-vary",
            "model": model_name(self.path),
            "seed": self.seed,
            "spread": self.spread,
        }
        return ImageResult(grid(images, math.ceil(math.sqrt(self.n))), settings)
