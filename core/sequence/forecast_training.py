"""Training the ConvLSTM forecaster (core.sequence.forecast) on image sequences, and its checkpoints.

A step reads a batch of windows of input_frames + output_frames consecutive frames (core.sequence.
sequences): the model reads the first input_frames and predicts the rest. The loss is the binary
cross-entropy of the predicted pixels (the frames are Bernoulli means, as Shi et al. 2015 train on Moving
MNIST), in nats per pixel; the mean squared error, what `evaluate-sequence` judges, is reported beside it.
Gradients are clipped to a norm of GRADIENT_CLIP: backpropagation through 20 steps of LSTMs makes rare
steps far larger than the usual ones.

Checkpoints (kind SEQUENCE, the layout of core.training) name the model "model" and its Adam optimiser
"optim". `step_seconds` times this step on synthetic sequences for the presets' time estimates.
"""

import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core.checkpoints import CheckpointInfo, ModelKind
from core.devices import autocast, pick_device
from core.errors import UserError
from core.images import grid, to_pil
from core.jobs import JobContext, Resumable
from core.presets import StepShape, StepTiming
from core.safety import check_new_model
from core.sequence.forecast import Forecaster
from core.sequence.sequences import Clips, Sequences
from core.sequence.settings import (
    FORECAST_ARCH,
    FORECAST_CHECKPOINT,
    FORECAST_PREVIEW_SEQUENCES,
    ForecastConfig,
)
from core.training import (
    StepLoop,
    TrainingState,
    diverged,
    read_resumable,
    require_at_least_one,
    resumed_config,
    seeded,
    step_timing,
    time_steps,
)

LOSS_NAMES = ("cross_entropy", "mse")
_DEFAULTS = ForecastConfig()
# Max gradient norm of the mean per-pixel loss: norms are about 0.05-0.5 once training settles, with rare
# spikes of several units in the first hundred steps (Moving Fashion-MNIST, width 64).
GRADIENT_CLIP = 1.0


