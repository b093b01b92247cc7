import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoints import CheckpointInfo, ModelKind, load_checkpoint, read_info, save_checkpoint
from core.classifier import backbones, inference
from core.classifier.backbones import BackboneError, load_backbone
from core.classifier.evaluation import evaluation_of
from core.classifier.gradcam import grad_cam, overlay
from core.classifier.inference import (
    Classification,
    LoadedClassifier,
    classify,
    export_onnx,
    load_classifier,
    predict,
    to_input,
)
from core.classifier.jobs import ClassifyJob, EvaluateJob, MistakesJob
from core.classifier.networks import ClassifierNet
from core.classifier.novelty import WARNING, fit, shrunk_covariance
from core.classifier.settings import EFFICIENTNET_LITE0, ClassifierConfig, scratch_size
from core.classifier.training import (
    ClassifierTrainingJob,
    augment,
    class_weights,
    one_cycle,
    open_classes,
    stratified_split,
)
from core.data import ImageSet
from core.errors import CheckpointError, UserError
from core.images import load_image
from core.jobs import CancelToken, Event, ImageResult, JobContext, Message, Progress, run_job
from tests.conftest import TEST_DATA, builtin_picture, untrained_fast_style

SMALL: dict[str, Any] = {"width": 8, "batch_size": 16}
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 230)}


def square_picture(
    colour: tuple[int, int, int], seed: int, size: int = 32, left_only: bool = False
) -> Image.Image:
    """Grey noise with one coloured square somewhere (in the left half with `left_only`)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(90, 160, (size, size, 3), dtype=np.uint8)
    side = size // 4
    x = int(rng.integers(0, (size // 2 if left_only else size) - side))
    y = int(rng.integers(0, size - side))
    pixels[y : y + side, x : x + side] = colour
    return Image.fromarray(pixels, "RGB")


def colour_folder(root: Path, per_class: int = 10, **kwargs: Any) -> Path:
    for c, (name, colour) in enumerate(COLOURS.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            square_picture(colour, 100 * c + i, **kwargs).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def colours(tmp_path: Path) -> ImageSet:
    return ImageSet.from_folder(colour_folder(tmp_path / "colours"), 32)[0]


def train(data: ImageSet, out: Path, epochs: int, **kwargs: Any) -> Path:
    path = ClassifierTrainingJob(data, out, epochs=epochs, **{**SMALL, **kwargs}).run(JobContext())
    assert path is not None
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier of the three colours, trained once for the tests that use one."""
    root = tmp_path_factory.mktemp("classifier")
    data = ImageSet.from_folder(colour_folder(root / "colours"), 32)[0]
    return train(data, root / "model", 12, data_spec=str(root / "colours"))


def test_a_short_run_separates_clearly_different_classes(model: Path) -> None:
    info = read_info(model, ModelKind.CLASSIFIER)
    assert info.config["class_names"] == ["blue", "green", "red"]
    assert info.training["split"] == {"train": 27, "validation": 3}
    assert info.training["evaluation"]["accuracy"] == 1.0
    assert len(info.training["history"]) == info.training["epoch"]
    classifier = load_classifier(model)
    for c, (name, colour) in enumerate(COLOURS.items()):
        for seed in range(3):
            top = predict(classifier, square_picture(colour, 10_000 + 10 * c + seed), top=2)
            assert top[0].label == name
            assert top[0].probability > top[1].probability


def test_split_is_stratified_and_repeatable() -> None:
    labels = torch.tensor([0] * 50 + [1] * 20 + [2] * 5 + [3] * 1)
    train_idx, val_idx = stratified_split(labels, 0.2, seed=3)
    assert torch.bincount(labels[val_idx], minlength=4).tolist() == [10, 4, 1, 0]
    assert sorted(torch.cat([train_idx, val_idx]).tolist()) == list(range(len(labels)))
    again = stratified_split(labels, 0.2, seed=3)
    assert torch.equal(again[1], val_idx)
    assert not torch.equal(stratified_split(labels, 0.2, seed=4)[1], val_idx)
    with pytest.raises(UserError, match="between 0 and 1"):
        stratified_split(labels, 1.0, seed=0)


