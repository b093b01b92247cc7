from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoints import ModelKind, load_checkpoint, read_info, save_checkpoint
from core.cli import main
from core.data import ImageSet
from core.errors import CheckpointError, UserError
from core.images import load_image, read_metadata
from core.jobs import CancelToken, Event, JobContext, Message, Preview, Progress, run_job
from core.latents import latents
from core.presets import StepShape
from core.vae import density, networks, training
from core.vae.inference import (
    decode,
    decode_with_offsets,
    encode,
    evaluate,
    interpolate,
    latent_points,
    load_vae,
    reconstruct,
    sample,
)
from core.vae.jobs import DecodeJob, InterpolateJob, ReconstructJob, SampleJob
from core.vae.settings import ARCH, DEFAULT_WIDTH
from core.vae.training import VaeTrainingJob

SMALL: dict[str, Any] = {"width": 8, "latent": 8, "batch_size": 32, "sample_every": 5, "lr": 3e-3}


def discs(n: int = 256, size: int = 28, channels: int = 1, seed: int = 0) -> ImageSet:
    """Bright discs of random centre and radius on black: three factors a VAE picks up in a few steps."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:size, :size]
    images = np.zeros((n, channels, size, size), np.uint8)
    for image in images:
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        radius = rng.uniform(size * 0.12, size * 0.3)
        colour = rng.integers(128, 256, channels) if channels == 3 else [255]
        for c, value in enumerate(colour):
            image[c][(ys - cy) ** 2 + (xs - cx) ** 2 <= radius**2] = value
    return ImageSet(torch.from_numpy(images), name="discs")


def train(data: ImageSet, out: Path, steps: int, **kwargs: Any) -> Path:
    return VaeTrainingJob(data, out, steps=steps, **{**SMALL, **kwargs}).run(JobContext())


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path, ModelKind.VAE)[0]


def picture(data: ImageSet, index: int) -> Image.Image:
    return Image.fromarray(data.images[index, 0].numpy()).convert("RGB")


@pytest.fixture(scope="module")
def data() -> ImageSet:
    return discs()


@pytest.fixture(scope="module")
def trained(data: ImageSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(data, tmp_path_factory.mktemp("trained"), 150)


@pytest.fixture(scope="module")
def untrained(data: ImageSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(data, tmp_path_factory.mktemp("untrained"), 1, lr=1e-9)


def test_training_lowers_the_negative_elbo_and_records_the_run(
    data: ImageSet, trained: Path, untrained: Path
) -> None:
    info = read_info(trained, ModelKind.VAE)
    assert trained.name == "vae.safetensors"
    assert info.arch == ARCH
    assert info.config["size"] == 28  # 28 px data trains a 28 px model, so its ELBO is comparable
    assert info.config["likelihood"] == "bernoulli"  # grey data
    assert info.training["step"] == 150
    assert set(info.training["losses"]) == {"elbo", "reconstruction", "kl"}
    assert len(info.training["kl_per_dimension"]) == 8
    before, after = evaluate(untrained, data), evaluate(trained, data)
    assert after["nelbo"] < 0.5 * before["nelbo"]
    assert after["nelbo"] == pytest.approx(after["reconstruction"] + after["kl"])
    assert after["bits_per_dim"] == pytest.approx(after["nelbo"] / (28 * 28 * np.log(2)))
    assert after["kl"] > 1.0  # the code carries information: no posterior collapse


def test_reconstructions_beat_the_untrained_model(data: ImageSet, trained: Path, untrained: Path) -> None:
    def error(model: Path) -> float:
        pairs = [reconstruct(model, picture(data, i)) for i in range(16)]
        return float(np.mean([np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() for a, b in pairs]))

    seen, _ = reconstruct(trained, picture(data, 0))
    assert seen.size == (28, 28)
    assert np.array_equal(np.asarray(seen)[..., 0], data.images[0, 0].numpy())
    assert error(trained) < 0.5 * error(untrained)


def test_interpolation_ends_on_the_reconstructions(data: ImageSet, trained: Path, tmp_path: Path) -> None:
    a, b = picture(data, 1), picture(data, 2)
    frames = interpolate(trained, a, b, 6)
    assert len(frames) == 6
    for frame, image in ((frames[0], a), (frames[-1], b)):
        assert frame.tobytes() == reconstruct(trained, image)[1].tobytes()
    middle = np.asarray(frames[3], float)
    assert np.abs(middle - np.asarray(frames[0], float)).mean() > 1  # it moves
    gif = tmp_path / "morph.gif"
    result = run_job(InterpolateJob(trained, a, b, 4, gif)).result
    assert result is not None
    assert result.image.size == (4 * 28, 28)
    with Image.open(gif) as animation:
        assert animation.n_frames == 4


def test_a_slider_moves_the_picture_and_zero_is_the_reconstruction(data: ImageSet, trained: Path) -> None:
    image = picture(data, 3)
    top = load_vae(trained).ranked_dimensions[0]
    kl = read_info(trained).training["kl_per_dimension"]
    assert kl[top] == max(kl)
    at_zero = np.asarray(decode_with_offsets(trained, {top: 0.0}, image=image), float)
    assert np.array_equal(at_zero, np.asarray(reconstruct(trained, image)[1], float))
    moved = np.asarray(decode_with_offsets(trained, {top: 2.5}, image=image), float)
    assert np.abs(moved - at_zero).mean() > 2
    from_seed = run_job(DecodeJob(trained, {}, seed=4)).result
    assert from_seed is not None
    assert from_seed.image.tobytes() == sample(trained, 1, seed=4)[0].tobytes()
    with pytest.raises(UserError, match="dimensions 0 to 7"):
        decode_with_offsets(trained, {8: 1.0})


def test_samples_repeat_per_seed_and_temperature_tames_them(trained: Path) -> None:
    first = sample(trained, 3, seed=5)
    assert [im.size for im in first] == [(28, 28)] * 3
    assert sample(trained, 1, seed=5)[0].tobytes() == first[0].tobytes()
    assert sample(trained, 1, seed=6)[0].tobytes() != first[0].tobytes()
    assert sample(trained, 1, seed=5, temperature=0.3)[0].tobytes() != first[0].tobytes()
    with pytest.raises(UserError, match="temperature"):
        sample(trained, 1, temperature=0)


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

    def cancel_after_five(event: Event) -> None:  # progress is rate-limited: step 5 may not be reported
        events.append(event)
        if isinstance(event, Progress) and event.step >= 5 and not token.cancelled:
            token.cancel()

    outcome = run_job(VaeTrainingJob(data, tmp_path, steps=500, **SMALL), cancel_after_five, token)
    assert outcome.cancelled
    assert outcome.result == tmp_path / "vae.safetensors"
    step = read_info(outcome.result).training["step"]
    assert 5 <= step < 500
    assert load_vae(outcome.result).density is None  # not fitted to weights a resume will change
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews
    assert previews[0].image.size == (8 * 28, 8 * 28)
    resumed = train(data, tmp_path, step + 1, resume=outcome.result)
    assert read_info(resumed).training["step"] == step + 1


def test_a_run_reports_its_step_time_for_the_next_estimate(data: ImageSet, tmp_path: Path) -> None:
    job = VaeTrainingJob(data, tmp_path, steps=3, **SMALL)
    run_job(job)
    assert job.timing is not None
    assert (job.timing.device_class, job.timing.shape) == ("cpu", StepShape(28, 32, 8))
    assert job.timing.seconds_per_step > 0
    shape = StepShape(32, 8, 8)
    assert list(training.step_seconds([shape], torch.device("cpu"), 30.0, lambda: None)) == [shape]


def test_the_width_defaults_to_the_devices_and_a_resume_keeps_its_own(data: ImageSet, tmp_path: Path) -> None:
    small = {**SMALL, "width": None}
    first = VaeTrainingJob(data, tmp_path, steps=1, **small).run(JobContext())
    assert read_info(first).config["width"] == DEFAULT_WIDTH["cpu"]
    messages: list[str] = []
    job = VaeTrainingJob(data, tmp_path, steps=2, resume=first, **{**SMALL, "width": 32})
    run_job(job, lambda e: messages.append(e.text) if isinstance(e, Message) else None)
    assert read_info(first).config["width"] == DEFAULT_WIDTH["cpu"]
    assert "Resuming keeps the checkpoint's width." in messages


def test_nan_stops_training_and_keeps_the_last_checkpoint(
    data: ImageSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = train(data, tmp_path, 2)
    before = good.read_bytes()
    monkeypatch.setattr(networks, "kl_per_dimension", lambda mu, log_var: mu * float("nan"))
    with pytest.raises(UserError, match=r"diverged at step 3 .*: lower the learning rate"):
        train(data, tmp_path, 6, resume=good, checkpoint_every=1)
    assert good.read_bytes() == before


def test_colour_data_gets_a_learned_gaussian(tmp_path: Path) -> None:
    colour = discs(64, 32, channels=3)
    path = train(colour, tmp_path, 30, checkpoint_every=100)
    loaded = load_vae(path)
    assert loaded.config.likelihood == "gaussian"
    assert loaded.config.size == 32
    x = colour.images.float() / 255
    with torch.no_grad():
        residual = x - loaded.model.mean_image(loaded.model.encode(x)[0])
    optimum = float(residual.square().mean().sqrt().log())  # the maximum-likelihood log sigma
    learned = float(loaded.model.log_sigma.mean())
    assert learned != -2.0
    assert np.sign(learned + 2.0) == np.sign(optimum + 2.0)
    result = evaluate(loaded, colour)
    assert np.isfinite(result["nelbo"])
    assert sample(loaded, 1)[0].size == (32, 32)
    pair = run_job(ReconstructJob(path, Image.new("RGB", (50, 40), "red"))).result
    assert pair is not None
    assert pair.image.size == (64, 32)


def test_bad_inputs_are_refused(data: ImageSet, trained: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="image size must be one of"):
        train(data, tmp_path, 1, size=48)
    with pytest.raises(UserError, match="Beta must be above 0"):
        train(data, tmp_path, 1, beta=0)
    with pytest.raises(UserError, match="has 3-channel images; the model has 1"):
        train(discs(8, 28, channels=3), tmp_path / "resumed", 200, resume=trained)
    with pytest.raises(UserError, match="already trained for 150 steps"):
        train(data, tmp_path / "resumed", 100, resume=trained)
    other = tmp_path / "gan.safetensors"
    save_checkpoint(other, {"w": torch.zeros(1)}, kind=ModelKind.GAN, arch="dcgan-sn-v1")
    with pytest.raises(CheckpointError, match="not a VAE"):
        load_vae(other)
    foreign = tmp_path / "foreign.safetensors"
    save_checkpoint(foreign, {"w": torch.zeros(1)}, kind=ModelKind.VAE, arch=ARCH, config={"size": 28})
    with pytest.raises(CheckpointError, match="does not hold the weights"):
        load_vae(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_vae(tmp_path / "missing.safetensors")


def without_density(path: Path, out: Path) -> Path:
    """A copy of a checkpoint as written before the density existed: no "density." tensors or record."""
    tensors, info = load_checkpoint(path, ModelKind.VAE)
    kept = {k: v for k, v in tensors.items() if not k.startswith("density.")}
    training = {k: v for k, v in info.training.items() if k != "density"}
    save_checkpoint(out, kept, kind=ModelKind.VAE, arch=info.arch, config=info.config, training=training)
    return out


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.norm(a.double() - b.double()) / torch.linalg.norm(b.double()))


def test_a_finished_run_samples_from_the_density_of_its_codes(data: ImageSet, trained: Path) -> None:
    loaded = load_vae(trained)
    record = loaded.info.training["density"]
    assert (record["method"], record["fit_images"], record["components"]) == (density.METHOD, 256, 10)
    assert loaded.density is not None
    assert set(weights(trained)) >= {"density.weights", "density.means", "density.scale_tril"}
    codes = encode(loaded, [picture(data, i) for i in range(len(data))])
    points = latent_points(loaded, 4000, seed=1)
    # The default points have the codes' mean and covariance, which N(0, I) has not (the model leaves
    # dimensions unused: their codes stay near 0).
    assert relative_error(points.mean(0), codes.mean(0)) < 0.15
    assert relative_error(torch.cov(points.T), torch.cov(codes.T)) < 0.15
    assert relative_error(torch.eye(8), torch.cov(codes.T)) > 0.5
    standard = latent_points(loaded, 4000, seed=1, prior="standard")
    assert torch.equal(standard, latents(1, 4000, 8))
    first = sample(loaded, 3, seed=2)
    expected = decode(loaded, loaded.density.points(2, 3))
    assert [im.tobytes() for im in first] == [im.tobytes() for im in expected]
    assert sample(loaded, 1, seed=2)[0].tobytes() == first[0].tobytes()  # row i depends on (seed, i)
    with pytest.raises(UserError, match="prior must be fitted or standard"):
        sample(loaded, 1, prior="uniform")  # type: ignore[arg-type]


def test_a_checkpoint_without_the_density_samples_from_the_standard_prior(
    trained: Path, tmp_path: Path
) -> None:
    old = without_density(trained, tmp_path / "old.safetensors")
    loaded = load_vae(old)
    assert loaded.density is None
    assert torch.equal(latent_points(loaded, 5, seed=3), latents(3, 5, 8))
    assert sample(old, 1, seed=3)[0].tobytes() == sample(trained, 1, seed=3, prior="standard")[0].tobytes()
    result = run_job(SampleJob(old, 2, seed=3)).result
    assert result is not None
    assert result.settings["prior"] == "standard"  # what was used, not what was asked for


def test_the_cli_samples_from_the_prior_asked_for(trained: Path, tmp_path: Path) -> None:
    for prior in ("fitted", "standard"):
        out = tmp_path / prior
        assert main(["--quiet", "sample-vae", str(trained), "-n", "2", "--seed", "7", "--prior", prior,
                     "--out", str(out)]) == 0  # fmt: skip
        assert read_metadata(out / "grid.png")["prior"] == prior
        expected = sample(trained, 1, seed=7, prior=prior)[0].convert("RGB")
        assert np.array_equal(np.asarray(load_image(out / "sample-000.png")), np.asarray(expected))
    with pytest.raises(SystemExit) as usage:
        main(["sample-vae", str(trained), "--prior", "uniform", "--out", str(tmp_path / "x")])
    assert usage.value.code == 2


def test_the_mixture_finds_clusters_and_survives_alike_codes() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
    label = torch.randint(3, (3000,), generator=generator)
    codes = centres[label] + 0.5 * torch.randn(3000, 2, generator=generator)
    fitted, record = density.fit(codes, components=3)
    assert record["components"] == 3
    found = fitted.means[torch.cdist(centres, fitted.means).argmin(1)]
    assert torch.allclose(found, centres, atol=0.1)
    assert torch.allclose(fitted.weights.sort().values, torch.full((3,), 1 / 3), atol=0.03)
    cold = fitted.points(0, 300, temperature=0.01)
    assert torch.cdist(cold, centres).min(1).values.max() < 0.1  # temperature shrinks the spread
    alike, _ = density.fit(torch.ones(100, 2))
    assert torch.isfinite(alike.points(0, 5)).all()
    assert density.LatentDensity.of(fitted.tensors(), 2) is not None
    assert density.LatentDensity.of(fitted.tensors(), 3) is None  # another model's latent size
    assert density.LatentDensity.of({}, 2) is None