class ForecastTrainingJob(Resumable):
    """Train the ConvLSTM forecaster on sequences; returns the checkpoint `out_dir / FORECAST_CHECKPOINT`.

    Step k uses the sequences' batch for k, so a resumed run ends exactly where an uninterrupted one would
    (bit-identical on the CPU). A NaN or infinite loss stops training with a UserError and leaves the last
    good checkpoint in place."""

    title = "Train a sequence model"

    def __init__(
        self,
        data: Sequences | Callable[[JobContext], Sequences],
        out_dir: Path,
        *,
        steps: int = 3000,
        input_frames: int = _DEFAULTS.input_frames,
        output_frames: int = _DEFAULTS.output_frames,
        width: int = _DEFAULTS.width,
        layers: int = _DEFAULTS.layers,
        kernel: int = _DEFAULTS.kernel,
        lr: float = _DEFAULTS.lr,
        batch_size: int = _DEFAULTS.batch_size,
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
        # Read by `run`, on the job's thread: given, or by the callable.
        self.read: Callable[[JobContext], Sequences] = data if callable(data) else lambda _ctx: data
        self.out, self.steps = Path(out_dir) / FORECAST_CHECKPOINT, steps
        self.settings: dict[str, Any] = dict(
            input_frames=input_frames, output_frames=output_frames, width=width, layers=layers,
            kernel=kernel, lr=lr, batch_size=batch_size, seed=seed,
        )  # fmt: skip
        self.sample_every, self.checkpoint_every = sample_every, checkpoint_every
        self.resume = None if resume is None else Path(resume)
        self.device, self.data_name = device, data_name
        self.timing: StepTiming | None = None  # measured by `run`, for the next estimate

    def run(self, ctx: JobContext) -> Path:
        device = pick_device(self.device)
        ctx.progress(0, 1, stage="Reading the sequences")
        data = self.read(ctx)
        check_new_model(self.out, self.resume)  # after the data's own checks, the first thing to hear of
        name = self.data_name or data.name
        resumed = read_resumable(self.resume, ModelKind.SEQUENCE, FORECAST_ARCH, self.steps)
        config = self._config(data, resumed.info if resumed else None, ctx)
        if (data.size, data.channels) != (config.size, config.channels):
            raise UserError(
                f"{name} has {data.channels}-channel frames of {data.size} px; the model has "
                f"{config.channels}-channel frames of {config.size} px."
            )

        model, state = _new_state(config, device)
        if resumed is not None:
            state.restore(resumed, lrs={"optim": config.lr})
            ctx.message(f"Resuming from step {state.step} of {resumed.path.name}.")
        state.require_room(self.out)
        what = f"{len(data.clips)} sequences" if isinstance(data, Clips) else "sequences made as it goes"
        ctx.message(f"Training a ConvLSTM on {what} of {name} ({config.size} px) on {device}.")

        shown = data.held_out(config.frames, FORECAST_PREVIEW_SEQUENCES).to(device).float().div(255)

        def preview(step: int) -> None:
            ctx.preview(_preview(model, shown, config), f"Step {step}: true frames over the predicted ones")

        def save() -> None:
            count = len(data.clips) if isinstance(data, Clips) else None  # Moving Fashion-MNIST: endless
            record = {"steps": self.steps, "data_set": name, "sequence_count": count}
            state.save(
                self.out, kind=ModelKind.SEQUENCE, arch=FORECAST_ARCH, config=asdict(config),
                training=record, diverged=lambda: self._diverged(state.step, config),
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

    def _config(self, data: Sequences, stored: CheckpointInfo | None, ctx: JobContext) -> ForecastConfig:
        """A new run's config from the data and the settings; a resumed run's by the resume rule
        (core.training.resumed_config): the checkpoint's, with the new learning rate."""
        if stored is not None:
            return ForecastConfig.from_dict(resumed_config(stored.config, self.settings, ("lr",), ctx))
        return ForecastConfig(size=data.size, channels=data.channels, **self.settings)

    def _diverged(self, step: int, config: ForecastConfig) -> UserError:
        return diverged(f"at step {step}", self.out, f"lower the learning rate (now {config.lr:g})")


def _train_step(
    model: Forecaster,
    optimizer: torch.optim.Optimizer,
    data: Sequences,
    config: ForecastConfig,
    step: int,
    device: torch.device,
) -> Tensor:
    """One clipped Adam step on the windows of `step`; returns LOSS_NAMES, per pixel."""
    frames = data.batch(step, config.batch_size, config.frames, seed=config.seed, device=device)
    seen, future = frames[:, : config.input_frames], frames[:, config.input_frames :]
    with autocast(device):  # bf16 convolutions where the hardware has them; the loss in fp32
        logits = model(seen, config.output_frames).float()
    cross_entropy = F.binary_cross_entropy_with_logits(logits, future)
    optimizer.zero_grad(set_to_none=True)
    cross_entropy.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP)
    optimizer.step()
    mse = (torch.sigmoid(logits.detach()) - future).square().mean()
    return torch.stack([cross_entropy.detach(), mse])


def _preview(model: Forecaster, sequences: Tensor, config: ForecastConfig) -> Image.Image:
    """Per sequence two rows: the last frame read, then the true next frames; the same frame, then the
    predicted ones."""
    seen, future = sequences[:, : config.input_frames], sequences[:, config.input_frames :]
    with torch.inference_mode():
        predicted = model.predict(seen, config.output_frames)
    tiles = []
    for last, truth, guess in zip(seen[:, -1], future, predicted, strict=True):
        tiles += [to_pil(frame) for frame in (last, *truth, last, *guess)]
    return grid(tiles, 1 + config.output_frames)


def _new_state(config: ForecastConfig, device: torch.device) -> tuple[Forecaster, TrainingState]:
    """The model (initialised from the config's seed, the global RNG untouched) on `device` and its
    training state with the Adam optimiser, as a new run starts."""
    with seeded(config.seed):
        model = Forecaster(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    return model, TrainingState({"model": model}, {"optim": optimizer})


def step_seconds(
    shapes: Sequence[StepShape], device: torch.device, budget_s: float, check: Callable[[], None]
) -> dict[StepShape, float]:
    """Seconds per training step of each shape on `device` (core.training.time_steps), on grey sequences
    of the default length and depth: the size, batch and width set the cost."""

    def make_step(shape: StepShape) -> Callable[[int], Tensor]:
        config = ForecastConfig(size=shape.size, width=shape.width or 64, batch_size=shape.batch_size)
        model, state = _new_state(config, device)
        side = shape.size
        noise = torch.randint(0, 256, (2, config.frames + 1, 1, side, side), dtype=torch.uint8)
        clips = Clips(tuple(noise))
        return functools.partial(_train_step, model, state.optimizers["optim"], clips, config, device=device)

    return time_steps(shapes, make_step, budget_s, check)