def test_schedule_weights_and_augmentation() -> None:
    assert one_cycle(1, 100, 1.0) == pytest.approx(0.04 + 0.96 / 25)
    assert one_cycle(25, 100, 1.0) == pytest.approx(1.0)
    assert one_cycle(100, 100, 1.0) == pytest.approx(0.0, abs=1e-12)
    weights = class_weights(torch.tensor([0, 0, 0, 1]), 2)
    assert weights.tolist() == pytest.approx([4 / 6, 2.0])  # the rare class counts three times as much
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    shifted = augment(x, torch.Generator().manual_seed(0), 0.125, 1.0)
    assert shifted.shape == x.shape
    assert torch.equal(shifted, augment(x, torch.Generator().manual_seed(0), 0.125, 1.0))
    # A pure shift moves whole pixels (no blur): every output value is one of the input's.
    for out, src in zip(shifted, x, strict=True):
        assert (out.flatten()[:, None] - src.flatten()[None]).abs().min(dim=1).values.max() < 1e-4


def test_resume_is_bit_identical_and_cancel_is_resumable(colours: ImageSet, tmp_path: Path) -> None:
    whole = load_checkpoint(train(colours, tmp_path / "whole", 3), ModelKind.CLASSIFIER)[0]
    token = CancelToken()

    def cancel_in_epoch_two(event: Event) -> None:
        if isinstance(event, Progress) and event.step == 3:  # 2 steps per epoch
            token.cancel()

    job = ClassifierTrainingJob(colours, tmp_path / "parts", epochs=3, **SMALL)
    stopped_at = job.run(JobContext(cancel_in_epoch_two, token, min_progress_interval_s=0))  # every step
    stopped = read_info(stopped_at).training
    assert (stopped["epoch"], stopped["batch"], stopped["step"]) == (1, 1, 3)  # mid-epoch
    resumed = load_checkpoint(train(colours, tmp_path / "parts", 3, resume=stopped_at), ModelKind.CLASSIFIER)[
        0
    ]
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    with pytest.raises(UserError, match="ask for more"):
        train(colours, tmp_path / "parts", 3, resume=stopped_at)


def test_imbalance_and_few_images_are_reported(tmp_path: Path) -> None:
    folder = colour_folder(tmp_path / "few", per_class=12)
    for extra in list((folder / "red").iterdir())[3:]:
        extra.unlink()
    messages: list[str] = []
    data = open_classes(folder, "scratch", report=messages.append)
    job = ClassifierTrainingJob(data, tmp_path / "out", epochs=1, **SMALL)
    path = run_job(job, lambda e: messages.append(e.text) if isinstance(e, Message) else None).result
    assert any("Few pictures in red (3)" in m for m in messages)
    assert path is not None
    assert read_info(path).training["few_images"] == {"red": 3}


def test_a_folder_trains_at_its_pictures_own_resolution_and_colour(tmp_path: Path) -> None:
    """Small grey pictures stay small and grey (not upscaled to 64 px RGB: 5x the compute for nothing);
    photos are capped at 64 px; the size is a multiple of what the network's stages halve."""
    grey = tmp_path / "grey"
    for c, name in enumerate(("shirts", "shoes")):
        (grey / name).mkdir(parents=True)
        for i in range(6):
            pixels = np.full((28, 28), 40 + 150 * c, dtype=np.uint8)
            Image.fromarray(pixels, "L").save(grey / name / f"{i}.png")
    data = open_classes(grey, "scratch")
    assert (data.size, data.channels) == (28, 1)
    assert data.images[data.labels == 1].float().mean() > 150  # the pictures themselves, not a blank

    photos = open_classes(colour_folder(tmp_path / "photos", per_class=3, size=300), "scratch")
    assert (photos.size, photos.channels) == (64, 3)
    odd = colour_folder(tmp_path / "odd", per_class=3, size=30)
    assert open_classes(odd, "scratch").size == 32
    # A mixed folder is colour and takes the median side.
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8), "L").save(odd / "red" / "grey.png")
    assert open_classes(odd, "scratch").channels == 3
    assert [scratch_size(side) for side in (8, 20, 30, 50, 1000)] == [16, 20, 32, 48, 64]


