"""The training skeleton every family uses: state, checkpoint layout, step loop and resume rule."""

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from core.checkpoints import ModelKind, load_checkpoint, read_info
from core.errors import CheckpointError, UserError
from core.jobs import CancelToken, Event, JobContext, Message, Progress
from core.presets import StepShape, StepTiming
from core.training import (
    Resumed,
    StepLoop,
    StepTimingJob,
    TrainingState,
    read_resumable,
    resumed_config,
    seeded,
    time_steps,
)
from tests.core.test_jobs import Clock


def _state(seed: int = 0) -> TrainingState:
    with seeded(seed):
        net = nn.Linear(3, 2)
    return TrainingState({"net": net}, {"optim": torch.optim.Adam(net.parameters(), lr=0.1)})


def _train_step(state: TrainingState) -> Callable[[int], Tensor]:
    net, optimizer = state.modules["net"], state.optimizers["optim"]

    def step(k: int) -> Tensor:
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(k))
        loss = net(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return torch.stack([loss, 2 * loss])

    return step


def _save(state: TrainingState, out: Path) -> None:
    state.save(
        out, kind=ModelKind.GAN, arch="test-v1", config={"size": 3}, training={"data_set": "x"},
        diverged=lambda: UserError("diverged"),
    )  # fmt: skip


def _loop(
    state: TrainingState, out: Path, events: list[Event], token: CancelToken | None = None, **kw: object
) -> tuple[StepLoop, list[int]]:
    saves: list[int] = []

    def save() -> None:
        saves.append(state.step)
        _save(state, out)

    ctx = JobContext(events.append, token, min_progress_interval_s=0)
    loop = StepLoop(
        ctx,
        state,
        ("a", "b"),
        total=10,
        save=save,
        diverged=lambda k: UserError(f"NaN at {k}"),
        **kw,  # type: ignore[arg-type]
    )
    return loop, saves


def test_the_loop_saves_previews_and_reports_on_its_cadence(tmp_path: Path) -> None:
    state, events, previews = _state(), list[Event](), list[int]()
    loop, saves = _loop(
        state,
        tmp_path / "m.safetensors",
        events,
        checkpoint_every=4,
        preview_every=3,
        preview=previews.append,
    )
    loop.train(_train_step(state), tmp_path / "m.safetensors")
    assert saves == [4, 8, 10]  # every 4 steps, never twice at the end
    assert previews == [3, 6, 9]
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, 11))
    assert progress[-1].stage == "Training: step 10 of 10"
    assert progress[-1].losses["b"] == pytest.approx(2 * progress[-1].losses["a"])
    info = read_info(tmp_path / "m.safetensors")
    assert info.training["step"] == 10
    assert info.training["data_set"] == "x"
    assert info.training["losses"] == progress[-1].losses


def test_a_slow_run_previews_by_time_between_its_step_previews(tmp_path: Path) -> None:
    """A grid every 100 steps would come after 400 s at 4 s a step: a preview at least every 10 s too."""
    clock, events, previews = Clock(), list[Event](), list[int]()
    loop, _ = _loop(
        _state(), tmp_path / "m.safetensors", events, preview_every=5, preview=previews.append, clock=clock
    )

    def slow(k: int) -> Tensor:
        clock.now += 4.0
        return torch.zeros(2)

    loop.run(slow)
    assert previews == [3, 5, 8, 10]  # 12 s after the start, step 5, 12 s after step 5, step 10


def test_previews_by_time_can_be_turned_off(tmp_path: Path) -> None:
    clock, previews = Clock(), list[int]()
    loop, _ = _loop(
        _state(),
        tmp_path / "m.safetensors",
        [],
        preview=previews.append,
        preview_interval_s=None,
        clock=clock,
    )

    def minute(k: int) -> Tensor:
        clock.now += 60.0
        return torch.zeros(2)

    loop.run(minute)
    assert previews == []


