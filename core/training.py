"""The one training skeleton every family's training job stands on.

- `TrainingState` names what a checkpoint holds: modules (weights under "<name>."), optimisers (tensors
  under "<name>.<parameter index>.<state key>", param groups in the training JSON's "optimizers"), other
  state dicts (the classifier's best weights), the step reached and its losses. Saving checks that every
  weight is finite first: a diverged run never replaces its last good checkpoint.
- `StepLoop` owns the cadence of a run: the cancel check, one step, the loss report (the NaN guard),
  progress, a checkpoint every N steps, previews (every N steps and at least every PREVIEW_INTERVAL_S, so
  a slow device shows a first grid early), "Stopped at step..." and the final save; it times the run's
  steps (`seconds_per_step`), which the job reports as a `core.presets.StepTiming`. A family writes only
  its step, its preview and what its checkpoint records besides the state.
- `StepTimingJob` times a few steps of each preset's shape on synthetic tensors (each family's
  `step_seconds`), so a front end can say how long a preset takes before the first run.
- One resume rule (`resumed_config`): a resumed run keeps the checkpoint's settings, except the length of
  the run and the learning rates (lowering one is the cure for a divergence); other settings that differ
  are named in a message, never applied silently.

Steps are numbered from 1; a step k draws its batch and noise from generators seeded with (seed, k), so a
resumed run ends exactly where an uninterrupted one would (bit-identical on the CPU).
"""

import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from core.checkpoints import (
    CheckpointInfo,
    ModelKind,
    load_checkpoint,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
    under_prefix,
)
from core.data import ImageSet
from core.devices import describe, pick_device
from core.errors import CheckpointError, UserError
from core.files import require_room
from core.jobs import JobContext
from core.presets import DeviceClass, StepShape, StepTiming, device_class, seconds_per_step

REPORT_EVERY_ON_ACCELERATOR = 10  # losses reach the host (a sync) every N steps; on the CPU every step
PREVIEW_INTERVAL_S = 10.0  # a preview at least this often, whatever preview_every says
PROBE_STEPS = 2  # steps timed per shape by `time_steps`, after one untimed step that pays the one-off costs
PROBE_BUDGET_S = 5.0  # what `time_steps` may spend; shapes that would not fit are estimated by cost instead


def require_at_least_one(values: Mapping[str, int]) -> None:
    """Refuse counts below 1, by their names as a person reads them ("checkpoint interval": 0)."""
    for name, value in values.items():
        if value < 1:
            raise UserError(f"The {name} must be at least 1, not {value}.")


def diverged(position: str, checkpoint: Path, cure: str) -> UserError:
    """The error for a loss that became NaN or infinite `position` ("at step 3"); `cure`: what to lower."""
    last = f" resume from the last checkpoint ({checkpoint}) or" if checkpoint.exists() else ""
    return UserError(
        f"Training diverged {position} (a loss became infinite or NaN): {cure}, then{last} start again."
    )


def read_data(data: ImageSet | Callable[[JobContext], ImageSet], ctx: JobContext) -> ImageSet:
    """A job's data set: given, or read now by the callable, on the job's thread (the window stays free)."""
    ctx.progress(0, 1, stage="Reading the data set")
    return data if isinstance(data, ImageSet) else data(ctx)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Within the block, torch's global RNG starts from `seed`; outside it is untouched. For initialising
    a network (and dropout, which only draws from the global RNG) repeatably."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resumed_config(
    stored: Mapping[str, Any], requested: Mapping[str, Any], takes: Collection[str], ctx: JobContext
) -> dict[str, Any]:
    """The resume rule: the checkpoint's settings `stored`, with the new value of each key in `takes` (the
    learning rates). A requested value that differs from the stored one elsewhere is named, not applied
    (None requests mean "the default" and are not compared)."""
    kept = sorted(
        key
        for key, value in requested.items()
        if key not in takes and value is not None and key in stored and stored[key] != value
    )
    if kept:
        ctx.message(f"Resuming keeps the checkpoint's {', '.join(kept)}.")
    return {**stored, **{key: requested[key] for key in takes if key in requested}}


