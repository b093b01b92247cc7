"""Training DRAW (core.sequence.draw) on an image set, and its checkpoints.

The loss is the negative ELBO of the paper (eq. 12), the likelihood of the final canvas plus the KL of
every glimpse, with no KL warm-up (the paper has none: each glimpse's z_t already adds little at a time).
Gradients are clipped to a norm of GRADIENT_CLIP before each Adam step: backpropagation through T
glimpses of two LSTMs, and through the attention's exponentials (sigma^2, delta, gamma and the write's
1 / gamma, eqs. 21-29), makes rare gradients orders of magnitude above the usual ones, and one such step
can throw the grid off the picture for good (the paper's authors and most ports clip too).

Checkpoints (kind DRAW, the layout of core.training) name the model "model" and its Adam optimiser
"optim"; the training JSON adds the KL of each glimpse (the mean over a fixed set of DRAW_KL_IMAGES
training pictures, with fixed noise): where in the drawing the model spends its information.

`step_seconds` times this step on synthetic images for the presets' time estimates (core.presets).
"""

import functools
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
from core.presets import StepShape, StepTiming
from core.safety import check_new_model
from core.sequence.draw import Draw, draw_elbo
from core.sequence.settings import (
    DRAW_ARCH,
    DRAW_CHECKPOINT,
    DRAW_KL_IMAGES,
    DRAW_PREVIEW_PAIRS,
    DRAW_SIZES,
    DrawConfig,
)
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
from core.vae.settings import Likelihood

LOSS_NAMES = ("elbo", "reconstruction", "kl")
_DEFAULTS = DrawConfig()  # the job's defaults are the config's, in one place
# Max gradient norm. The loss is a sum over pixels in nats per picture, so ordinary norms are in the
# hundreds (150-350 at 28 px in the first hundreds of steps, peaks near 1,200): only the rare spikes are cut.
GRADIENT_CLIP = 1000.0


def glimpse_noise(config: DrawConfig, count: int, seed: int) -> Tensor:
    """(T, count, latent) standard normal z for `count` drawings: drawing i depends on seed and i alone."""
    return (
        latents(seed, count, config.glimpses * config.latent).view(count, config.glimpses, -1).transpose(0, 1)
    )


class DrawTrainingJob(Resumable):
    """Train DRAW on an image set; returns the checkpoint path `out_dir / DRAW_CHECKPOINT`.

    Step k uses the data set's batch for k and noise from a generator seeded with (seed, k), so a resumed
    run ends exactly where an uninterrupted one would (bit-identical on the CPU). A NaN or infinite loss
    stops training with a UserError and leaves the last good checkpoint in place.
    """

    title = "Train DRAW"

    def __init__(
        self,
        data: ImageSet | Callable[[JobContext], ImageSet],
        out_dir: Path,
        *,
        steps: int = 3000,
        size: int | None = None,
        glimpses: int = _DEFAULTS.glimpses,
        attention: bool = _DEFAULTS.attention,
        hidden: int = _DEFAULTS.hidden,
        latent: int = _DEFAULTS.latent,
        lr: float = _DEFAULTS.lr,
        batch_size: int = _DEFAULTS.batch_size,
        seed: int = 0,
        sample_every: int = 100,
        checkpoint_every: int = 500,
        resume: Path | None = None,
        device: str | None = None,
        data_name: str = "",
        read_n: int = _DEFAULTS.read_n,
        write_n: int = _DEFAULTS.write_n,
        likelihood: Likelihood | None = None,  # None: Bernoulli for grey data, Gaussian for colour
    ) -> None:
        require_at_least_one(
            {"steps": steps, "sample interval": sample_every, "checkpoint interval": checkpoint_every}
        )
        self.data, self.out = data, Path(out_dir) / DRAW_CHECKPOINT
        self.steps, self.size, self.likelihood = steps, size, likelihood
        self.settings: dict[str, Any] = dict(
            glimpses=glimpses, attention=attention, read_n=read_n, write_n=write_n, hidden=hidden,
            latent=latent, lr=lr, batch_size=batch_size, seed=seed,
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
        resumed = read_resumable(self.resume, ModelKind.DRAW, DRAW_ARCH, self.steps)
        config = self._config(data, resumed.info if resumed else None, ctx)
        data = data.resized(config.size)
        if data.channels != config.channels:
            raise UserError(f"{name} has {data.channels}-channel images; the model has {config.channels}.")

        model, state = _new_state(config, device)
        if resumed is not None:
            state.restore(resumed, lrs={"optim": config.lr})
            ctx.message(f"Resuming from step {state.step} of {resumed.path.name}.")
        state.require_room(self.out)
        ctx.message(f"Training DRAW on {len(data)} images of {name} ({config.size} px) on {device}.")

        shown = _fixed_pictures(data, DRAW_PREVIEW_PAIRS, config.seed).to(device)
        noise = glimpse_noise(config, 2 * DRAW_PREVIEW_PAIRS, config.seed).to(device)

        def preview(step: int) -> None:
            ctx.preview(_preview(model, shown, noise), f"Step {step}: reconstructions, then samples")

        def save() -> None:
            record = {
                "steps": self.steps,
                "data_set": name,
                "image_count": len(data),
                "kl_per_glimpse": _kl_per_glimpse(model, data, config),
            }
            state.save(
                self.out, kind=ModelKind.DRAW, arch=DRAW_ARCH, config=asdict(config), training=record,
                diverged=lambda: self._diverged(state.step, config),
            )  # fmt: skip

        loop = StepLoop(
            ctx, state, LOSS_NAMES, self.steps, save, lambda step: self._diverged(step, config),
            checkpoint_every=self.checkpoint_every, preview_every=self.sample_every, preview=preview,
            report_every=StepLoop.report_interval(device),
        )  # fmt: skip
        optimizer = state.optimizers["optim"]
        loop.train(lambda step: _train_step(model, optimizer, data, config, step, device), self.out)
        self.timing = step_timing(loop, device, StepShape(config.size, config.batch_size, config.hidden))
        return self.out

    def _config(self, data: ImageSet, stored: CheckpointInfo | None, ctx: JobContext) -> DrawConfig:
        """A new run's config from the data and the settings; a resumed run's by the resume rule
        (core.training.resumed_config): the checkpoint's, with the new learning rate."""
        if stored is not None:
            return DrawConfig.from_dict(resumed_config(stored.config, self.settings, ("lr",), ctx))
        size = self.size or next((s for s in DRAW_SIZES if s >= data.size), DRAW_SIZES[-1])
        likelihood = self.likelihood or ("bernoulli" if data.channels == 1 else "gaussian")
        return DrawConfig(size=size, channels=data.channels, likelihood=likelihood, **self.settings)

    def _diverged(self, step: int, config: DrawConfig) -> UserError:
        return diverged(f"at step {step}", self.out, f"lower the learning rate (now {config.lr:g})")


def _train_step(
    model: Draw,
    optimizer: torch.optim.Optimizer,
    data: ImageSet,
    config: DrawConfig,
    step: int,
    device: torch.device,
) -> Tensor:
    """One clipped Adam step on the batch of `step`; returns LOSS_NAMES (nats per picture). The LSTMs run
    in bf16 where the hardware has it (1.2-1.3x on a CPU with AVX-512 BF16), the attention, the canvas and
    the loss in fp32 (core.sequence.draw.full_precision)."""
    images, _ = data.batch(step, config.batch_size, seed=config.seed, device=device)
    rng = torch.Generator(device).manual_seed(config.seed * 1_000_003 + step)
    with autocast(device):  # batches come in [-1, 1]; DRAW models [0, 1]
        terms = draw_elbo(model, images.add(1.0).mul_(0.5), rng)
    optimizer.zero_grad(set_to_none=True)
    terms.nelbo.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP)
    optimizer.step()
    return torch.stack([terms.nelbo, terms.reconstruction, terms.kl])


