"""Issue 12, "never overwrite or lose an artist's work": outputs never replace inputs (rule 1), training
never replaces a trained model (rule 2), folders through links (rule 6), damaged headers (rule 7), files
that are not ours (rule 8), permissions (rule 9), and the bad inputs that already worked. Each test runs
the real CLI (`core.cli.main`) or the core function the window uses. Signals: test_trust_signals.py;
disks and memory: test_trust_disk.py."""

import json
import os
import pickle
import struct
from pathlib import Path

import pytest
from PIL import Image

from core.checkpoints import ModelKind, read_info, save_checkpoint
from core.cli import main
from core.paths import new_run_folder
from tests.conftest import gradient_image, untrained_fast_style


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, list[str]]:
    """(exit status, stdout, stderr lines) of one CLI run."""
    code = main(["-q", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def refused(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """Run a command that must be refused with exit status 1 and exactly one line of ours."""
    code, _, err = cli(capsys, *args)
    assert code == 1, err
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    assert "Unexpected" not in err[0]
    return err[0]


def picture_folder(folder: Path, count: int = 3, size: int = 24) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        gradient_image(size + index, size, tint=(1, 0.5 + 0.1 * index, 1)).save(folder / f"p{index}.png")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- rule 1: no output replaces an input ---------------------------------------------------------------


def test_colour_transfer_onto_its_own_picture_is_refused(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path
) -> None:
    before = photo_file.read_bytes()
    line = refused(capsys, "colour-transfer", photo_file, palette_file, "-o", photo_file)
    assert "photo.png is one of this job's inputs" in line
    assert "choose another output" in line
    assert refused(capsys, "colour-transfer", photo_file, palette_file, "-o", palette_file)
    assert photo_file.read_bytes() == before


def test_the_same_file_by_another_name_is_still_refused(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path, tmp_path: Path
) -> None:
    """Identity, not spelling: a symbolic link, a hard link and a path through `..` are the same file."""
    before = photo_file.read_bytes()
    (tmp_path / "link.png").symlink_to(photo_file)
    os.link(photo_file, tmp_path / "hard.png")
    (tmp_path / "sub").mkdir()
    for alias in (tmp_path / "link.png", tmp_path / "hard.png", tmp_path / "sub" / ".." / "photo.png"):
        assert "inputs" in refused(capsys, "colour-transfer", photo_file, palette_file, "-o", alias)
    assert photo_file.read_bytes() == before


def test_stylize_a_folder_into_itself_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = untrained_fast_style(tmp_path / "s.safetensors")
    photos = picture_folder(tmp_path / "photos")
    before = snapshot(photos)
    line = refused(capsys, "stylize", photos, "--method", "fast", "--model", model, "-o", photos)
    assert "over its originals" in line
    assert "photos stylized" in line
    # Through a link to the folder, too; and a subfolder whose results would land on pictures being read.
    (tmp_path / "alias").symlink_to(photos)
    assert refused(capsys, "stylize", photos, "--method", "fast", "--model", model, "-o", tmp_path / "alias")
    gradient_image().save(photos / "sub.png")
    picture_folder(photos / "out", count=1)  # out/p0.png is read, and p0.png's result would replace it
    before = snapshot(photos)
    line = refused(capsys, "stylize", photos, "--method", "fast", "--model", model, "-o", photos / "out")
    assert "p0.png is one of the pictures being read" in line
    assert snapshot(photos) == before


def test_stylize_refuses_its_style_or_model_as_output(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path, tmp_path: Path
) -> None:
    model = untrained_fast_style(tmp_path / "s.safetensors")
    assert refused(capsys, "stylize", photo_file, "--style", palette_file, "-o", palette_file)
    line = refused(capsys, "stylize", photo_file, "--method", "fast", "--model", model, "-o", model)
    assert "cannot hold a picture" in line
    read_info(model, ModelKind.FAST_STYLE)  # still the network


def test_export_onnx_over_the_network_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = untrained_fast_style(tmp_path / "s.safetensors")
    before = model.read_bytes()
    line = refused(capsys, "export-onnx", model, "-o", model)
    assert "s.safetensors cannot hold an ONNX model" in line
    assert ".onnx" in line
    assert "cannot hold an ONNX model" in refused(capsys, "export-onnx", model, "-o", tmp_path / "s.png")
    # export-classifier runs the window's export job: the same rule, before the model is even read.
    assert "cannot hold an ONNX model" in refused(capsys, "export-classifier", model, "-o", model)
    assert model.read_bytes() == before


def test_vae_and_gan_pictures_never_replace_their_inputs(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path, tmp_path: Path
) -> None:
    """Refused before the checkpoint is read: these files need not even be models."""
    model = tmp_path / "vae.safetensors"
    model.write_bytes(b"whatever")
    before = photo_file.read_bytes()
    assert "inputs" in refused(capsys, "reconstruct", model, photo_file, "-o", photo_file)
    assert "inputs" in refused(capsys, "interpolate-vae", model, photo_file, palette_file, "-o", palette_file)
    assert "cannot hold" in refused(capsys, "interpolate-gan", model, "-o", model)
    assert "cannot hold" in refused(capsys, "interpolate-vae", model, photo_file, photo_file, "-o", model)
    assert photo_file.read_bytes() == before
    assert model.read_bytes() == b"whatever"


def test_an_output_type_follows_its_suffix(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path, tmp_path: Path
) -> None:
    line = refused(capsys, "colour-transfer", photo_file, palette_file, "-o", tmp_path / "out.tif")
    assert "out.tif cannot hold a picture" in line
    assert ".png" in line
    photos = picture_folder(tmp_path / "photos", count=1)
    model = untrained_fast_style(tmp_path / "s.safetensors")
    args = ("stylize", photos, "--method", "fast", "--model", model, "--suffix", ".tif", "-o", tmp_path / "o")
    assert "cannot hold a picture" in refused(capsys, *args)
    style = tmp_path / "style.png"
    gradient_image().save(style)
    line = refused(capsys, "train-style", style, "--photos", photos, "--out", tmp_path / "net.png")
    assert "net.png cannot hold a fast style network" in line
    assert ".safetensors" in line
    assert not (tmp_path / "o").exists()
    assert not (tmp_path / "net.png").exists()


# --- rule 2: training never replaces a trained model ----------------------------------------------------


def model_file(path: Path, kind: ModelKind) -> Path:
    import torch

    save_checkpoint(path, {"w": torch.ones(2)}, kind=kind, arch="any", training={"step": 7})
    return path


@pytest.mark.parametrize(
    ("command", "name", "kind"),
    [
        ("train-gan", "gan.safetensors", ModelKind.GAN),
        ("train-vae", "vae.safetensors", ModelKind.VAE),
        ("train-classifier", "classifier.safetensors", ModelKind.CLASSIFIER),
    ],
)
def test_training_into_a_trained_model_is_refused_with_the_resume_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, name: str, kind: ModelKind
) -> None:
    out = tmp_path / "run"
    trained = model_file(out / name, kind)
    before = trained.read_bytes()
    data = tmp_path / "data"
    for label in ("a", "b"):  # classes, for the classifier: the data's own checks come first
        picture_folder(data / label, count=6, size=16)
    line = refused(capsys, command, data, "--out", out)
    assert f"{trained} already exists" in line
    assert f"--resume {trained}" in line
    assert trained.read_bytes() == before


def test_train_style_into_a_trained_network_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trained = untrained_fast_style(tmp_path / "mine.safetensors")
    before = trained.read_bytes()
    style = tmp_path / "style.png"
    gradient_image().save(style)
    photos = picture_folder(tmp_path / "photos", count=1)
    line = refused(capsys, "train-style", style, "--photos", photos, "--out", trained)
    assert "already exists" in line
    assert "--resume" in line
    assert trained.read_bytes() == before


def test_the_window_names_every_training_run_afresh() -> None:
    """The window's side of rule 2: a new run gets a new name, even within the same second."""
    first = new_run_folder("shapes-32px")
    first.mkdir()
    second = new_run_folder("shapes-32px")
    assert second != first
    assert not second.exists()
    network = new_run_folder("mosaic", ".safetensors")
    network.write_bytes(b"trained")
    assert new_run_folder("mosaic", ".safetensors") != network


# --- rule 6: folders through symbolic links --------------------------------------------------------------


def test_folders_follow_links_detect_loops_and_name_what_was_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    photos = picture_folder(tmp_path / "photos", count=2)
    elsewhere = picture_folder(tmp_path / "elsewhere", count=1, size=30)
    (elsewhere / "p0.png").rename(elsewhere / "linked.png")
    (photos / "more").symlink_to(elsewhere)  # a linked folder is read
    (photos / "loop").symlink_to(photos)  # back to itself: read once
    (photos / "gone.png").symlink_to(tmp_path / "missing.png")  # points at nothing
    model = untrained_fast_style(tmp_path / "s.safetensors")
    code, _out, err = cli(
        capsys, "stylize", photos, "--method", "fast", "--model", model, "-o", tmp_path / "o"
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["linked.png", "p0.png", "p1.png"]
    assert any("gone.png" in line and "a link to nothing" in line for line in err), err
    assert any("loop" in line and "a loop" in line for line in err), err


# --- rule 7: damaged or hand-edited checkpoint headers ---------------------------------------------------


def hand_edit(path: Path, change: dict[str, object], remove: str = "") -> Path:
    """Rewrite the model info in a checkpoint's header, as someone with a text editor might."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    info = json.loads(header["__metadata__"]["neural_easel"])
    for key, value in change.items():
        section, _, field = key.partition(".")
        if field:
            info[section][field] = value
        else:
            info[section] = value
    info.pop(remove, None)
    header["__metadata__"]["neural_easel"] = json.dumps(info)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + size :])
    return path


@pytest.mark.parametrize(
    ("change", "remove"),
    [
        ({"training.step": -5}, ""),
        ({"training.step": "12"}, ""),
        ({"training": ["step", 3]}, ""),
        ({"config": "size=64"}, ""),
        ({"training.losses": [1, 2]}, ""),
        ({"arch": 3}, ""),
        ({}, "kind"),
        ({}, "arch"),
    ],
)
def test_a_hand_edited_header_is_damaged_and_the_list_marks_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, change: dict[str, object], remove: str
) -> None:
    models = tmp_path / "models"
    good = model_file(models / "good" / "gan.safetensors", ModelKind.GAN)
    edited = hand_edit(model_file(models / "edited" / "gan.safetensors", ModelKind.GAN), change, remove)
    line = refused(capsys, "sample-gan", edited, "--out", tmp_path / "samples")
    assert "damaged" in line
    assert "gan.safetensors" in line
    code, out, err = cli(capsys, "models", models)
    assert code == 0
    assert out.splitlines() == [f"gan\tany\t{read_info(good).created}\t{good}"]  # only the loadable one
    assert len(err) == 1
    assert err[0].startswith(f"skipped {edited}:")
    assert "damaged" in err[0]


# --- rule 8: files that are not ours ---------------------------------------------------------------------


class _RunsCode:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_as_vgg_weights_gets_one_line_of_ours(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "code-ran"
    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(pickle.dumps({"features.0.weight": _RunsCode(marker)}))
    args = ("stylize", photo_file, "--style", palette_file, "--size", "64", "--iterations", "1")
    line = refused(capsys, *args, "--vgg-weights", weights, "-o", tmp_path / "out.png")
    assert "vgg19.pth is not a readable PyTorch weights file, or not a safe one" in line
    assert "weights_only" not in line
    assert "WeightsUnpickler" not in line
    assert not marker.exists()
    assert not (tmp_path / "out.png").exists()


def test_a_pickle_with_code_as_a_checkpoint_is_refused_and_never_run(
    capsys: pytest.CaptureFixture[str], photo_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "code-ran"
    hostile = tmp_path / "model.safetensors"
    hostile.write_bytes(pickle.dumps(_RunsCode(marker)))
    line = refused(
        capsys, "stylize", photo_file, "--method", "fast", "--model", hostile, "-o", tmp_path / "o.png"
    )
    assert "model.safetensors is not a Neural Easel checkpoint" in line
    line = refused(capsys, "sample-gan", hostile, "--out", tmp_path / "samples")
    assert "not a Neural Easel checkpoint" in line
    assert not marker.exists()


def test_foreign_safetensors_as_vgg_weights_gets_one_line_of_ours(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "someone-elses.safetensors"
    save_file({"layer.weight": torch.ones(3, 3)}, str(weights))
    args = ("stylize", photo_file, "--style", palette_file, "--size", "64", "--iterations", "1")
    line = refused(capsys, *args, "--vgg-weights", weights, "-o", tmp_path / "out.png")
    assert "someone-elses.safetensors is not a VGG weights file saved by Neural Easel" in line
    (tmp_path / "damaged.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    line = refused(capsys, *args, "--vgg-weights", tmp_path / "damaged.safetensors", "-o", tmp_path / "o.png")
    assert "damaged.safetensors is damaged" in line


# --- rule 9: output files get the user's permissions ----------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_get_the_umask_permissions(
    capsys: pytest.CaptureFixture[str], photo_file: Path, palette_file: Path, tmp_path: Path, umask: int
) -> None:
    previous = os.umask(umask)
    try:
        code, _, err = cli(capsys, "colour-transfer", photo_file, palette_file, "-o", tmp_path / "out.png")
        network = untrained_fast_style(tmp_path / "net.safetensors")  # a checkpoint, the same writer
    finally:
        os.umask(previous)
    assert code == 0, err
    for written in (tmp_path / "out.png", network):
        assert written.stat().st_mode & 0o777 == 0o666 & ~umask


# --- what already worked and must stay so (rows of the list without a test elsewhere) ----------


def test_a_zero_byte_picture_gets_one_line(
    capsys: pytest.CaptureFixture[str], palette_file: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.png"
    empty.touch()
    line = refused(capsys, "colour-transfer", empty, palette_file, "-o", tmp_path / "out.png")
    assert "empty.png is not an image this app can read" in line


def test_an_animated_gif_uses_its_first_frame(
    capsys: pytest.CaptureFixture[str], palette_file: Path, tmp_path: Path
) -> None:
    frames = [Image.new("RGB", (32, 24), colour) for colour in ((200, 30, 30), (30, 200, 30))]
    gif = tmp_path / "moving.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=50, loop=0)
    code, _, err = cli(
        capsys, "colour-transfer", gif, palette_file, "--strength", "0", "-o", tmp_path / "o.png"
    )
    assert code == 0, err
    with Image.open(tmp_path / "o.png") as out:
        red, green, _ = out.convert("RGB").getpixel((5, 5))  # type: ignore[misc]
    assert red > 150
    assert green < 80


def test_non_ascii_paths_work(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "Ölgemälde 油画 ✓"
    folder.mkdir()
    picture, palette = folder / "Mädchen mit Perle.png", folder / "パレット.jpg"
    gradient_image().save(picture)
    gradient_image(tint=(1, 0.3, 0.3)).save(palette)
    out = folder / "ergebnis é.webp"
    code, _, err = cli(capsys, "colour-transfer", picture, palette, "-o", out)
    assert code == 0, err
    assert out.is_file()
