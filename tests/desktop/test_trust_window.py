"""Issue 12 in the window: closing during a training run asks, then saves a resumable checkpoint (rule 3);
a window export never replaces the model it exports (rule 1); disk errors of Save As are one clear
message (rule 5)."""

import errno
import os
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from core import paths
from core.checkpoints import ModelKind, read_info
from desktop.main_window import MainWindow
from desktop.panels.colour import ColourPanel
from desktop.panels.gan import GanPanel
from desktop.panels.style import StylePanel
from tests.conftest import untrained_fast_style
from tests.desktop.conftest import click, panel_of, show_panel

STEPS = 100_000


def start_gan_training(window: MainWindow, qtbot: QtBot, folder: Path) -> None:
    panel = show_panel(window, GanPanel)
    panel.data.set_spec(str(folder))
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.net_width.setValue(8)
    panel.steps.setValue(STEPS)
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: window.progress_panel.bar.value() >= 3, timeout=120_000)


def answer(monkeypatch: pytest.MonkeyPatch, button: QMessageBox.StandardButton) -> list[str]:
    """Answer the window's next question with `button`; returns the questions asked."""
    asked: list[str] = []

    def question(_parent: object, title: str, *_args: object) -> QMessageBox.StandardButton:
        asked.append(title)
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_closing_during_training_asks_then_saves(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_gan_training(window, qtbot, shapes_folder)
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not window.close()  # the artist said no: the window stays and the run goes on
    assert asked == ["Training is running"]
    assert window.isVisible()
    assert window.worker is not None
    assert window.worker.is_running()

    asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
    assert window.close()
    assert asked == ["Training is running"]
    assert window.worker is None or not window.worker.is_running()
    (checkpoint,) = paths.models_dir().glob("*/gan.safetensors")
    step = read_info(checkpoint, ModelKind.GAN).training["step"]
    assert 3 <= step < STEPS  # the step reached, resumable


def test_closing_without_a_training_run_asks_nothing(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert window.close()
    assert asked == []


def test_export_onto_the_model_itself_is_refused(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = untrained_fast_style(paths.models_dir() / "mosaic.safetensors")
    before = model.read_bytes()
    window.model_picker.refresh()
    window.model_picker.select_model(model)  # the style panel, set to stylize with this network
    panel = panel_of(window, StylePanel)
    assert window.tools.currentWidget() is panel
    assert panel.model.currentText() == "mosaic"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(model), ""))
    click(qtbot, panel.export_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.error_box is not None
    assert "mosaic.safetensors cannot hold an ONNX model" in window.error_box.text()
    assert model.read_bytes() == before


def test_save_as_onto_a_full_disk_is_one_clear_message(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Simulated: the picture's writer meets the real ENOSPC (the real full disk is in
    tests/core/test_trust_disk.py)."""
    window.open_sample()

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", full)
    target = tmp_path / "picture.png"
    assert not window.save_to(target)
    assert window.error_box is not None
    assert window.error_box.text() == (
        f"Cannot write {target}: the disk is full: free some space or choose another folder."
    )
    assert list(tmp_path.glob(".picture.png.*")) == []


class _RunsOutOfMemory:
    """A job whose allocation fails the way numpy's and torch's CPU allocators fail."""

    title = "Stylize"

    def run(self, ctx: object) -> None:
        raise MemoryError


def test_out_of_memory_is_a_remedy_and_the_window_stays_usable(
    window: MainWindow, qtbot: QtBot, photo_file: Path
) -> None:
    window.open_file(photo_file)
    window.run_job(_RunsOutOfMemory())
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=30_000)
    assert window.error_box is not None
    assert window.error_box.text().startswith("Out of memory: lower the image size or the tile size")
    qtbot.waitUntil(lambda: window.worker is None, timeout=30_000)

    # The next job runs as usual: a colour transfer lands on the canvas.
    window.error_box.accept()  # the message is window-modal: the artist clicks OK first
    before = window.picture
    click(qtbot, show_panel(window, ColourPanel).apply_button)
    qtbot.waitUntil(lambda: window.picture is not before, timeout=60_000)
    assert window.picture is not None
    with Image.open(photo_file) as photo:
        assert window.picture.pil.size == photo.size
