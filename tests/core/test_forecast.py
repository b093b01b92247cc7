"""The ConvLSTM forecaster of the Sequence studio: its sequences (Moving Fashion-MNIST, folders, GIFs,
videos), training, continuing, evaluating and the CLI."""

import itertools
import math
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoints import ModelKind, load_checkpoint, read_info
from core.cli import main
from core.data import FASHION_MNIST_ROOT
from core.errors import CheckpointError, ImageError, UserError
from core.jobs import CancelToken, Event, JobContext, Preview, Progress, run_job
from core.sequence import forecast_training, sequences
from core.sequence.forecast_inference import (
    continue_frames,
    evaluate_forecaster,
    load_forecaster,
    ssim,
)
from core.sequence.forecast_training import ForecastTrainingJob
from core.sequence.jobs import ContinueSequenceJob, ForecastEvaluateJob
from core.sequence.sequences import Clips, MovingItems, read_clips
from core.sequence.settings import FORECAST_ARCH, FORECAST_CHECKPOINT, MOVING_FASHION_MNIST
from core.video import read_frames

SMALL: dict[str, Any] = {
    "input_frames": 4,
    "output_frames": 4,
    "width": 16,
    "layers": 1,
    "batch_size": 16,
    "sample_every": 50,
    "lr": 1e-2,
}


def squares(side: int = 16, count: int = 4) -> torch.Tensor:
    """White squares as the moving items: (count, 1, side, side) uint8."""
    return torch.full((count, 1, side, side), 255, dtype=torch.uint8)


def bouncing() -> MovingItems:
    """Two 16 px squares that move at a constant speed in a 64 px frame and bounce off its edges: a motion
    a small forecaster learns in seconds."""
    return MovingItems(squares(), name="bouncing squares")


def train(data: Any, out: Path, steps: int, **kwargs: Any) -> Path:
    return ForecastTrainingJob(data, out, steps=steps, **{**SMALL, **kwargs}).run(JobContext())


def frames_of(values: list[int], size: int = 16) -> list[Image.Image]:
    """Flat grey frames, one per value: a frame's value says which frame it is."""
    return [Image.new("L", (size, size), v) for v in values]


def save_gif(frames: list[Image.Image], path: Path) -> Path:
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)
    return path


