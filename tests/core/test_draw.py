import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoints import ModelKind, load_checkpoint, read_info, save_checkpoint
from core.cli import main
from core.data import FASHION_MNIST_ROOT, ImageSet
from core.errors import CheckpointError, UserError
from core.jobs import CancelToken, Event, JobContext, Preview, Progress, run_job
from core.presets import StepShape
from core.sequence import attention, draw, draw_training
from core.sequence.draw_inference import evaluate_draw, load_draw, reconstruct_drawing, sample_drawings
from core.sequence.draw_training import DrawTrainingJob
from core.sequence.jobs import DrawEvaluateJob, DrawReconstructJob, DrawSampleJob
from core.sequence.settings import DRAW_ARCH, DRAW_CHECKPOINT

SMALL: dict[str, Any] = {
    "hidden": 32,
    "latent": 4,
    "glimpses": 4,
    "batch_size": 32,
    "sample_every": 5,
    "lr": 3e-3,
}


def boxes(n: int = 256, size: int = 28, channels: int = 1, seed: int = 0) -> ImageSet:
    """Bright rectangles of random position and shape on black: a few strokes for DRAW to learn."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, channels, size, size), np.uint8)
    for image in images:
        top, left = rng.integers(2, size // 2, 2)
        height, width = rng.integers(size // 5, size // 2, 2)
        colour = rng.integers(128, 256, channels) if channels == 3 else [255]
        for c, value in enumerate(colour):
            image[c, top : top + height, left : left + width] = value
    return ImageSet(torch.from_numpy(images), name="boxes")


def train(data: ImageSet, out: Path, steps: int, **kwargs: Any) -> Path:
    return DrawTrainingJob(data, out, steps=steps, **{**SMALL, **kwargs}).run(JobContext())


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path, ModelKind.DRAW)[0]


def picture(data: ImageSet, index: int) -> Image.Image:
    return Image.fromarray(data.images[index, 0].numpy())


def difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean())


@pytest.fixture(scope="module")
def data() -> ImageSet:
    return boxes()


@pytest.fixture(scope="module")
def held_out() -> ImageSet:
    return boxes(128, seed=1)


@pytest.fixture(scope="module")
def trained(data: ImageSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(data, tmp_path_factory.mktemp("trained"), 200)


@pytest.fixture(scope="module")
def untrained(data: ImageSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(data, tmp_path_factory.mktemp("untrained"), 1, lr=1e-9)


def direct_filterbank(params: list[float], width: int, height: int, n: int) -> tuple[np.ndarray, ...]:
    """Eqs. 19-26 written out entry by entry, in 1-based pixel coordinates."""
    gx_tilde, gy_tilde, log_var, log_delta, log_gamma = params
    gx, gy = (width + 1) / 2 * (gx_tilde + 1), (height + 1) / 2 * (gy_tilde + 1)
    delta = (max(width, height) - 1) / (n - 1) * math.exp(log_delta)
    var = math.exp(log_var)
    banks = []
    for centre, side in ((gx, width), (gy, height)):
        bank = np.zeros((n, side))
        for i in range(1, n + 1):
            mu = centre + (i - n / 2 - 0.5) * delta
            for a in range(1, side + 1):
                bank[i - 1, a - 1] = math.exp(-((a - mu) ** 2) / (2 * var))
            bank[i - 1] /= bank[i - 1].sum()
        banks.append(bank)
    return banks[0], banks[1], np.array(math.exp(log_gamma))


def test_the_filterbanks_are_the_papers() -> None:
    params = torch.tensor(
        [[0.3, -0.2, 0.4, -0.5, 0.1], [-0.6, 0.5, 1.2, 0.2, -0.3], [0.0, 0.0, 0.0, 0.0, 0.0]]
    )
    bank = attention.filterbank(params.double(), 9, 6, 4)
    for row, fx, fy, gamma in zip(params.tolist(), bank.fx, bank.fy, bank.gamma, strict=True):
        expected = direct_filterbank(row, 9, 6, 4)
        for got, want in zip((fx, fy, gamma), expected, strict=True):
            np.testing.assert_allclose(got.numpy(), want, atol=1e-7)


def test_the_grid_is_centred_with_the_papers_stride() -> None:
    # g~ = 0, delta~ = 1 on 9 px with N = 5: stride (9 - 1) / (5 - 1) = 2, centres at pixels 1, 3, 5, 7, 9
    # (1-based): with a tiny sigma each filter is one pixel, columns 0, 2, 4, 6, 8 of the array.
    sharp = torch.tensor([[0.0, 0.0, -20.0, 0.0, 0.0]])
    bank = attention.filterbank(sharp, 9, 9, 5)
    assert bank.fx[0].argmax(1).tolist() == [0, 2, 4, 6, 8]
    assert torch.allclose(bank.fx[0].max(1).values, torch.ones(5))
    assert torch.equal(bank.fx, bank.fy)
    shifted = attention.filterbank(torch.tensor([[-0.8, 0.0, -20.0, 0.0, 0.0]]), 9, 9, 5)
    assert torch.allclose(shifted.fx[0].argmax(1).float(), torch.tensor([-4.0, -2, 0, 2, 4]).clamp(min=0))


def test_a_sharp_read_over_the_whole_picture_returns_it_and_a_write_puts_it_back() -> None:
    x = torch.rand(2, 3, 8, 8)
    x_hat = x - 0.5
    bank = attention.filterbank(torch.tensor([[0.0, 0.0, -20.0, 0.0, 0.0]] * 2), 8, 8, 8)
    patches = attention.read(x, x_hat, bank).view(2, 2, 3, 8, 8)
    assert torch.allclose(patches[:, 0], x, atol=1e-6)
    assert torch.allclose(patches[:, 1], x_hat, atol=1e-6)
    assert torch.allclose(attention.write(x, bank), x, atol=1e-6)
    loud = attention.filterbank(torch.tensor([[0.0, 0.0, -20.0, 0.0, math.log(2.0)]] * 2), 8, 8, 8)
    assert torch.allclose(attention.read(x, x_hat, loud), 2 * attention.read(x, x_hat, bank))
    assert torch.allclose(attention.write(x, loud), x / 2)  # the write divides by its own gamma
    away = attention.filterbank(torch.tensor([[40.0, 40.0, -20.0, 0.0, 0.0]]), 8, 8, 2)
    assert torch.isfinite(away.fx).all()  # a grid off the picture reads zeros, not NaN


def test_read_and_write_keep_columns_as_x_and_rows_as_y() -> None:
    # A 6 px high, 8 px wide picture, an 8 x 8 grid of one-pixel filters at stride 1 (delta~ = 1, eq. 24:
    # (8 - 1) / (8 - 1)), its centre moved to (5.5, 5.5) in 1-based pixels: by g~x = 2 / 9 one column right
    # of the middle 4.5, by g~y = 4 / 7 two rows below the middle 3.5 (eqs. 22, 23). Filter j, i then sits on
    # row j + 1, column i + 1 (0-based), zeros past the edges; the write puts the patch back there. A swapped
    # F_x / F_y or a wrong transpose would shift by rows where it should by columns.
    x = torch.arange(48.0).view(1, 1, 6, 8)
    bank = attention.filterbank(torch.tensor([[2 / 9, 4 / 7, -20.0, 0.0, 0.0]]), 8, 6, 8)
    patch = attention.glimpse(x, bank)  # (1, 1, 8, 8): rows j, columns i
    for j, i in itertools.product(range(8), range(8)):
        inside = j + 1 < 6 and i + 1 < 8
        want = x[0, 0, j + 1, i + 1].item() if inside else 0.0
        assert patch[0, 0, j, i].item() == pytest.approx(want, abs=1e-4)
    kept = x.clone()
    kept[..., :1, :], kept[..., :, :1] = 0, 0  # the row and the column the read never saw
    assert torch.allclose(attention.write(patch, bank), kept, atol=1e-4)


def test_a_cancelled_sample_keeps_nothing(trained: Path) -> None:
    token = CancelToken()
    outcome = run_job(DrawSampleJob(trained, n=8), lambda _event: token.cancel(), token)
    assert outcome.cancelled
    assert outcome.result is None


def test_training_lowers_the_negative_elbo_and_records_the_run(
    held_out: ImageSet, trained: Path, untrained: Path
) -> None:
    info = read_info(trained, ModelKind.DRAW)
    assert trained.name == DRAW_CHECKPOINT
    assert info.arch == DRAW_ARCH
    assert (info.config["size"], info.config["likelihood"], info.config["glimpses"]) == (28, "bernoulli", 4)
    assert (info.training["step"], info.training["steps"]) == (200, 200)
    assert (info.training["data_set"], info.training["image_count"]) == ("boxes", 256)
    assert set(info.training["losses"]) == {"elbo", "reconstruction", "kl"}
    kl = info.training["kl_per_glimpse"]
    assert len(kl) == 4
    assert sum(kl) > 1.0  # the glimpses carry information: no posterior collapse
    before, after = evaluate_draw(untrained, held_out), evaluate_draw(trained, held_out)
    assert after["nelbo"] < 0.6 * before["nelbo"]
    assert after["nelbo"] == pytest.approx(after["reconstruction"] + after["kl"])
    assert after["bits_per_dim"] == pytest.approx(after["nelbo"] / (28 * 28 * math.log(2)))
    assert evaluate_draw(trained, held_out) == after  # fixed noise


def test_each_glimpse_changes_the_canvas_and_the_last_is_the_picture(
    held_out: ImageSet, trained: Path, untrained: Path
) -> None:
    image = picture(held_out, 0)
    frames = reconstruct_drawing(trained, image)
    assert len(frames) == 4
    assert all(frame.size == (28, 28) and frame.mode == "RGB" for frame in frames)
    assert all(difference(a, b) > 1.0 for a, b in itertools.pairwise(frames))
    grey = image.convert("RGB")
    assert difference(frames[-1], grey) < difference(frames[0], grey)
    assert difference(frames[-1], grey) < 0.7 * difference(reconstruct_drawing(untrained, image)[-1], grey)
    for drawing in sample_drawings(trained, 2, seed=1):
        assert len(drawing) == 4
        assert all(difference(a, b) > 0.5 for a, b in itertools.pairwise(drawing))


def test_seeds_repeat_and_the_jobs_keep_their_frames(held_out: ImageSet, trained: Path) -> None:
    first = sample_drawings(trained, 3, seed=5)
    again = sample_drawings(trained, 1, seed=5)[0]  # drawing i depends on (seed, i) alone
    assert [f.tobytes() for f in again] == [f.tobytes() for f in first[0]]
    assert sample_drawings(trained, 1, seed=6)[0][-1].tobytes() != first[0][-1].tobytes()
    job = DrawSampleJob(trained, n=4, seed=5)
    result = run_job(job).result
    assert result is not None
    assert len(job.frames) == len(job.drawings) == 4
    assert result.image.size == (56, 56)  # a 2 x 2 grid
    assert result.image.tobytes() == job.frames[-1].tobytes()
    assert job.drawings[0][-1].tobytes() == first[0][-1].tobytes()
    assert result.settings["seed"] == 5
    redraw = DrawReconstructJob(trained, picture(held_out, 2).convert("RGB").resize((56, 56)))
    pair = run_job(redraw).result
    assert pair is not None
    assert pair.image.size == (56, 28)
    assert len(redraw.frames) == 4
    assert pair.image.tobytes() == redraw.frames[-1].tobytes()
    assert redraw.frames[0].tobytes() != redraw.frames[-1].tobytes()
    with pytest.raises(UserError, match="at least 1 sample"):
        sample_drawings(trained, 0)


def test_resume_is_bit_identical(data: ImageSet, tmp_path: Path) -> None:
    whole = weights(train(data, tmp_path / "whole", 6))
    first = train(data, tmp_path / "parts", 3)
    resumed = weights(train(data, tmp_path / "parts", 6, resume=first))
    assert whole.keys() == resumed.keys()
    assert any(k.startswith("optim.") for k in whole)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_cancel_leaves_a_resumable_checkpoint_and_previews_show(data: ImageSet, tmp_path: Path) -> None:
    token = CancelToken()
    events: list[Event] = []

    def cancel_after_five(event: Event) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.step >= 5 and not token.cancelled:
            token.cancel()

    job = DrawTrainingJob(data, tmp_path, steps=500, **SMALL)
    outcome = run_job(job, cancel_after_five, token)
    assert outcome.cancelled
    assert outcome.result == tmp_path / DRAW_CHECKPOINT
    step = read_info(outcome.result).training["step"]
    assert 5 <= step < 500
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews
    assert previews[0].image.size == (8 * 28, 8 * 28)
    assert job.timing is not None
    assert (job.timing.device_class, job.timing.shape) == ("cpu", StepShape(28, 32, 32))
    resumed = train(data, tmp_path, step + 1, resume=outcome.result)
    assert read_info(resumed).training["step"] == step + 1
    shape = StepShape(28, 8, 16)
    assert list(draw_training.step_seconds([shape], torch.device("cpu"), 30.0, lambda: None)) == [shape]


def test_without_attention_it_reads_and_writes_the_whole_picture(
    data: ImageSet, held_out: ImageSet, tmp_path: Path
) -> None:
    before = evaluate_draw(train(data, tmp_path / "before", 1, attention=False, lr=1e-9), held_out)
    path = train(data, tmp_path / "after", 60, attention=False)
    loaded = load_draw(path)
    assert not loaded.config.attention
    assert not hasattr(loaded.model, "read_attention")
    assert evaluate_draw(loaded, held_out)["nelbo"] < 0.6 * before["nelbo"]


def test_colour_pictures_get_a_learned_gaussian(tmp_path: Path) -> None:
    colour = boxes(64, 32, channels=3)
    path = train(colour, tmp_path, 2)
    loaded = load_draw(path)
    assert (loaded.config.size, loaded.config.channels, loaded.config.likelihood) == (32, 3, "gaussian")
    assert not torch.equal(loaded.model.log_sigma, torch.full((3,), -2.0))  # it learns
    result = evaluate_draw(loaded, colour)
    assert math.isfinite(result["nelbo"])
    assert result["bits_per_dim"] == pytest.approx(
        (result["nelbo"] + 3 * 32 * 32 * math.log(256)) / (3 * 32 * 32 * math.log(2))
    )
    drawing = sample_drawings(loaded, 1)[0]
    assert drawing[-1].size == (32, 32)
    assert len(reconstruct_drawing(loaded, Image.new("RGB", (50, 40), "red"))) == 4


def test_evaluate_job_reads_a_folder_in_grey(held_out: ImageSet, trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(20):
        picture(held_out, i).save(folder / f"{i:02}.png")
    result = run_job(DrawEvaluateJob(trained, folder)).result
    assert result == evaluate_draw(trained, ImageSet(held_out.images[:20]))


@pytest.mark.skipif(not FASHION_MNIST_ROOT.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_evaluate_job_takes_fashion_mnists_test_split(trained: Path) -> None:
    test = run_job(DrawEvaluateJob(trained, "fashion-mnist")).result
    assert test is not None
    assert math.isfinite(test["nelbo"])
    with pytest.raises(UserError, match="'train' and a 'test' split"):
        run_job(DrawEvaluateJob(trained, "fashion-mnist", split="validation"))


def test_nan_stops_training_and_keeps_the_last_checkpoint(
    data: ImageSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = train(data, tmp_path, 2)
    before = good.read_bytes()
    monkeypatch.setattr(draw, "kl_per_dimension", lambda mu, log_var: mu * float("nan"))
    with pytest.raises(UserError, match=r"diverged at step 3 .*: lower the learning rate"):
        train(data, tmp_path, 6, resume=good, checkpoint_every=1)
    assert good.read_bytes() == before


def test_bad_inputs_are_refused(data: ImageSet, trained: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="DRAW image size must be one of"):
        train(data, tmp_path, 1, size=48)
    with pytest.raises(UserError, match="read and write grids must be 2 to 28"):
        train(data, tmp_path, 1, read_n=1)
    with pytest.raises(UserError, match="glimpses, hidden size"):
        train(data, tmp_path, 1, glimpses=0)
    with pytest.raises(UserError, match="has 3-channel images; the model has 1"):
        train(boxes(8, 28, channels=3), tmp_path / "resumed", 300, resume=trained)
    with pytest.raises(UserError, match="already trained for 200 steps"):
        train(data, tmp_path / "resumed", 100, resume=trained)
    with pytest.raises(UserError, match="has 3-channel images; the model has 1"):
        evaluate_draw(trained, boxes(4, 28, channels=3))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="has no pictures"):
        run_job(DrawEvaluateJob(trained, empty))
    other = tmp_path / "vae.safetensors"
    save_checkpoint(other, {"w": torch.zeros(1)}, kind=ModelKind.VAE, arch="conv-vae-v1")
    with pytest.raises(CheckpointError, match="not a DRAW"):
        load_draw(other)
    foreign = tmp_path / "foreign.safetensors"
    save_checkpoint(foreign, {"w": torch.zeros(1)}, kind=ModelKind.DRAW, arch=DRAW_ARCH, config={"size": 28})
    with pytest.raises(CheckpointError, match="does not hold the weights"):
        load_draw(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_draw(tmp_path / "missing.safetensors")


def test_the_cli_trains_samples_with_gifs_reconstructs_and_evaluates(
    held_out: ImageSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(40):
        picture(held_out, i).save(folder / f"{i:02}.png")
    run = tmp_path / "run"
    small = ["--hidden", "16", "--latent", "4", "--glimpses", "3", "--batch-size", "8"]
    assert main(["--quiet", "train-draw", str(folder), "--steps", "3", "--out", str(run), *small]) == 0
    model = run / DRAW_CHECKPOINT
    info = read_info(model)
    assert (info.config["size"], info.config["channels"], info.config["glimpses"]) == (28, 1, 3)
    out = tmp_path / "samples"
    sample = ["sample-draw", str(model), "-n", "2", "--seed", "4", "--gif", "--out", str(out)]
    assert main(["--quiet", *sample]) == 0
    finals = sample_drawings(model, 2, seed=4)
    for index, drawing in enumerate(finals):
        saved = Image.open(out / f"sample-{index:03d}.png").convert("RGB")
        assert saved.tobytes() == drawing[-1].tobytes()
        with Image.open(out / f"sample-{index:03d}.gif") as gif:
            assert gif.n_frames == 3
    assert (out / "grid.png").is_file()
    animation = tmp_path / "redrawn.gif"
    redraw = ["reconstruct-draw", str(model), str(folder / "00.png"), "-o", str(animation)]
    assert main(["--quiet", *redraw]) == 0
    with Image.open(animation) as gif:
        assert gif.n_frames == 3
    capsys.readouterr()
    assert main(["evaluate-draw", str(model), str(folder)]) == 0
    expected = evaluate_draw(model, ImageSet(held_out.images[:40]))
    assert f"negative ELBO {expected['nelbo']:.2f} nats" in capsys.readouterr().out
