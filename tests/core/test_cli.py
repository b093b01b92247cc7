import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.images import list_images, load_image, read_metadata
from tests.conftest import TEST_DATA, gradient_image, untrained_fast_style


def test_colour_transfer_writes_the_result(
    photo_file: Path, palette_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "recoloured.png"
    code = main(
        ["colour-transfer", str(photo_file), str(palette_file), "-o", str(out), "--mode", "covariance"]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    result = load_image(out)
    assert result.size == load_image(photo_file).size
    assert not np.array_equal(np.asarray(result), np.asarray(load_image(photo_file)))
    assert read_metadata(out)["mode"] == "covariance"


def test_bad_input_exits_1_with_a_message_and_writes_nothing(
    photo_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "out.png"
    assert main(["colour-transfer", str(photo_file), str(junk), "-o", str(out)]) == 1
    assert "error: junk.jpg is not an image" in capsys.readouterr().err
    assert not out.exists()
    assert main(["colour-transfer", str(photo_file), str(photo_file), "-o", str(tmp_path / "o.gif")]) == 1
    assert "use .png, .jpg or .webp" in capsys.readouterr().err


def test_usage_errors_exit_2(photo_file: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["colour-transfer", str(photo_file), str(photo_file), "-o", "x.png", "--strength", "2"])
    assert exit_info.value.code == 2


def test_installed_script_and_progress_bar(photo_file: Path, palette_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jpg"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "colour-transfer",
            str(photo_file),
            str(palette_file),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Recolouring" in run.stderr
    assert "100%" in run.stderr
    assert out.exists()


def test_models_and_devices_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", str(tmp_path)]) == 0
    assert "No trained models" in capsys.readouterr().err
    assert main(["devices"]) == 0
    assert "auto -> " in capsys.readouterr().out


STYLE = TEST_DATA / "starry_night.jpg"


def test_stylize_one_picture_with_two_blended_styles(
    photo_file: Path, tmp_path: Path, vgg_file: Path
) -> None:
    out = tmp_path / "styled.jpg"
    mondrian = TEST_DATA / "mondrian.jpg"
    code = main(
        ["stylize", str(photo_file), "--style", str(STYLE), "--style", str(mondrian),
         "--style-weight", "0.7", "--size", "96", "--iterations", "8", "--scales", "1", "--keep-colors",
         "--vgg-weights", str(vgg_file), "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    metadata = read_metadata(out)
    assert metadata["styles"] == [
        {"name": "starry_night", "weight": 0.7},
        {"name": "mondrian", "weight": 1.0},
    ]
    assert metadata["keep_colours"] == "luminance"
    assert max(load_image(out).size) == 96


def test_stylize_a_folder_writes_one_output_per_picture(tmp_path: Path, vgg_file: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        gradient_image().save(folder / name)
    (folder / "junk.png").write_text("x")
    code = main(
        ["stylize", str(folder), "--style", str(STYLE), "--size", "64", "--iterations", "3", "--scales", "1",
         "--vgg-weights", str(vgg_file), "-o", str(tmp_path / "out")]
    )  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def test_stylize_bad_input(photo_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "o.png")
    assert (
        main(["stylize", str(photo_file), "--style", str(photo_file.with_name("none.jpg")), "-o", out]) == 1
    )
    assert "none.jpg does not exist" in capsys.readouterr().err
    assert main(["stylize", str(photo_file), "-o", out]) == 1
    assert "at least one --style" in capsys.readouterr().err
    assert main(["stylize", str(photo_file), "--method", "fast", "-o", out]) == 1
    assert "needs --model" in capsys.readouterr().err
    corrupt = tmp_path / "net.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    assert main(["stylize", str(photo_file), "--method", "fast", "--model", str(corrupt), "-o", out]) == 1
    assert "not a Neural Easel checkpoint" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["stylize", str(empty), "--style", str(STYLE), "-o", str(tmp_path / "x")]) == 1
    assert "holds no pictures" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_fast_stylize_and_onnx_export(
    photo_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = untrained_fast_style(tmp_path / "net.safetensors")
    out = tmp_path / "fast.png"
    assert main(["stylize", str(photo_file), "--method", "fast", "--model", str(model), "-o", str(out)]) == 0
    assert read_metadata(out)["method"] == "fast"
    assert load_image(out).size == load_image(photo_file).size
    onnx_file = tmp_path / "net.onnx"
    assert main(["export-onnx", str(model), "-o", str(onnx_file)]) == 0
    assert "onnxruntime agrees with PyTorch" in capsys.readouterr().out
    assert onnx_file.stat().st_size > 1_000_000


def test_gan_train_sample_and_interpolate(shapes_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "gan"
    code = main(
        ["train-gan", str(shapes_folder), "--size", "32", "--steps", "6", "--width", "8", "--batch-size", "8",
         "--sample-every", "3", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    checkpoint = out / "gan.safetensors"
    assert main(["sample-gan", str(checkpoint), "-n", "4", "--seed", "3", "--out", str(tmp_path / "s")]) == 0
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["grid.png", "sample-000.png", "sample-001.png", "sample-002.png", "sample-003.png"]
    assert load_image(tmp_path / "s" / "sample-000.png", min_side=1).size == (32, 32)
    gif = tmp_path / "morph.gif"
    assert main(["interpolate-gan", str(checkpoint), "--steps", "5", "-o", str(gif)]) == 0
    with Image.open(gif) as frames:
        assert frames.n_frames == 5
    assert main(["sample-gan", str(checkpoint), "--class", "circles", "--out", str(tmp_path / "x")]) == 1


def test_vae_train_sample_reconstruct_interpolate_and_evaluate(
    shapes_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vae"
    code = main(
        ["train-vae", str(shapes_folder), "--size", "32", "--latent", "4", "--steps", "4", "--width", "4",
         "--batch-size", "4", "--sample-every", "2", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    checkpoint = out / "vae.safetensors"
    assert main(["sample-vae", str(checkpoint), "-n", "2", "--out", str(tmp_path / "s")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "grid.png",
        "sample-000.png",
        "sample-001.png",
    ]
    pictures = list_images(shapes_folder)
    recon = tmp_path / "recon.png"
    assert main(["reconstruct", str(checkpoint), str(pictures[0]), "-o", str(recon)]) == 0
    assert load_image(recon).size == (64, 32)
    assert read_metadata(recon)["operation"] == "vae-reconstruct"
    strip = tmp_path / "strip.png"
    assert main(["interpolate-vae", str(checkpoint), str(pictures[0]), str(pictures[1]), "--steps", "3",
                 "-o", str(strip)]) == 0  # fmt: skip
    assert load_image(strip).size == (3 * 32, 32)
    capsys.readouterr()
    assert main(["evaluate-vae", str(checkpoint), str(shapes_folder)]) == 0
    assert "negative ELBO" in capsys.readouterr().out
    assert main(["reconstruct", str(checkpoint), str(tmp_path / "none.png"), "-o", str(recon)]) == 1
    assert "none.png does not exist" in capsys.readouterr().err
    assert main(["sample-vae", str(pictures[0]), "--out", str(tmp_path / "x")]) == 1
    assert "not a Neural Easel checkpoint" in capsys.readouterr().err


def test_train_classifier_then_classify_and_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.core.test_classifier import COLOURS, colour_folder, square_picture

    data = colour_folder(tmp_path / "colours", per_class=6)
    out = tmp_path / "model"
    # 3 epochs of 4 steps: enough to learn (2 epochs of one step each called everything "blue").
    train = ["train-classifier", str(data), "--epochs", "3", "--batch-size", "4", "--out", str(out)]
    assert main(["-q", *train, "--route", "scratch"]) == 0
    checkpoint = out / "classifier.safetensors"
    picture = tmp_path / "red.png"
    square_picture(COLOURS["red"], 1000).save(picture)  # not one of the training pictures
    capsys.readouterr()
    assert main(["classify", str(checkpoint), str(picture), str(picture), "--top", "2", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    answer = json.loads(lines[0])
    assert answer["image"] == str(picture)
    assert [set(entry) for entry in answer["top"]] == [{"label", "probability"}] * 2
    assert answer["top"][0]["probability"] >= answer["top"][1]["probability"]
    assert main(["classify", str(checkpoint), str(picture), "--top", "1"]) == 0
    label, probability = capsys.readouterr().out.strip().split("\t")[1].split(" ")
    # Measured: "red" at 0.99997, and 60 of 60 such new pictures right; 2 one-step epochs said
    # "blue" to every picture.
    assert label == "red"
    assert 0.5 < float(probability) <= 1
    assert main(["-q", "evaluate", str(checkpoint), str(data)]) == 0
    report = capsys.readouterr().out
    accuracy = float(report.split("accuracy ")[1].split(" on 18 images")[0])
    assert accuracy > 0.9  # measured 1.0 (the run with 2 one-step epochs: 0.33, chance)
    assert "rows: true class" in report
    assert main(["-q", "export-classifier", str(checkpoint), "-o", str(tmp_path / "c.onnx")]) == 0
    assert (tmp_path / "c.onnx").is_file()
    assert main(["classify", str(checkpoint), str(tmp_path / "none.png")]) == 1
    assert "none.png does not exist" in capsys.readouterr().err
    assert main(["train-classifier", str(data / "red"), "--out", str(out)]) == 1
    assert "one subfolder per class" in capsys.readouterr().err
