"""Training a VAE (core.vae.networks) on an image set, and its checkpoints.

The loss is the negative ELBO with the KL term weighted by beta, warmed up linearly from 0 over the first
`warmup` steps (Bowman et al. 2016; Sonderby et al. 2016), so the decoder learns to use z before the KL
term can switch dimensions off.

At the end of a run that reached its steps, a Gaussian mixture is fitted to the posterior means of up to
DENSITY_IMAGES training pictures (core.vae.density, the ex-post density of Ghosh et al. 2020): samples
are drawn from it rather than from N(0, I), which the codes do not fill. A stopped run skips it (the fit
would have to be redone on the weights a resumed run ends with); its checkpoint samples from N(0, I).

Checkpoints (kind VAE, the layout of core.training) name the model "model" and its Adam optimiser
"optim", the density's tensors "density."; the training JSON adds the KL per latent dimension (for the
slider ranking) and the density's fit ("density").

`step_seconds` times this step on synthetic images for the presets' time estimates (core.presets).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from core.checkpoints import CheckpointInfo, ModelKind
from core.data import ImageSet
from core.devices import autocast, pick_device
from core.errors import UserError
from core.images import grid, to_pil
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
from core.vae.density import PREFIX as DENSITY
from core.vae.density import LatentDensity, fit
from core.vae.networks import Vae, elbo, kl_per_dimension
from core.vae.settings import (
    ARCH,
    CHECKPOINT_NAME,
    DEFAULT_WIDTH,
    DENSITY_IMAGES,
    KL_IMAGES,
    PREVIEW_PAIRS,
    SIZES,
    Likelihood,
    VaeConfig,
)

LOSS_NAMES = ("elbo", "reconstruction", "kl")


def _unit(images: Tensor) -> Tensor:
    """ImageSet batches are in [-1, 1]; the VAE models [0, 1]."""
    return images.add(1.0).mul_(0.5)


class VaeTrainingJob(Resumable):
    """Train a VAE on an image set; returns the checkpoint path `out_dir / CHECKPOINT_NAME`.

    Step k uses the data set's batch for k and noise from a generator seeded with (seed, k), so a resumed
    run ends exactly where an uninterrupted one would (bit-identical on the CPU). A NaN or infinite loss
    stops training with a UserError and leaves the last good checkpoint in place.
    """

    title = "Train a VAE"

    def __init__(
        self,
        data: ImageSet | Callable[[JobContext], ImageSet],
        out_dir: Path,
        *,
        steps: int = 5000,
        size: int | None = None,
        latent: int = 32,
        width: int | None = None,  # None: DEFAULT_WIDTH for the device
        beta: float = 1.0,
        likelihood: Likelihood | None = None,  # None: Bernoulli for grey data, Gaussian for colour
        warmup: int | None = None,  # None: a fifth of the steps, at most 1000
        lr: float = 1e-3,
        batch_size: int = 128,
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
        self.steps, self.size, self.likelihood = steps, size, likelihood
        self.settings: dict[str, Any] = dict(
            latent=latent, width=width, beta=beta, lr=lr, batch_size=batch_size, seed=seed,
            warmup=warmup,
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
        resumed = read_resumable(self.resume, ModelKind.VAE, ARCH, self.steps)
        config = self._config(data, resumed.info if resumed else None, device, ctx)
        data = data.resized(config.size)
        if data.channels != config.channels:
            raise UserError(f"{name} has {data.channels}-channel images; the model has {config.channels}.")

        model, state = _new_state(config, device)
        if resumed is not None:
            state.restore(resumed, lrs={"optim": config.lr})
            ctx.message(f"Resuming from step {state.step} of {resumed.path.name}.")
        state.require_room(self.out)
        ctx.message(f"Training on {len(data)} images of {name} ({config.size} px) on {device}.")

        preview_x = _unit(data.images[_preview_index(len(data), config.seed)].float().div(127.5).sub(1))
        preview_x = preview_x.to(device)
        preview_z = latents(config.seed, 2 * PREVIEW_PAIRS, config.latent).to(device)

        def preview(step: int) -> None:
            ctx.preview(_preview(model, preview_x, preview_z), f"Step {step}: reconstructions, then samples")

        def save() -> None:
            record = {
                "steps": self.steps,
                "data_set": name,
                "image_count": len(data),
                "kl_per_dimension": _average_kl(model, data, config),
            }
            # The final save of a run that got there (a diverged one is refused by `save` below).
            if state.step == self.steps and state.finite():
                fitted = _fit_density(model, data, config, ctx)
                if fitted is not None:
                    state.saved_weights[DENSITY] = fitted[0].tensors()
                    record[DENSITY] = fitted[1]
            state.save(
                self.out, kind=ModelKind.VAE, arch=ARCH, config=asdict(config), training=record,
                diverged=lambda: self._diverged(state.step, config),
            )  # fmt: skip

        loop = StepLoop(
            ctx, state, LOSS_NAMES, self.steps, save, lambda step: self._diverged(step, config),
            checkpoint_every=self.checkpoint_every, preview_every=self.sample_every, preview=preview,
            report_every=StepLoop.report_interval(device),
        )  # fmt: skip
        optimizer = state.optimizers["optim"]
        loop.train(lambda step: _train_step(model, optimizer, data, config, step, device), self.out)
        self.timing = step_timing(loop, device, StepShape(config.size, config.batch_size, config.width))
        return self.out

    def _config(
        self, data: ImageSet, stored: CheckpointInfo | None, device: torch.device, ctx: JobContext
    ) -> VaeConfig:
        """A new run's config from the data and the settings; a resumed run's by the resume rule
        (core.training.resumed_config): the checkpoint's, with the new learning rate."""
        if stored is not None:
            return VaeConfig.from_dict(resumed_config(stored.config, self.settings, ("lr",), ctx))
        size = self.size or next((s for s in SIZES if s >= data.size), SIZES[-1])
        likelihood = self.likelihood or ("bernoulli" if data.channels == 1 else "gaussian")
        warmup = self.settings["warmup"]
        warmup = min(1000, self.steps // 5) if warmup is None else warmup
        width = self.settings["width"] or DEFAULT_WIDTH[device_class(device.type)]
        return VaeConfig(
            size=size, channels=data.channels, likelihood=likelihood,
            **{**self.settings, "warmup": warmup, "width": width},
        )  # fmt: skip

    def _diverged(self, step: int, config: VaeConfig) -> UserError:
        return diverged(f"at step {step}", self.out, f"lower the learning rate (now {config.lr:g})")


def _train_step(
    model: Vae,
    optimizer: torch.optim.Optimizer,
    data: ImageSet,
    config: VaeConfig,
    step: int,
    device: torch.device,
) -> Tensor:
    """One Adam step on the batch of `step`; returns LOSS_NAMES (nats per picture)."""
    images, _ = data.batch(step, config.batch_size, seed=config.seed, device=device)
    rng = torch.Generator(device).manual_seed(config.seed * 1_000_003 + step)
    with autocast(device):  # bf16 where the hardware has it; the likelihood and KL sums stay fp32
        terms = elbo(model, _unit(images), rng)
    kl_weight = config.beta * min(1.0, step / config.warmup) if config.warmup else config.beta
    loss = terms.reconstruction + kl_weight * terms.kl
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return torch.stack([terms.nelbo, terms.reconstruction, terms.kl])


def _preview_index(count: int, seed: int) -> Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:PREVIEW_PAIRS]