@dataclass
class TrainingState:
    """Everything a training checkpoint holds besides the family's config and its own JSON."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    saved_weights: dict[str, dict[str, Tensor]] = field(default_factory=dict)  # state dicts, not live
    step: int = 0
    losses: dict[str, float] = field(default_factory=dict)

    def tensors(self) -> tuple[dict[str, Tensor], dict[str, list[dict[str, Any]]]]:
        """(every tensor by its checkpoint name, each optimiser's param groups for the training JSON)."""
        tensors: dict[str, Tensor] = {}
        weights = {**{n: m.state_dict() for n, m in self.modules.items()}, **self.saved_weights}
        for name, state in weights.items():
            tensors.update({f"{name}.{key}": value for key, value in state.items()})
        groups = {}
        for name, optimizer in self.optimizers.items():
            optim_tensors, groups[name] = optimizer_tensors(optimizer, f"{name}.")
            tensors.update(optim_tensors)
        return tensors, groups

    def finite(self) -> bool:
        """Whether every weight is still a number: checked before a checkpoint may replace the last one."""
        return all(bool(torch.isfinite(p).all()) for m in self.modules.values() for p in m.parameters())

    def require_room(self, out: Path) -> None:
        """Before the first step: the disk has room for a checkpoint, estimated as the weights and buffers
        plus two tensors per optimised parameter (Adam's moments; SGD's momentum is one)."""
        size = sum(t.numel() * t.element_size() for t in self.tensors()[0].values())
        size += sum(
            2 * p.numel() * p.element_size()
            for o in self.optimizers.values()
            for g in o.param_groups
            for p in g["params"]
            if p not in o.state  # not yet counted among the tensors (a resumed optimiser has its state)
        )
        require_room(out, size)

    def save(
        self,
        out: Path,
        *,
        kind: ModelKind,
        arch: str,
        config: Mapping[str, Any],
        training: Mapping[str, Any],
        diverged: Callable[[], UserError],
    ) -> None:
        """Write the checkpoint, unless a weight is no longer finite (then raise `diverged()`)."""
        if not self.finite():
            raise diverged()
        tensors, groups = self.tensors()
        record = {
            **training,
            "step": self.step,
            "losses": dict(self.losses),
            "optimizers": groups,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        save_checkpoint(out, tensors, kind=kind, arch=arch, config=config, training=record)

    def restore(
        self, resumed: "Resumed", lrs: Mapping[str, float], optimizers: Collection[str] | None = None
    ) -> None:
        """Load what `save` wrote: every module, the `optimizers` named (all by default) with the learning
        rates `lrs` by optimiser name, the step and its losses. A file without this state, or with other
        shapes, is one clear CheckpointError instead of torch's RuntimeError / KeyError / ValueError."""
        path, tensors, info = resumed
        try:
            for name, module in self.modules.items():
                module.load_state_dict(under_prefix(tensors, f"{name}."))
            for name in self.saved_weights:
                self.saved_weights[name] = under_prefix(tensors, f"{name}.")
            groups = info.training["optimizers"]
            for name in self.optimizers if optimizers is None else optimizers:
                optimizer = self.optimizers[name]
                restore_optimizer(optimizer, tensors, f"{name}.", groups[name], lrs[name])
        except (RuntimeError, KeyError, ValueError, TypeError):
            raise CheckpointError(f"{path.name} has no training state to resume from.") from None
        self.step = int(info.training.get("step", 0))
        self.losses = dict(info.training.get("losses", {}))


class Resumed(NamedTuple):
    """A checkpoint a run goes on from."""

    path: Path
    tensors: dict[str, Tensor]
    info: CheckpointInfo


def read_resumable(
    path: Path | None, kind: ModelKind, arch: str | tuple[str, ...], total: int, unit: str = "steps"
) -> Resumed | None:
    """The checkpoint at `path` to resume from (None for a new run), refusing one that has already trained
    for `total` `unit` or more."""
    if path is None:
        return None
    tensors, info = load_checkpoint(path, kind, arch=arch)
    done = int(info.training.get("step" if unit == "steps" else "epoch", 0))
    if done >= total:
        raise UserError(f"{path.name} has already trained for {done} {unit}: ask for more to go on.")
    return Resumed(path, tensors, info)


@dataclass
class StepLoop:
    """The cadence of a run of `total` steps over a `TrainingState`.

    `run(step)` calls `step(k)` for k = state.step + 1, ... until `total` (or `until`) or a cancel. A step
    returns its losses as a (len(loss_names),) tensor still on the device: they are summed there and
    brought to the host every `report_every` steps (and before a checkpoint and at the end), so a GPU is
    not made to wait each step. Each report checks the losses (a NaN or infinity raises `diverged(k)`)
    and shows their mean since the last report."""

    ctx: JobContext
    state: TrainingState
    loss_names: tuple[str, ...]
    total: int
    save: Callable[[], None]  # the family's checkpoint: `TrainingState.save` with its config and JSON
    diverged: Callable[[int], UserError]
    checkpoint_every: int | None = None  # steps; None: the caller saves (the classifier, per epoch)
    preview_every: int | None = None
    preview: Callable[[int], None] | None = None
    report_every: int = 1
    stage: Callable[[int], str] | None = None  # "Training: step k of N" by default
    progress_total: int | None = None  # steps the progress bar counts to (default: those left to run)
    preview_interval_s: float | None = PREVIEW_INTERVAL_S  # also preview when this long since the last
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.start = self.state.step
        self._window: Tensor | None = None  # loss sums since the last report
        self._in_window = 0
        self._last_preview = self.clock()
        self._timed_s, self._timed_steps = 0.0, 0

    @property
    def seconds_per_step(self) -> float | None:
        """Mean wall time of this run's steps after its first (which pays one-off costs: allocation,
        kernel choice), previews and checkpoints included, pauses not; None before a second step."""
        return self._timed_s / self._timed_steps if self._timed_steps else None

    @staticmethod
    def report_interval(device: torch.device) -> int:
        return 1 if device.type == "cpu" else REPORT_EVERY_ON_ACCELERATOR

    def run(self, step: Callable[[int], Tensor], until: int | None = None) -> bool:
        """Train up to step `until` (default: `total`); True when it got there, False when stopped."""
        end = self.total if until is None else until
        state = self.state
        while state.step < end:
            if self.ctx.stop_requested():
                self.report()
                return False
            began = self.clock()
            state.step += 1
            losses = step(state.step).detach()
            self._window = losses if self._window is None else self._window + losses
            self._in_window += 1
            k = state.step
            every = self.checkpoint_every
            checkpoint_due = every is not None and k % every == 0 and k < self.total
            if k % self.report_every == 0 or checkpoint_due or k == end:
                self.report()
            if checkpoint_due:
                self.save()
            if self.preview is not None and self._preview_due(k):
                self.preview(k)
                self._last_preview = self.clock()
            if k > self.start + 1:
                self._timed_s += self.clock() - began
                self._timed_steps += 1
        return True

    def _preview_due(self, k: int) -> bool:
        if self.preview_every and k % self.preview_every == 0:
            return True
        interval = self.preview_interval_s
        return interval is not None and self.clock() - self._last_preview >= interval

    def report(self) -> None:
        """Bring the window's mean losses to the host, check them, show them."""
        if self._window is None or self._in_window == 0:
            return
        values = (self._window / self._in_window).tolist()
        self._window, self._in_window = None, 0
        if not all(math.isfinite(v) for v in values):
            raise self.diverged(self.state.step)
        self.state.losses = dict(zip(self.loss_names, values, strict=True))
        k = self.state.step
        stage = self.stage(k) if self.stage else f"Training: step {k} of {self.total}"
        total = self.progress_total if self.progress_total is not None else self.total - self.start
        self.ctx.progress(k - self.start, total, self.state.losses, stage=stage)

    def train(self, step: Callable[[int], Tensor], out: Path) -> None:
        """A whole run: `run`, then, when stopped early, say how to go on; save either way."""
        if not self.run(step):
            self.ctx.message(
                f"Stopped at step {self.state.step} of {self.total}; resume from {out} to go on."
            )
        self.save()


def step_timing(loop: StepLoop, device: torch.device, shape: StepShape) -> StepTiming | None:
    """What a finished (or stopped) run measured of its steps on `device`, None when too short to say."""
    rate = loop.seconds_per_step
    return None if rate is None else StepTiming(describe(device), device_class(device.type), shape, rate)


def time_steps(
    shapes: Sequence[StepShape],
    make_step: Callable[[StepShape], Callable[[int], Tensor]],
    budget_s: float = PROBE_BUDGET_S,
    check: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[StepShape, float]:
    """Seconds per step of each shape, cheapest first: `make_step(shape)` builds a family's real step on
    synthetic data; one untimed step, then PROBE_STEPS timed ones. A shape is timed only while its predicted
    cost (scaled from those timed so far) fits in `budget_s`; the cheapest always is. `check` is called
    between steps (a cancel)."""
    rates: dict[StepShape, float] = {}
    began = clock()
    for shape in sorted(set(shapes), key=lambda s: s.cost):
        predicted = seconds_per_step(shape, rates)
        if predicted is not None and clock() - began + (1 + PROBE_STEPS) * predicted > budget_s:
            break  # the rest cost more still
        step = make_step(shape)
        step(1).tolist()  # .tolist() waits for the device
        check()
        timed = clock()
        for k in range(2, 2 + PROBE_STEPS):
            losses = step(k)
        losses.tolist()
        rates[shape] = (clock() - timed) / PROBE_STEPS
        check()
    return rates


StepSeconds = Callable[[Sequence[StepShape], torch.device, float, Callable[[], None]], dict[StepShape, float]]


class StepTimingJob:
    """Time training steps of a family on the device its jobs use, for the shapes of its presets on that
    device's class (`shapes`), unless the device is among those already `measured` (descriptions: the
    family's rates are known there); `step_seconds` is the family's (core.gan.training.step_seconds, ...).
    Returns what it measured."""

    title = "Timing training steps"

    def __init__(
        self,
        step_seconds: StepSeconds,
        shapes: Mapping[DeviceClass, Sequence[StepShape]],
        measured: Collection[str] = (),
        device: str | None = None,
    ) -> None:
        self.step_seconds, self.shapes, self.measured, self.device = step_seconds, shapes, measured, device

    def run(self, ctx: JobContext) -> list[StepTiming]:
        device = pick_device(self.device)
        name, kind = describe(device), device_class(device.type)
        if name in self.measured:
            return []
        rates = self.step_seconds(self.shapes[kind], device, PROBE_BUDGET_S, ctx.check)
        return [StepTiming(name, kind, shape, rate) for shape, rate in rates.items()]
