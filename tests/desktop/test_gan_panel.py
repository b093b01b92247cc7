from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from core.checkpoints import ModelKind, read_info
from desktop.main_window import MainWindow
from desktop.panels.gan import GanPanel
from tests.desktop.conftest import click, drop_files, show_panel


def test_train_a_gan_then_sample_and_interpolate(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = show_panel(window, GanPanel)
    drop_files(panel.data, shapes_folder)
    assert panel.data.spec == str(shapes_folder)
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.steps.setValue(8)
    panel.net_width.setValue(8)
    panel.conditional.setChecked(True)
    assert not panel.sample_button.isEnabled()
    click(qtbot, panel.train_button)
    assert window.worker is not None
    assert not panel.train_button.isEnabled()  # one job at a time
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert panel.model is not None
    assert panel.model.name == "gan.safetensors"
    current = window.model_picker.currentItem()
    assert current is not None
    assert current.text(0) == panel.model.parent.name
    assert window.tools.currentWidget() is panel
    assert [panel.class_name.itemText(i) for i in range(panel.class_name.count())] == ["discs", "squares"]

    panel.count.setValue(4)
    click(qtbot, panel.sample_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    grid = window.picture.image
    assert grid.width() >= 64
    assert grid.height() >= 32
    assert window.picture.before is None  # a new picture, not an edit of the canvas
    assert not window.compare_action.isEnabled()

    panel.frames.setValue(4)
    click(qtbot, panel.interpolate_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture.image.width() == 4 * window.picture.image.height()  # a strip of 4 frames
    assert window.undo_stack.count() == 2
    assert read_info(panel.model).kind is ModelKind.GAN

    gif = shapes_folder.parent / "morph"  # the dialog's name without a suffix: .gif is added
    asked: list[tuple[object, ...]] = []
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *args: asked.append(args[1:]) or (str(gif), "")
    )
    click(qtbot, panel.gif_button)
    assert asked == [("Save the interpolation as", "morph.gif", "GIF (*.gif)")]
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    with Image.open(gif.with_suffix(".gif")) as animation:
        assert animation.n_frames == 4
    assert window.undo_stack.count() == 3  # the strip lands on the canvas too


def test_training_without_data_explains(window: MainWindow, qtbot: QtBot) -> None:
    panel = show_panel(window, GanPanel)
    panel.data.set_spec("")
    click(qtbot, panel.train_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "No data"
    assert window.error_box.text() == "Drop a folder of your images on the GAN panel, or use Fashion-MNIST."


def test_cancel_then_resume_a_gan(window: MainWindow, qtbot: QtBot, shapes_folder: Path) -> None:
    panel = show_panel(window, GanPanel)
    panel.data.set_spec(str(shapes_folder))
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.net_width.setValue(8)
    panel.steps.setValue(400)  # a grid every 20 steps
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: window.progress_panel.preview.isVisible(), timeout=120_000)  # a sample grid
    click(qtbot, window.progress_panel.cancel_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert panel.model is not None  # the resumable checkpoint is listed and selected
    stopped_at = read_info(panel.model).training["step"]
    assert 20 <= stopped_at < 400

    panel.steps.setValue(stopped_at + 10)
    click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_info(panel.model).training["step"] == stopped_at + 10

    panel.count.setValue(4)
    click(qtbot, panel.vary_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    assert window.picture.settings["operation"] == "gan-vary"