def _preview(model: Vae, x: Tensor, z: Tensor) -> Image.Image:
    """8 columns: two rows of training pictures each over its reconstruction, then four rows of samples."""
    with torch.inference_mode():
        recon = model.mean_image(model.encode(x)[0])
        half = len(x) // 2
        rows = [x[:half], recon[:half], x[half:], recon[half:], model.mean_image(z)]
    return grid([to_pil(x) for x in torch.cat(rows)], half)


def _fit_density(
    model: Vae, data: ImageSet, config: VaeConfig, ctx: JobContext
) -> tuple[LatentDensity, dict[str, Any]] | None:
    """The sampling density (core.vae.density) of the posterior means of up to DENSITY_IMAGES training
    pictures (a seeded sample), with its record; None, with a message, when stopped meanwhile."""
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed + 1))
    index = index[:DENSITY_IMAGES].sort().values
    device = next(model.parameters()).device
    stage = "Learning where the training pictures lie in the latent space"
    codes = []
    with torch.inference_mode():
        for done, part in enumerate(torch.split(index, 256)):
            if ctx.stop_requested():
                ctx.message(
                    "Stopped before learning where the training pictures lie in the latent space: samples "
                    "come from the standard normal prior (resume with more steps to learn it)."
                )
                return None
            codes.append(model.encode(data.images[part].to(device).float().div(255))[0].float().cpu())
            ctx.progress(done + 1, math.ceil(len(index) / 256), stage=stage)
    return fit(torch.cat(codes), seed=config.seed)


def _average_kl(model: Vae, data: ImageSet, config: VaeConfig) -> list[float]:
    """The mean KL of each latent dimension over up to KL_IMAGES pictures of the set: how much the model
    uses it (the slider ranking)."""
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed))[:KL_IMAGES]
    device = next(model.parameters()).device
    with torch.inference_mode():
        mu, log_var = model.encode(_unit(data.images[index].float().div(127.5).sub(1)).to(device))
        return [round(v, 5) for v in kl_per_dimension(mu, log_var).mean(0).tolist()]


def _new_model(config: VaeConfig) -> Vae:
    """A fresh model initialised from the config's seed without touching the global RNG."""
    with seeded(config.seed):
        return Vae(config)


def _new_state(config: VaeConfig, device: torch.device) -> tuple[Vae, TrainingState]:
    """The model on `device` and its training state with the Adam optimiser, as a new run starts."""
    model = _new_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    return model, TrainingState({"model": model}, {"optim": optimizer})


def step_seconds(
    shapes: Sequence[StepShape], device: torch.device, budget_s: float, check: Callable[[], None]
) -> dict[StepShape, float]:
    """Seconds per training step of each shape on `device` (core.training.time_steps), on grey images:
    the likelihood's channels barely change the cost, the size and width do."""

    def make_step(shape: StepShape) -> Callable[[int], Tensor]:
        config = VaeConfig(size=shape.size, width=shape.width or 32, batch_size=shape.batch_size)
        model, state = _new_state(config, device)
        optimizer = state.optimizers["optim"]
        noise = torch.randint(0, 256, (2 * shape.batch_size, 1, shape.size, shape.size), dtype=torch.uint8)
        data = ImageSet(noise)
        return lambda step: _train_step(model, optimizer, data, config, step, device)

    return time_steps(shapes, make_step, budget_s, check)
