import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.images import load_image, read_metadata


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