def test_a_run_resumes_at_its_checkpoints_size_and_channels(tmp_path: Path) -> None:
    """A run begun when folders were read at 64 px in colour resumes so, not at the pictures' own size."""
    folder = tmp_path / "grey"
    for c, name in enumerate(("dark", "light")):
        (folder / name).mkdir(parents=True)
        for i in range(6):
            pixels = np.full((28, 28), 40 + 150 * c + i, dtype=np.uint8)
            Image.fromarray(pixels, "L").save(folder / name / f"{i}.png")
    first = train(ImageSet.from_folder(folder, 64)[0], tmp_path / "out", epochs=1)
    data = open_classes(folder, "scratch", resume=first)
    assert (data.size, data.channels) == (64, 3)
    path = train(data, tmp_path / "out", epochs=2, resume=first)
    assert read_info(path).training["epoch"] == 2
    with pytest.raises(UserError, match="not the data this classifier was trained on"):
        train(open_classes(folder, "scratch"), tmp_path / "out", epochs=3, resume=first)


def test_bad_data_gives_clear_errors(tmp_path: Path) -> None:
    one = colour_folder(tmp_path / "one")
    for name in ("green", "blue"):
        for file in (one / name).iterdir():
            file.unlink()
        (one / name).rmdir()
    with pytest.raises(UserError, match="one subfolder per class, at least two"):
        open_classes(one, "scratch")

    empty = colour_folder(tmp_path / "empty", per_class=3)
    (empty / "purple").mkdir()
    (empty / "purple" / "notes.png").write_text("not a picture")
    with pytest.raises(UserError, match="purple in empty have no readable pictures"):
        open_classes(empty, "scratch")

    junk = colour_folder(tmp_path / "junk", per_class=3)
    (junk / "red" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    reports: list[str] = []
    data = open_classes(junk, "scratch", report=reports.append)
    assert len(data) == 9
    assert reports == ["Skipped 1 unreadable file(s): broken.jpg"]

    loose = colour_folder(tmp_path / "loose", per_class=3)
    square_picture((0, 0, 0), 0).save(loose / "stray.png")
    with pytest.raises(UserError, match=r"outside the class subfolders \(stray.png\)"):
        open_classes(loose, "scratch")
    with pytest.raises(UserError, match="is not a folder"):
        open_classes(tmp_path / "missing", "scratch")

    unlabelled = ImageSet(torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(UserError, match="has no classes"):
        ClassifierTrainingJob(unlabelled, tmp_path / "x", epochs=1).run(JobContext())
    with pytest.raises(UserError, match="Unknown route"):
        open_classes(junk, "magic")


def test_other_checkpoints_are_refused(tmp_path: Path) -> None:
    style = untrained_fast_style(tmp_path / "style.safetensors")
    with pytest.raises(CheckpointError, match="not a classifier"):
        load_classifier(style)


def test_grad_cam_highlights_the_informative_region(tmp_path: Path) -> None:
    folder = colour_folder(tmp_path / "left", per_class=24, left_only=True)
    data = ImageSet.from_folder(folder, 32)[0]
    classifier = load_classifier(train(data, tmp_path / "cam", 15, width=16))
    inside = []
    for c, (name, colour) in enumerate(COLOURS.items()):
        picture = square_picture(colour, 5000 + c, left_only=True)
        cam, chosen = grad_cam(classifier, picture)
        assert classifier.config.class_names[chosen] == name
        assert cam.shape == (32, 32)
        assert float(cam.min()) >= 0.0
        assert float(cam.max()) == pytest.approx(1.0)
        square = torch.from_numpy((np.asarray(picture) == colour).all(axis=-1))
        near = torch.nn.functional.max_pool2d(square[None, None].float(), 9, 1, 4)[0, 0] > 0
        inside.append(float(cam[near].sum() / cam.sum()))
        assert float(cam[:, :16].sum()) > 2 * float(cam[:, 16:].sum())  # the noisy right half says nothing
    assert (
        np.mean(inside) > 0.5
    )  # most of the evidence lies on and around the square (a fifth of the picture)
    shown = overlay(Image.new("RGB", (64, 40), "white"), cam)
    assert shown.size == (64, 40)


def test_classify_evaluate_and_mistakes_jobs(model: Path, tmp_path: Path) -> None:
    picture = square_picture(COLOURS["green"], 77).resize((80, 48))
    result = run_job(ClassifyJob(model, picture, top=3)).result
    assert isinstance(result, ImageResult)
    assert result.image.size == picture.size
    assert result.settings["top"][0][0] == "green"
    assert sum(p for _, p in result.settings["top"]) == pytest.approx(1.0, abs=1e-5)

    folder = colour_folder(tmp_path / "check", per_class=2)
    (folder / "red" / "0.png").unlink()
    (folder / "green").rename(folder / "z-green")
    with pytest.raises(UserError, match="does not know the class"):
        run_job(EvaluateJob(model, folder))
    (folder / "z-green").rename(folder / "green")
    evaluation = run_job(EvaluateJob(model, folder)).result
    assert evaluation is not None
    assert evaluation.total == 5
    assert evaluation.accuracy == 1.0
    assert "accuracy 1.0000 on 5 images" in evaluation.table()
    with pytest.raises(UserError, match="No blue image was taken for red"):
        run_job(MistakesJob(model, 0, 2))


def noise_picture(seed: int, size: int = 32) -> Image.Image:
    """Uniform colour noise: like none of the colour squares' pictures (grey noise with one square)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def without_calibration(model: Path, out: Path) -> Path:
    """A copy of the checkpoint as training wrote it before the novelty check: no "ood" anywhere."""
    tensors, info = load_checkpoint(model, ModelKind.CLASSIFIER)
    training = {k: v for k, v in info.training.items() if k != "ood"}
    kept = {k: v for k, v in tensors.items() if not k.startswith("ood.")}
    assert len(kept) < len(tensors)
    save_checkpoint(out, kept, kind=info.kind, arch=info.arch, config=info.config, training=training)
    return out


def test_pictures_unlike_the_training_pictures_are_flagged(model: Path) -> None:
    record = read_info(model).training["ood"]
    assert record["method"] == "mahalanobis-tied-ledoit-wolf"
    assert record["percentile"] == 95
    # 3 validation pictures are too few for a percentile: the training pictures' held-out scores join them.
    assert (record["fit_images"], record["validation_images"], record["held_out_scores"]) == (27, 3, 30)
    classifier = load_classifier(model)
    assert classifier.novelty is not None
    assert classifier.novelty.threshold == pytest.approx(record["threshold"])
    # New pictures like the training ones (none was seen in training). Measured: 3 of 30 flagged (the
    # threshold aims at 5%), median score 2.8 against a threshold of 6.2, at most 9.9.
    familiar = [
        classify(classifier, square_picture(colour, 20_000 + 10 * c + s))
        for c, colour in enumerate(COLOURS.values())
        for s in range(10)
    ]
    assert [f.top[0].label for f in familiar] == [name for name in COLOURS for _ in range(10)]
    scores = [f.novelty.score for f in familiar if f.novelty is not None]
    assert len(scores) == 30
    assert sum(score > classifier.novelty.threshold for score in scores) <= 6
    assert float(np.median(scores)) < 0.7 * classifier.novelty.threshold
    # Unlike them: colour noise, the app's photo, the paintings. Measured: every one flagged, at 12.7 (the
    # Mondrian) to 128 (the Scream); the noise at 23-27.
    strangers = [noise_picture(s) for s in range(10)]
    strangers += [builtin_picture(), *(load_image(p) for p in sorted(TEST_DATA.glob("*.jpg")))]
    for picture in strangers:
        novelty = classify(classifier, picture).novelty
        assert novelty is not None
        assert novelty.unlike, novelty
        assert novelty.score > 3 * float(np.median(scores))
    # The job says so too, with or without the Grad-CAM overlay.
    result = run_job(ClassifyJob(model, builtin_picture())).result
    assert isinstance(result, ImageResult)
    assert result.settings["novelty"]["unlike"] is True
    plain = run_job(ClassifyJob(model, square_picture(COLOURS["red"], 4321), grad_cam=False)).result
    assert isinstance(plain, Classification)
    assert plain.top[0].label == "red"
    assert plain.novelty is not None
    assert not plain.novelty.unlike


def test_a_checkpoint_without_calibration_still_classifies(model: Path, tmp_path: Path) -> None:
    old = without_calibration(model, tmp_path / "old.safetensors")
    classifier = load_classifier(old)
    assert classifier.novelty is None
    picture = builtin_picture()
    answer = classify(classifier, picture)
    assert answer.novelty is None  # no verdict, no warning
    assert answer.top == classify(model, picture).top  # the same labels as the calibrated model's
    result = run_job(ClassifyJob(old, picture)).result
    assert isinstance(result, ImageResult)
    assert result.settings["novelty"] is None
    assert run_job(ClassifyJob(old, picture, grad_cam=False)).result == answer


def test_classify_command_warns_of_unfamiliar_pictures(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.cli import main

    noise, red = tmp_path / "noise.png", tmp_path / "red.png"
    noise_picture(7).save(noise)
    square_picture(COLOURS["red"], 999).save(red)
    capsys.readouterr()
    assert main(["classify", str(model), str(noise), str(red)]) == 0
    noisy, familiar = capsys.readouterr().out.splitlines()
    assert WARNING in noisy
    assert WARNING not in familiar
    assert familiar.split("\t")[1].startswith("red ")
    assert main(["classify", str(model), str(noise), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)["novelty"]
    assert verdict["unlike"] is True
    assert verdict["score"] > verdict["threshold"]
    old = without_calibration(model, tmp_path / "old.safetensors")
    assert main(["classify", str(old), str(noise)]) == 0
    assert WARNING not in capsys.readouterr().out
    assert main(["classify", str(old), str(noise), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["novelty"] is None


def test_novelty_scores_are_mahalanobis_distances_with_a_95th_percentile_threshold() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=generator) * 4
    mixing = torch.randn(16, 16, generator=generator) / 4 + torch.eye(16)  # correlated features

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % 3
        return centres[labels] + torch.randn(n, 16, generator=generator) @ mixing, labels

    train, labels = draw(3000)
    validation, _ = draw(2000)
    check, record = fit(train, labels, validation)
    assert record["validation_images"] == record["held_out_scores"] == 2000  # enough on their own
    # The score is sqrt of min_c (f - mu_c)^T Sigma^-1 (f - mu_c), Sigma the pooled within-class covariance
    # (shrunk, barely with 3000 pictures of 16 features).
    probe, _ = draw(5)
    means = torch.stack([train[labels == c].mean(0) for c in range(3)]).double()
    centred = train.double() - means[labels]
    sample = centred.T @ centred / len(train)
    covariance, shrinkage = shrunk_covariance(centred)
    assert shrinkage == pytest.approx(record["shrinkage"])
    assert shrinkage < 0.05
    torch.testing.assert_close(covariance, sample, rtol=0.1, atol=0.1 * float(sample.diagonal().mean()))
    diff = probe.double()[:, None] - means[None]
    squared = torch.einsum("nkd,de,nke->nk", diff, torch.linalg.inv(covariance), diff)
    torch.testing.assert_close(check.scores(probe), squared.min(1).values.sqrt(), rtol=1e-4, atol=0)
    # Calibrated: about 5% of new pictures from the same distribution are flagged; distant ones all are.
    fresh, _ = draw(4000)
    assert float((check.scores(fresh) > check.threshold).double().mean()) == pytest.approx(0.05, abs=0.015)
    assert bool((check.scores(centres + 30) > check.threshold).all())
    # Fewer pictures than features: the shrunk covariance is still invertible (Ledoit-Wolf).
    few, few_labels = draw(12)
    covariance, shrinkage = shrunk_covariance(few - few.mean(0))
    assert 0 < shrinkage <= 1
    assert bool(torch.linalg.eigvalsh(covariance).min() > 0)
    small, record = fit(few, few_labels, draw(3)[0])
    assert record["held_out_scores"] == 3 + 12  # the validation pictures' and the cross-fitted training ones'
    assert bool(torch.isfinite(small.scores(fresh)).all())
    # Cross-fitting: a threshold from 300 validation pictures plus held-out training ones flags about as
    # many new pictures as one from 2000 (the 5% aimed at; 200 training pictures of 16 features).
    some, some_labels = draw(200)
    check, record = fit(some, some_labels, draw(300)[0])
    assert record["held_out_scores"] == 500
    assert float((check.scores(fresh) > check.threshold).double().mean()) == pytest.approx(0.05, abs=0.03)


def test_evaluation_figures_and_mistakes() -> None:
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 1])
    evaluation = evaluation_of(logits, labels, torch.tensor([10, 11, 12, 13]), ("cat", "dog"))
    assert evaluation.confusion == [[1, 0], [2, 1]]
    assert evaluation.accuracy == 0.5
    assert evaluation.precision == [1 / 3, 1.0]
    assert evaluation.recall == [1.0, 1 / 3]
    assert evaluation.mistakes_of(1, 0) == [11, 13]
    assert json.loads(json.dumps(evaluation.to_json()))["confusion"] == [[1, 0], [2, 1]]


def test_onnx_export_agrees_with_torch(model: Path, tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    out = tmp_path / "colours.onnx"
    export_onnx(model, out)
    assert [p.name for p in tmp_path.iterdir()] == ["colours.onnx"]  # no temporary file left behind
    classifier = load_classifier(model)
    metadata = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert metadata["class_names"].split("\n") == list(classifier.config.class_names)
    # The file itself, on a batch of five pictures (the export traced two and probed three).
    colours = ["blue", "red", "green", "blue", "red"]
    pictures = [square_picture(COLOURS[name], 100 + seed) for seed, name in enumerate(colours)]
    batch = torch.cat([to_input(picture, classifier.config) for picture in pictures])
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(None, {"image": batch.numpy()})
    assert probabilities.shape == (5, 3)
    names = classifier.config.class_names
    for picture, row in zip(pictures, probabilities, strict=True):
        expected = {p.label: p.probability for p in predict(classifier, picture, top=3)}
        assert {names[i]: float(p) for i, p in enumerate(row)} == pytest.approx(expected, abs=1e-5)
    assert [names[row.argmax()] for row in probabilities] == colours


class _BatchDependent(torch.nn.Module):
    """Probabilities whose Python branch on the batch size is frozen into the trace: the export disagrees
    with the model on any batch but the traced two."""

    def __init__(self, net: ClassifierNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = self.net(x).softmax(dim=1)
        return probabilities if x.shape[0] == 2 else probabilities.flip(1)  # type: ignore[no-any-return]


def test_onnx_export_that_disagrees_is_refused_and_leaves_nothing(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "_Probabilities", _BatchDependent)
    with pytest.raises(UserError, match=r"The ONNX export differs from the model by [\d.e+-]+: not saved"):
        export_onnx(model, tmp_path / "wrong.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_pretrained_network_on_small_grey_images_exports(tmp_path: Path) -> None:
    import onnxruntime

    config = ClassifierConfig(("a", "b"), 28, 1, backbone=EFFICIENTNET_LITE0)
    net = ClassifierNet(config).eval()  # 28 px grey in, upsampled to RGB 224 px inside
    info = CheckpointInfo(ModelKind.CLASSIFIER, "test")
    out = tmp_path / "grey.onnx"
    export_onnx(LoadedClassifier(net, config, info), out)
    # The file itself on three grey pictures, against the network's own probabilities.
    pictures = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(None, {"image": pictures.numpy()})
    with torch.inference_mode():
        expected = torch.softmax(net(pictures), dim=1)
    torch.testing.assert_close(torch.from_numpy(probabilities), expected, atol=1e-5, rtol=0)


def test_efficientnet_lite0_loads_imagenet_weights_offline(app_home: Path) -> None:
    loaded = load_backbone(EFFICIENTNET_LITE0)
    assert "offline package" in loaded.source
    raw = torch.load(backbones._lite0_package_file(), weights_only=True)  # type: ignore[arg-type]
    config = ClassifierConfig(("a", "b"), 224, backbone=EFFICIENTNET_LITE0)
    net = ClassifierNet(config).eval()
    net.trunk.load_state_dict(loaded.trunk.state_dict())
    # The package's own ImageNet classifier on our features must name what the picture shows. The app's
    # sample is a photo-like mountain lake under snowy peaks: the top label is ImageNet class 970, "alp"
    # (p = 0.36; then lakeside 0.12, valley 0.11): random weights would hit it 1 time in 1000.
    picture = builtin_picture()
    with torch.inference_mode():
        features = net.features(to_input(picture, config)).mean(dim=(2, 3))
    logits = features @ raw["_fc.weight"].T + raw["_fc.bias"]
    assert logits.argmax().item() == 970
    assert "cache" in load_backbone(EFFICIENTNET_LITE0).source  # converted once into the app's cache


def test_pretrained_route_trains_a_head_then_fine_tunes(tmp_path: Path) -> None:
    folder = colour_folder(tmp_path / "photos", per_class=4, size=64)
    data = open_classes(folder, "pretrained")
    assert data.size == 224
    events: list[Event] = []
    job = ClassifierTrainingJob(data, tmp_path / "out", route="pretrained", epochs=30, fine_tune_epochs=1)
    path = run_job(job, events.append).result
    assert path is not None
    info = read_info(path)
    assert info.config["backbone"] == EFFICIENTNET_LITE0
    assert info.training["epoch"] == 31
    assert any(isinstance(e, Message) and "offline package" in e.text for e in events)
    assert any(isinstance(e, Progress) and "features" in e.stage for e in events)
    # It learned: pictures it never saw, chance 3 of 9. Measured: 8 of 9 (27 of 30 on more); a 3-epoch
    # head (30 epochs is the default, and cheap on the features computed once) got 4 of 9.
    classifier = load_classifier(path)
    right = sum(
        predict(classifier, square_picture(colour, 1000 + 10 * c + s, size=64), top=1)[0].label == name
        for c, (name, colour) in enumerate(COLOURS.items())
        for s in range(3)
    )
    assert right >= 6


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def weights_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local web server for a folder (never the internet)."""
    folder = tmp_path / "site"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", folder
    server.shutdown()
    server.server_close()
    thread.join()


def test_torchvision_backbones_download_once_and_explain_offline(
    weights_site: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    import torchvision

    with pytest.raises(BackboneError, match="downloading was not allowed"):
        load_backbone("resnet18", allow_download=False)
    url, folder = weights_site
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    staging = folder / "resnet18.pth"
    torch.save(state, staging)
    name = f"resnet18-{hashlib.sha256(staging.read_bytes()).hexdigest()[:8]}.pth"
    staging.rename(folder / name)
    monkeypatch.setattr(backbones, "_torchvision_url", lambda _: f"{url}/{name}")
    loaded = load_backbone("resnet18")
    assert loaded.source == "resnet18 downloaded from torchvision"
    assert torch.equal(loaded.trunk.state_dict()["4.0.conv1.weight"], state["layer1.0.conv1.weight"])
    (folder / name).unlink()  # the cache answers from now on
    assert "cache" in load_backbone("resnet18").source
    monkeypatch.setattr(backbones, "_torchvision_url", lambda _: "http://127.0.0.1:9/resnet50-0123abcd.pth")
    with pytest.raises(BackboneError, match=r"No pretrained resnet50 weights.*works offline"):
        load_backbone("resnet50")
