"""The entry points as installers and users start them: --version, --smoke-test, the About box."""

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from core import __version__, paths
from desktop.app import CanvasHint, show_first_picture
from desktop.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter with the repository importable, started elsewhere: what it finds, it found
    through importlib.resources, not the current directory."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=240
    )


def test_version_flags_answer_without_a_display(tmp_path: Path) -> None:
    for module, program in (("desktop.app", "neural-easel"), ("core.cli", "neural-easel-cli")):
        result = run(["-m", module, "--version"], tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{program} {__version__}"


def test_smoke_test_shows_the_bundled_sample_and_loads_torch(tmp_path: Path) -> None:
    result = run(
        ["-m", "desktop.app", "--smoke-test"],
        tmp_path,
        QT_QPA_PLATFORM="offscreen",
        NEURAL_EASEL_HOME=str(tmp_path / "home"),
    )
    assert result.returncode == 0, result.stderr
    shown, device = result.stdout.splitlines()
    assert shown == f"neural-easel {__version__}: window shown, picture (960, 640)"
    assert device.startswith(f"neural-easel {__version__}: Device: ")
    assert "unavailable" not in device


def test_smoke_test_fails_when_the_model_library_cannot_load(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('no torch in this test')\n")
    result = run(
        [
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import desktop.app as a; "
            "sys.exit(a.main(['neural-easel', '--smoke-test']))",
            str(blocker),
        ],
        tmp_path,
        QT_QPA_PLATFORM="offscreen",
        NEURAL_EASEL_HOME=str(tmp_path / "home"),
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].endswith("Device: unavailable")


def test_about_box_names_the_version_the_device_and_the_users_folders(
    window: MainWindow, qtbot: QtBot
) -> None:
    assert "still starting up" in window.about_text()
    with qtbot.waitSignal(window.device_ready, timeout=120_000):
        window.warm_up()
    text = window.about_text()
    assert __version__ in text
    assert window.device is not None
    assert window.device in text
    for folder in (paths.data_dir(), paths.models_dir(), paths.cache_dir(), paths.log_dir()):
        assert str(folder) in text


def hint_shown(window: MainWindow) -> bool:
    hint = window.canvas.findChild(QLabel, "canvas-hint")
    return hint is not None and hint.isVisible()


def test_the_first_start_says_where_a_photo_goes_until_one_is_opened(
    window: MainWindow, qtbot: QtBot, settings: QSettings, photo_file: Path
) -> None:
    hint = show_first_picture(window, [])
    assert isinstance(hint, CanvasHint)
    assert window.picture is not None
    assert window.picture.name == "sample"
    assert hint.isVisible()
    assert "Drop one of your photos (or a folder) here" in hint.text()
    assert "File\u00a0\u203a\u00a0Open\u00a0(Ctrl+O)" in hint.text()  # never broken across lines
    assert "Studios menu" in hint.text()
    canvas = window.canvas.rect()
    assert canvas.contains(hint.geometry())  # over the canvas, whole
    assert hint.geometry().center().y() > canvas.center().y()  # low, off the middle of the picture
    wide = window.canvas.width()
    window.resize(window.width() - 300, window.height())
    qtbot.waitUntil(lambda: window.canvas.width() < wide)
    assert window.canvas.rect().contains(hint.geometry())  # it follows the canvas
    assert abs(hint.geometry().center().x() - window.canvas.rect().center().x()) <= 1

    window.open_file(photo_file)
    assert not hint_shown(window)
    window.undo_stack.undo()  # back to the sample: the hint has done its work
    assert not hint_shown(window)

    second = MainWindow(settings)  # the next start: a picture has been opened before
    qtbot.addWidget(second)
    assert show_first_picture(second, []) is None
    assert second.picture is not None
    assert second.picture.name == "sample"


def test_a_picture_named_at_start_is_opened_without_the_hint(window: MainWindow, photo_file: Path) -> None:
    assert show_first_picture(window, [photo_file]) is None
    assert window.picture is not None
    assert window.picture.name == photo_file.name
    assert not hint_shown(window)