def save_video(path: Path, count: int, size: int = 32) -> Path:
    """An H.264 video of `count` frames, a bright square moving right over a dark ground."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(count):
            picture = np.full((size, size, 3), 20, np.uint8)
            picture[8:16, t : t + 8] = (250, 200, 30)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(bouncing(), tmp_path_factory.mktemp("trained"), 200)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(bouncing(), tmp_path_factory.mktemp("untrained"), 1, lr=1e-9)


# --- Moving Fashion-MNIST and other sequences -----------------------------------------------------------


def test_moving_items_are_seeded_and_stay_whole_inside_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    moving = MovingItems(squares(28, 1))  # one 28 px item, as Fashion-MNIST's
    first = moving.batch(7, 6, 20, seed=3)
    assert first.shape == (6, 20, 1, 64, 64)
    assert torch.equal(first, moving.batch(7, 6, 20, seed=3))
    assert not torch.equal(first, moving.batch(8, 6, 20, seed=3))
    monkeypatch.setattr(sequences, "ITEMS", 1)  # one square: each frame must show it whole, 28 x 28
    corners = []
    for frame in MovingItems(squares(28, 1)).batch(0, 8, 40).flatten(0, 1)[:, 0]:
        rows, columns = torch.nonzero(frame == 1.0, as_tuple=True)
        assert len(rows) == 28 * 28  # not cut at an edge, nor wrapped into the next row
        assert (int(rows.max() - rows.min()), int(columns.max() - columns.min())) == (27, 27)
        corners.append((int(rows.min()), int(columns.min())))
    for (y0, x0), (y1, x1) in itertools.pairwise(corners[:40]):  # one sequence: a steady pace, bounces
        assert math.hypot(y1 - y0, x1 - x0) <= sequences.STEP_PX + 1.5
    assert {y for y, _ in corners} | {x for _, x in corners} <= set(range(37))


@pytest.mark.skipif(not FASHION_MNIST_ROOT.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_held_out_set_is_fixed_and_made_of_test_pictures() -> None:
    test = sequences.moving_fashion_mnist("test")
    held_out = test.held_out(20, 50)
    assert held_out.shape == (50, 20, 1, 64, 64)
    assert held_out.dtype == torch.uint8
    assert torch.equal(held_out, sequences.moving_fashion_mnist("test").held_out(20, 50))
    assert not torch.equal(held_out, sequences.moving_fashion_mnist("train").held_out(20, 50))
    assert held_out.float().mean() > 10  # two garments in every frame


def test_clips_give_windows_of_consecutive_frames_from_one_clip() -> None:
    # Frame t of clip c holds the value 10 c + t everywhere: a window shows where it came from.
    clips = Clips(
        tuple(
            (10 * c + torch.arange(n)).byte().view(-1, 1, 1, 1).expand(n, 1, 8, 8).contiguous()
            for c, n in enumerate((5, 3, 9))
        )
    )
    seen = set()
    for step in range(60):
        for window in clips.batch(step, 4, 3) * 255:
            values = window[:, 0, 0, 0].round().long().tolist()
            assert values == list(range(values[0], values[0] + 3))  # consecutive, within one clip
            seen.add(values[0])
    assert seen == {0, 1, 2, 10, *range(20, 27)}  # every window of the three clips, nothing beyond
    assert torch.equal(clips.batch(5, 4, 3, seed=1), clips.batch(5, 4, 3, seed=1))


def test_a_folder_of_frame_folders_gifs_and_videos_is_read_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "sequences"
    (folder / "walk").mkdir(parents=True)
    for t in (1, 2, 10, 3):  # natural name order: frame2 before frame10
        Image.new("L", (20, 20), 10 * t).save(folder / "walk" / f"frame{t}.png")
    save_gif(frames_of([50, 60, 70, 80, 90, 100]), folder / "blink.gif")
    save_video(folder / "square.mp4", 12)
    clips = read_clips(folder, 32, 4)
    assert len(clips.clips) == 3
    assert clips.channels == 3  # the video is in colour
    assert [len(c) for c in clips.clips] == [6, 12, 4]  # blink.gif, square.mp4, walk (by name)
    walk = clips.clips[2][:, 0, 16, 16].tolist()
    assert walk == [10, 20, 30, 100]
    said: list[str] = []
    grey = read_clips(folder, 32, 5, report=said.append)
    assert [len(c) for c in grey.clips] == [6, 12]
    assert "walk (4 frames)" in said[0]


def test_grey_sequences_are_read_in_grey(tmp_path: Path) -> None:
    save_gif(frames_of([0, 40, 80, 120, 160]), tmp_path / "a.gif")
    clips = read_clips(tmp_path / "a.gif", 16, 5)
    assert clips.channels == 1
    assert clips.clips[0][:, 0, 8, 8].tolist() == [0, 40, 80, 120, 160]


def test_bad_sequences_are_refused_with_what_to_do(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    for i in range(3):
        Image.new("L", (16, 16), i).save(loose / f"{i}.png")
    with pytest.raises(UserError, match=r"holds 3 single pictures, not sequences: put the frames of each"):
        read_clips(loose, 32, 4)
    short = tmp_path / "short"
    short.mkdir()
    save_gif(frames_of([1, 2, 3]), short / "a.gif")
    with pytest.raises(UserError, match=r"needs 20 frames in a row .* the longest has 3 frames"):
        read_clips(short, 32, 20)
    mixed = tmp_path / "mixed" / "one"
    mixed.mkdir(parents=True)
    Image.new("L", (16, 16)).save(mixed / "1.png")
    Image.new("L", (20, 16)).save(mixed / "2.png")
    with pytest.raises(UserError, match=r"frames of one differ in size \(16 x 16 and 20 x 16 px\)"):
        read_clips(mixed.parent, 32, 2)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "clip.mp4").write_text("not a video")
    with pytest.raises(UserError, match=r"none could be read: clip.mp4 \(clip.mp4 is not a readable video"):
        read_clips(fake, 32, 2)
    with pytest.raises(ImageError, match="not a readable video"):
        list(read_frames(fake / "clip.mp4"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="has no sequences"):
        read_clips(empty, 32, 2)
    with pytest.raises(UserError, match="Moving Fashion-MNIST is 64 px"):
        sequences.open_sequences(MOVING_FASHION_MNIST, 32, 20)


# --- the model -------------------------------------------------------------------------------------------


def test_ssim_is_the_papers_formula() -> None:
    # Wang et al. 2004, eq. 13 with an 11 x 11 Gaussian window (sigma 1.5), summed over the valid positions.
    rng = np.random.default_rng(0)
    a, b = rng.random((14, 13)), rng.random((14, 13))
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    values = []
    for y, x in itertools.product(range(14 - 10), range(13 - 10)):
        pa, pb = a[y : y + 11, x : x + 11], b[y : y + 11, x : x + 11]
        ma, mb = (w * pa).sum(), (w * pb).sum()
        va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
        cov = (w * (pa - ma) * (pb - mb)).sum()
        c1, c2 = 0.01**2, 0.03**2
        values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    got = ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])
    assert got.item() == pytest.approx(np.mean(values), abs=1e-9)
    same = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    assert torch.allclose(ssim(same, same), torch.ones(2, dtype=torch.float64))


def test_a_short_run_beats_copying_the_last_frame(trained: Path, untrained: Path) -> None:
    info = read_info(trained, ModelKind.SEQUENCE)
    assert trained.name == FORECAST_CHECKPOINT
    assert info.arch == FORECAST_ARCH
    assert (info.config["size"], info.config["input_frames"], info.config["output_frames"]) == (64, 4, 4)
    assert (info.training["step"], info.training["data_set"]) == (200, "bouncing squares")
    assert set(info.training["losses"]) == {"cross_entropy", "mse"}
    held_out = bouncing().held_out(8, 200)
    result = evaluate_forecaster(trained, held_out)
    assert set(result) == {"mse", "ssim", "copy_last_mse", "copy_last_ssim"}
    assert all(len(values) == 4 for values in result.values())
    future, last = held_out[:, 4:].float() / 255, held_out[:, 3:4].float() / 255
    direct = (future - last).square().mean((0, 2, 3, 4))  # copy-last, computed here
    assert result["copy_last_mse"] == pytest.approx(direct.tolist(), rel=1e-5)
    mse = sum(result["mse"]) / 4
    assert mse < 0.6 * float(direct.mean())
    assert mse < 0.6 * float(future.square().mean())  # it predicts where the squares go, not just dark
    assert sum(result["ssim"]) > sum(evaluate_forecaster(untrained, held_out)["ssim"])


def test_continuing_predicts_frames_from_the_last_ones_read(trained: Path) -> None:
    sequence = bouncing().held_out(12, 1)[0]
    frames = [Image.fromarray(f[0].numpy()) for f in sequence]
    predicted = continue_frames(trained, frames, 6)
    assert len(predicted) == 6
    assert all(p.size == (64, 64) and p.mode == "RGB" for p in predicted)
    # Only the last 4 frames count: a longer past gives the same prediction.
    assert [p.tobytes() for p in continue_frames(trained, frames[-4:], 6)] == [p.tobytes() for p in predicted]
    job = ContinueSequenceJob(trained, frames, 6)
    result = run_job(job).result
    assert result is not None
    assert result.image.size == (6 * 64, 2 * 64)  # the 4 frames read over the 6 predicted
    assert len(job.frames) == 10
    assert [f.tobytes() for f in job.predicted] == [p.tobytes() for p in predicted]
    with pytest.raises(UserError, match="reads 4 frames to continue a sequence; this one has 3"):
        continue_frames(trained, frames[:3], 2)
    with pytest.raises(UserError, match="Ask for 1 to"):
        continue_frames(trained, frames, 0)


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    data = bouncing()
    whole = load_checkpoint(train(data, tmp_path / "whole", 6), ModelKind.SEQUENCE)[0]
    first = train(data, tmp_path / "parts", 3)
    resumed = load_checkpoint(train(data, tmp_path / "parts", 6, resume=first), ModelKind.SEQUENCE)[0]
    assert whole.keys() == resumed.keys()
    assert any(k.startswith("optim.") for k in whole)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_cancel_leaves_a_resumable_checkpoint_and_previews_show(tmp_path: Path) -> None:
    token = CancelToken()
    events: list[Event] = []

    def cancel_after_five(event: Event) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.step >= 5 and not token.cancelled:
            token.cancel()

    job = ForecastTrainingJob(bouncing(), tmp_path, steps=500, **{**SMALL, "sample_every": 2})
    outcome = run_job(job, cancel_after_five, token)
    assert outcome.cancelled
    assert outcome.result == tmp_path / FORECAST_CHECKPOINT
    step = read_info(outcome.result).training["step"]
    assert 5 <= step < 500
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews
    assert previews[0].image.size == (5 * 64, 6 * 64)  # 3 sequences: the truth over the prediction
    assert job.timing is not None
    resumed = train(bouncing(), tmp_path, step + 1, resume=outcome.result)
    assert read_info(resumed).training["step"] == step + 1
    shape = forecast_training.StepShape(32, 2, 8)
    assert list(forecast_training.step_seconds([shape], torch.device("cpu"), 30.0, lambda: None)) == [shape]


def test_nan_stops_training_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = train(bouncing(), tmp_path, 2)
    before = good.read_bytes()
    monkeypatch.setattr(
        forecast_training.F,
        "binary_cross_entropy_with_logits",
        lambda logits, _target: logits.sum() * math.nan,
    )
    with pytest.raises(UserError, match=r"diverged at step 3 .*: lower the learning rate"):
        train(bouncing(), tmp_path, 6, resume=good, checkpoint_every=1)
    assert good.read_bytes() == before


def test_bad_settings_and_checkpoints_are_refused(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="frame size must be one of 32, 64, 128 px, not 48"):
        train(MovingItems(squares(), size=48), tmp_path, 1)
    with pytest.raises(UserError, match="kernel must be odd"):
        train(bouncing(), tmp_path, 1, kernel=4)
    with pytest.raises(UserError, match="already trained for 200 steps"):
        train(bouncing(), tmp_path / "again", 100, resume=trained)
    colour = Clips((torch.zeros(9, 3, 64, 64, dtype=torch.uint8),), "colour")
    with pytest.raises(UserError, match="has 3-channel frames of 64 px; the model has 1-channel frames"):
        train(colour, tmp_path / "colour", 300, resume=trained)
    with pytest.raises(UserError, match="do not fit the model"):
        evaluate_forecaster(trained, torch.zeros(2, 5, 1, 64, 64, dtype=torch.uint8))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_forecaster(tmp_path / "missing.safetensors")


def test_the_cli_trains_continues_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    moving = bouncing().held_out(12, 6)
    for index, sequence in enumerate(moving):
        save_gif([Image.fromarray(f[0].numpy()) for f in sequence], folder / f"clip{index}.gif")
    run = tmp_path / "run"
    small = [
        "--width",
        "8",
        "--layers",
        "1",
        "--batch-size",
        "4",
        "--input-frames",
        "4",
        "--output-frames",
        "4",
    ]
    train_args = ["train-sequence", str(folder), "--size", "64", "--steps", "3", "--out", str(run), *small]
    assert main(["--quiet", *train_args]) == 0
    model = run / FORECAST_CHECKPOINT
    info = read_info(model)
    assert (info.config["size"], info.config["channels"], info.training["sequence_count"]) == (64, 1, 6)

    animation = tmp_path / "next.gif"
    assert main(["--quiet", "continue-sequence", str(model), str(folder / "clip0.gif"), "--frames", "5",
                 "-o", str(animation)]) == 0  # fmt: skip
    with Image.open(animation) as gif:
        assert gif.n_frames == 4 + 5  # the frames read, then the predicted ones
    out = tmp_path / "next"
    continue_args = [
        "continue-sequence",
        str(model),
        str(folder / "clip1.gif"),
        "--frames",
        "3",
        "-o",
        str(out),
    ]
    assert main(["--quiet", *continue_args]) == 0
    expected = continue_frames(model, list(read_frames(folder / "clip1.gif")), 3)
    for index, frame in enumerate(expected):
        assert Image.open(out / f"frame-{index:03d}.png").convert("RGB").tobytes() == frame.tobytes()
    assert main(["--quiet", *continue_args]) == 1  # the frames of the first run are kept
    assert "already holds frame-000.png" in capsys.readouterr().err

    assert main(["evaluate-sequence", str(model), str(folder)]) == 0
    printed = capsys.readouterr().out
    result = run_job(ForecastEvaluateJob(model, folder)).result
    assert result is not None
    assert f"{result['copy_last_mse'][0]:14.4f}" in printed
    assert "MSE relative to copying the last frame" in printed