def test_the_loop_times_its_steps_after_the_first(tmp_path: Path) -> None:
    clock = Clock()
    loop, _ = _loop(_state(), tmp_path / "m.safetensors", [], clock=clock)
    assert loop.seconds_per_step is None

    def step(k: int) -> Tensor:
        clock.now += 30.0 if k == 1 else 2.0  # the first step warms up
        return torch.zeros(2)

    loop.run(step)
    assert loop.seconds_per_step == pytest.approx(2.0)


def test_time_steps_measures_the_cheap_shapes_and_leaves_what_would_not_fit() -> None:
    clock, checks = Clock(), list[int]()
    small, double, huge = StepShape(32, 32, 16), StepShape(32, 64, 16), StepShape(64, 64, 32)
    seconds = {small: 1.0, double: 2.5, huge: 40.0}

    def make_step(shape: StepShape) -> Callable[[int], Tensor]:
        def step(k: int) -> Tensor:
            clock.now += seconds[shape]
            return torch.zeros(2)

        return step

    rates = time_steps([huge, double, small], make_step, 10.0, lambda: checks.append(1), clock)
    # small: 3 steps, 3 s; double predicted at 2 s a step fits (9 s of 10), takes 7.5; huge would not
    assert rates == {small: 1.0, double: 2.5}
    assert checks


def test_the_timing_job_times_the_presets_of_a_device_it_has_not_measured() -> None:
    small, large, gpu = StepShape(32, 32, 16), StepShape(64, 64, 32), StepShape(128, 64, 64)
    asked: list[list[StepShape]] = []

    def step_seconds(
        shapes: Sequence[StepShape], device: torch.device, budget: float, check: Callable[[], None]
    ) -> dict[StepShape, float]:
        asked.append(list(shapes))
        return {shape: 0.5 for shape in shapes}

    from core.devices import describe

    cpu, shapes = describe(torch.device("cpu")), {"cpu": [small, large], "gpu": [gpu]}
    job = StepTimingJob(step_seconds, shapes, ["another machine"], device="cpu")
    assert job.run(JobContext()) == [StepTiming(cpu, "cpu", small, 0.5), StepTiming(cpu, "cpu", large, 0.5)]
    assert asked == [[small, large]]  # the CPU's presets
    assert StepTimingJob(step_seconds, shapes, [cpu], device="cpu").run(JobContext()) == []
    assert len(asked) == 1  # measured once, remembered


def test_losses_are_averaged_over_the_report_window(tmp_path: Path) -> None:
    state, events = _state(), list[Event]()
    losses = iter([1.0, 2.0, 3.0, 6.0, 5.0, 7.0, 0.0, 0.0, 0.0, 0.0])
    loop, _ = _loop(state, tmp_path / "m.safetensors", events, report_every=3)
    loop.run(lambda k: torch.tensor([next(losses), 0.0]))
    reported = [(e.step, e.losses["a"]) for e in events if isinstance(e, Progress)]
    assert reported == [(3, 2.0), (6, 6.0), (9, 0.0), (10, 0.0)]


def test_a_cancelled_run_says_how_to_go_on_and_saves_where_it_stopped(tmp_path: Path) -> None:
    state, events, token = _state(), list[Event](), CancelToken()
    step = _train_step(state)

    def cancelling_step(k: int) -> Tensor:
        if k == 6:
            token.cancel()
        return step(k)

    out = tmp_path / "m.safetensors"
    loop, saves = _loop(state, out, events, token, checkpoint_every=4)
    loop.train(cancelling_step, out)
    assert saves == [4, 6]
    assert Message(f"Stopped at step 6 of 10; resume from {out} to go on.") in events
    assert read_info(out).training["step"] == 6


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    state, events = _state(), list[Event]()
    step = _train_step(state)
    out = tmp_path / "m.safetensors"
    loop, saves = _loop(state, out, events, checkpoint_every=2)
    with pytest.raises(UserError, match="NaN at 5"):
        loop.train(lambda k: step(k) * (math.nan if k == 5 else 1.0), out)
    assert saves == [2, 4]
    assert read_info(out).training["step"] == 4