def _fixed_pictures(data: ImageSet, count: int, seed: int) -> Tensor:
    """`count` pictures of the set chosen by `seed` alone (B, C, S, S) in [0, 1]."""
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    return data.images[index].float().div(255)


def _preview(model: Draw, x: Tensor, z: Tensor) -> Image.Image:
    """8 columns: two rows of training pictures each over its final canvas, then four rows of samples."""
    with torch.inference_mode():
        redrawn = model.mean_image(model.draw(x, None).canvases[-1])
        samples = model.mean_image(model.generate(z)[-1])
    half = len(x) // 2
    rows = torch.cat([x[:half], redrawn[:half], x[half:], redrawn[half:], samples])
    return grid([to_pil(picture) for picture in rows], half)


def _kl_per_glimpse(model: Draw, data: ImageSet, config: DrawConfig) -> list[float]:
    """The mean KL of each glimpse, in nats, over a fixed set of DRAW_KL_IMAGES pictures with fixed noise."""
    device = next(model.parameters()).device
    x = _fixed_pictures(data, DRAW_KL_IMAGES, config.seed).to(device)
    with torch.inference_mode():
        terms = draw_elbo(model, x, torch.Generator(device).manual_seed(config.seed))
    return [round(v, 5) for v in terms.kl_per_glimpse.tolist()]


def _new_state(config: DrawConfig, device: torch.device) -> tuple[Draw, TrainingState]:
    """The model (initialised from the config's seed, the global RNG untouched) on `device` and its
    training state with the Adam optimiser, as a new run starts."""
    with seeded(config.seed):
        model = Draw(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    return model, TrainingState({"model": model}, {"optim": optimizer})


def step_seconds(
    shapes: Sequence[StepShape], device: torch.device, budget_s: float, check: Callable[[], None]
) -> dict[StepShape, float]:
    """Seconds per training step of each shape on `device` (core.training.time_steps), on grey images at
    the default glimpses and grids: the size, batch and hidden size set the cost."""

    def make_step(shape: StepShape) -> Callable[[int], Tensor]:
        config = DrawConfig(size=shape.size, hidden=shape.width or 256, batch_size=shape.batch_size)
        model, state = _new_state(config, device)
        side = shape.size
        pictures = ImageSet(torch.randint(0, 256, (2 * shape.batch_size, 1, side, side), dtype=torch.uint8))
        return functools.partial(
            _train_step, model, state.optimizers["optim"], pictures, config, device=device
        )

    return time_steps(shapes, make_step, budget_s, check)
