"""Training a GAN (core.gan.networks) on an image set, and its checkpoints.

- An exponential moving average of G's weights (Karras et al. 2018; decay 0.999, warmed up as
  min(decay, (1 + t) / (10 + t)) so early previews are not stuck at the initial weights) draws every sample
  and preview: it is much smoother than the raw G, which oscillates with the adversarial game.

Defaults: latent 128, width DEFAULT_WIDTH (32 on a CPU, 64 on a GPU), Adam with lr 2e-4 and betas
(0.0, 0.99) for both (beta1 = 0 as in StyleGAN2 and DiffAugment: momentum lags the moving target of the
other network), batch 64, one D step per G step, on the same fakes (as DCGAN: one G forward per step).
Sizes 32, 64 and 128 px; data of other sizes (Fashion-MNIST's 28 px) is resized once to the
next supported size, so a 28 px set trains a 32 px model.

Checkpoints (kind GAN, arch ARCH, or V1 for a resumed v1 model; the layout of core.training) name G, D
and the EMA generator "g", "d", "ema" and the two Adam optimisers "opt_g", "opt_d"; the config is
`asdict(GanConfig)`.

`step_seconds` times this step on synthetic images for the presets' time estimates (core.presets).
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from core.checkpoints import CheckpointInfo, ModelKind
from core.data import ImageSet
from core.devices import autocast, memory_format, pick_device
from core.errors import UserError
from core.gan.inference import class_labels, to_images
from core.gan.networks import Discriminator, Generator, d_hinge_loss, diff_augment, g_hinge_loss
from core.gan.settings import (
    ARCH,
    ARCHS,
    CHECKPOINT_NAME,
    DEFAULT_POLICY,
    DEFAULT_WIDTH,
    PREVIEW_SAMPLES,
    SIZES,
    SMALL_DATA,
    GanConfig,
)
from core.images import grid
from core.jobs import JobContext, Resumable
from core.latents import latents
from core.presets import StepShape, StepTiming, device_class
from core.safety import check_new_model
from core.training import (
    StepLoop,
    TrainingState,
    diverged,
    read_data,
    read_resumable,
    require_at_least_one,
    resumed_config,
    seeded,
    step_timing,
    time_steps,
)

LOSS_NAMES = ("d", "g", "d_real", "d_fake")  # the last two: D's mean scores on real and fake images


class GanTrainingJob(Resumable):
    """Train a GAN on an image set; returns the checkpoint path `out_dir / CHECKPOINT_NAME`.

    Step k trains D once and G once on the data set's batch for k and noise / augmentations from a
    generator seeded with (seed, k), so a resumed run ends exactly where an uninterrupted one would
    (bit-identical on the CPU). A NaN or infinite loss stops training with a UserError and leaves the last
    good checkpoint in place (core.training.StepLoop).
    """

    title = "Train a GAN"

    def __init__(
        self,
        data: ImageSet | Callable[[JobContext], ImageSet],
        out_dir: Path,
        *,
        steps: int = 5000,
        size: int | None = None,
        width: int | None = None,  # None: DEFAULT_WIDTH for the device
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
        self.timing: StepTiming | None = None  # measured by `run`, for the next estimate

    def run(self, ctx: JobContext) -> Path:
        device = pick_device(self.device)
        data = read_data(self.data, ctx)
        check_new_model(self.out, self.resume)  # after the data's own checks, the first thing to hear of
        name = self.data_name or data.name
        resumed = read_resumable(self.resume, ModelKind.GAN, ARCHS, self.steps)
        arch = resumed.info.arch if resumed else ARCH  # a v1 model goes on as v1
        config = self._config(data, resumed.info if resumed else None, device, ctx)
        data = data.resized(config.size)
        if data.channels != config.channels:
            raise UserError(
                f"{name} has {data.channels}-channel images; the model makes {config.channels}-channel ones."
            )
        if config.conditional and data.class_names != config.class_names:
            raise UserError(f"{name} has other classes than the model ({', '.join(config.class_names)}).")

        layout = memory_format(device)
        state = _new_state(config, device, layout, arch)
        ema = state.modules["ema"]
        if resumed is not None:
            state.restore(resumed, lrs={"opt_g": config.lr_g, "opt_d": config.lr_d})
            ctx.message(f"Resuming from step {state.step} of {resumed.path.name}.")
        state.require_room(self.out)
        ctx.message(f"Training on {len(data)} images of {name} ({config.size} px) on {device}.")

        fixed_z = latents(config.seed, PREVIEW_SAMPLES, config.latent).to(device)
        fixed_labels = class_labels(config, PREVIEW_SAMPLES, None, device)

        def preview(step: int) -> None:
            with torch.inference_mode(), autocast(device):
                images = to_images(ema(fixed_z, fixed_labels))
            ctx.preview(grid(images, 8), f"Step {step} of {self.steps}")

        def save() -> None:
            record = {"steps": self.steps, "data_set": name, "image_count": len(data)}
            state.save(
                self.out, kind=ModelKind.GAN, arch=arch, config=asdict(config), training=record,
                diverged=lambda: self._diverged(state.step, config),
            )  # fmt: skip

        loop = StepLoop(
            ctx, state, LOSS_NAMES, self.steps, save, lambda step: self._diverged(step, config),
            checkpoint_every=self.checkpoint_every, preview_every=self.sample_every, preview=preview,
            report_every=StepLoop.report_interval(device),
        )  # fmt: skip
        loop.train(lambda step: _train_step(state, data, config, step, device, layout), self.out)
        if arch == ARCH:  # a resumed v1 run's rate says nothing about what new runs cost
            self.timing = step_timing(loop, device, StepShape(config.size, config.batch_size, config.width))
        return self.out

    def _config(
        self, data: ImageSet, stored: CheckpointInfo | None, device: torch.device, ctx: JobContext
    ) -> GanConfig:
        """A new run's config from the data and the settings; a resumed run's by the resume rule
        (core.training.resumed_config): the checkpoint's, with the new learning rates."""
        if stored is not None:
            return GanConfig.from_dict(resumed_config(stored.config, self.settings, ("lr_g", "lr_d"), ctx))
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
        width = self.settings["width"] or DEFAULT_WIDTH[device_class(device.type)]
        return GanConfig(
            size=size,
            channels=data.channels,
            conditional=conditional,
            num_classes=len(data.class_names) if conditional else 0,
            class_names=data.class_names if conditional else (),
            **{**self.settings, "diffaugment": policy, "width": width},
        )

    def _diverged(self, step: int, config: GanConfig) -> UserError:
        return diverged(
            f"at step {step}",
            self.out,
            f"lower the learning rate (now {config.lr_g:g} for G, {config.lr_d:g} for D)",
        )