def test_non_finite_weights_never_replace_a_checkpoint(tmp_path: Path) -> None:
    state, out = _state(), tmp_path / "m.safetensors"
    _save(state, out)
    before = out.read_bytes()
    with torch.no_grad():
        next(state.modules["net"].parameters())[0, 0] = math.inf
    with pytest.raises(UserError, match="diverged"):
        _save(state, out)
    assert out.read_bytes() == before


def test_a_restored_state_continues_exactly_like_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = _state()
    StepLoop(JobContext(), whole, ("a", "b"), 8, save=lambda: None, diverged=UserError).run(
        _train_step(whole)
    )

    first, out = _state(), tmp_path / "m.safetensors"
    StepLoop(JobContext(), first, ("a", "b"), 8, save=lambda: None, diverged=UserError).run(
        _train_step(first), until=5
    )
    _save(first, out)
    second = _state(seed=1)  # other initial weights: all of them must come from the file
    resumed = read_resumable(out, ModelKind.GAN, "test-v1", total=8)
    assert resumed is not None
    second.restore(resumed, lrs={"optim": 0.1})
    assert second.step == 5
    assert second.losses == first.losses
    StepLoop(JobContext(), second, ("a", "b"), 8, save=lambda: None, diverged=UserError).run(
        _train_step(second)
    )
    for a, b in zip(whole.modules["net"].parameters(), second.modules["net"].parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_resume_takes_the_new_learning_rate_and_refuses_a_finished_run(tmp_path: Path) -> None:
    state, out = _state(), tmp_path / "m.safetensors"
    state.step = 8
    _save(state, out)
    with pytest.raises(UserError, match="already trained for 8 steps: ask for more"):
        read_resumable(out, ModelKind.GAN, "test-v1", total=8)
    resumed = read_resumable(out, ModelKind.GAN, "test-v1", total=9)
    assert resumed is not None
    other = _state()
    other.restore(resumed, lrs={"optim": 0.01})
    assert other.optimizers["optim"].param_groups[0]["lr"] == 0.01


def test_a_checkpoint_without_training_state_is_one_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    _save(_state(), out)
    bigger = TrainingState({"net": nn.Linear(5, 2)}, {})
    with pytest.raises(CheckpointError, match="no training state to resume from"):
        bigger.restore(Resumed(out, *load_checkpoint(out)), lrs={})


def test_the_resume_rule_keeps_the_checkpoints_settings_and_names_the_ones_it_ignores() -> None:
    events: list[Event] = []
    stored = {"width": 64, "lr": 1e-3, "seed": 0}
    kept = resumed_config(stored, {"width": 32, "lr": 1e-4, "seed": None}, ("lr",), JobContext(events.append))
    assert kept == {"width": 64, "lr": 1e-4, "seed": 0}
    assert events == [Message("Resuming keeps the checkpoint's width.")]


def test_a_format_1_checkpoint_is_read_in_the_current_layout(tmp_path: Path) -> None:
    """Models trained before the shared skeleton keep working: a fast style network of format 1 kept its
    weights without a prefix and its optimiser's param groups and batch size in the training JSON."""
    net = nn.Linear(3, 2)
    old = {
        "kind": "fast-style", "arch": "transformer-net-v1", "format_version": 1, "app_version": "0.1",
        "config": {"image_size": 256}, "created": "",
        "training": {"step": 3, "batch_size": 4, "lr": 1e-3, "seed": 0, "optimizer": [{"lr": 1e-3}]},
    }  # fmt: skip
    path = tmp_path / "old.safetensors"
    tensors = {**net.state_dict(), "optim.0.exp_avg": torch.zeros(2, 3)}
    save_file(tensors, str(path), metadata={"neural_easel": json.dumps(old)})
    loaded, info = load_checkpoint(path)
    assert sorted(loaded) == ["net.bias", "net.weight", "optim.0.exp_avg"]
    assert info.training["optimizers"] == {"optim": [{"lr": 1e-3}]}
    assert info.config == {"image_size": 256, "batch_size": 4, "lr": 1e-3, "seed": 0}