def _train_step(
    state: TrainingState,
    data: ImageSet,
    config: GanConfig,
    step: int,
    device: torch.device,
    layout: torch.memory_format,
) -> Tensor:
    """One D update and one G update, then the EMA; returns LOSS_NAMES (the losses, D's mean scores)."""
    g_net, d_net, ema = (state.modules[name] for name in ("g", "d", "ema"))
    opt_g, opt_d = state.optimizers["opt_g"], state.optimizers["opt_d"]
    real, labels = data.batch(step, config.batch_size, seed=config.seed, device=device)
    real = real.contiguous(memory_format=layout)
    labels = labels if config.conditional else None
    labels2 = None if labels is None else torch.cat([labels, labels])  # for D on real and fake at once
    rng = torch.Generator(device).manual_seed(config.seed * 1_000_003 + step)  # noise and augmentation
    z = torch.randn(config.batch_size, config.latent, generator=rng, device=device)

    d_net.requires_grad_(True)
    with autocast(device):
        fake = g_net(z, labels)  # one draw serves both updates, as in DCGAN
        scores = d_net(diff_augment(torch.cat([real, fake.detach()]), config.diffaugment, rng), labels2)
    real_scores, fake_scores = scores.float().chunk(2)
    loss_d = d_hinge_loss(real_scores, fake_scores)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()  # type: ignore[no-untyped-call]
    opt_d.step()

    d_net.requires_grad_(False)  # G's update needs gradients through D, not for it
    with autocast(device):
        loss_g = g_hinge_loss(d_net(diff_augment(fake, config.diffaugment, rng), labels).float())
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()  # type: ignore[no-untyped-call]
    opt_g.step()

    decay = min(config.ema_decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for averaged, current in zip(ema.parameters(), g_net.parameters(), strict=True):
            averaged.lerp_(current, 1.0 - decay)
        for stat, value in zip(ema.buffers(), g_net.buffers(), strict=True):
            stat.copy_(value)  # batch-norm statistics: taken as they are
    return torch.stack([loss_d, loss_g, real_scores.mean(), fake_scores.mean()])


def _new_nets(config: GanConfig, arch: str = ARCH) -> tuple[Generator, Discriminator, Generator]:
    """(G, D, EMA copy of G), initialised from the config's seed without touching the global RNG."""
    with seeded(config.seed):
        g_net, d_net = Generator(config, arch), Discriminator(config, arch)
    ema = Generator(config, arch)
    ema.load_state_dict(g_net.state_dict())
    return g_net, d_net, ema


def _new_state(
    config: GanConfig, device: torch.device, layout: torch.memory_format, arch: str = ARCH
) -> TrainingState:
    """G, D and the EMA generator on `device` with their Adam optimisers, as a new run starts."""
    g_net, d_net, ema = _new_nets(config, arch)
    for net in (g_net, d_net, ema):
        net.to(device).to(memory_format=layout)
    ema.eval().requires_grad_(False)
    return TrainingState(
        modules={"g": g_net, "d": d_net, "ema": ema},
        optimizers={
            "opt_g": torch.optim.Adam(g_net.parameters(), lr=config.lr_g, betas=config.betas),
            "opt_d": torch.optim.Adam(d_net.parameters(), lr=config.lr_d, betas=config.betas),
        },
    )


def step_seconds(
    shapes: Sequence[StepShape], device: torch.device, budget_s: float, check: Callable[[], None]
) -> dict[StepShape, float]:
    """Seconds per training step of each shape on `device` (core.training.time_steps): colour images and
    DiffAugment, the case of an artist's own folder (Fashion-MNIST's grey and unaugmented step is a little
    cheaper; a real run's own rate replaces this estimate)."""
    layout = memory_format(device)

    def make_step(shape: StepShape) -> Callable[[int], Tensor]:
        config = GanConfig(size=shape.size, width=shape.width or 64, batch_size=shape.batch_size)
        state = _new_state(config, device, layout)
        noise = torch.randint(0, 256, (2 * shape.batch_size, 3, shape.size, shape.size), dtype=torch.uint8)
        data = ImageSet(noise)
        return lambda step: _train_step(state, data, config, step, device, layout)

    return time_steps(shapes, make_step, budget_s, check)
