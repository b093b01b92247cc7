from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from core import devices
from core.catalog import FASHION_MNIST, Tool
from core.checkpoints import ModelKind, read_info
from core.images import list_images
from core.presets import QUICK_LOOK, StepShape
from core.sequence.jobs import DrawEvaluateJob
from core.sequence.settings import DRAW_PRESETS
from desktop.main_window import MainWindow
from desktop.panels.base import NO_PICTURE
from desktop.panels.draw import DrawPanel
from desktop.training_presets import CUSTOM
from tests.desktop.conftest import click, drop_files, show_panel

GLIMPSES = 4  # a tiny DRAW: a few seconds of training on a CPU


def on_canvas(window: MainWindow) -> bytes:
    image = window.canvas.image()
    assert image is not None
    return bytes(image.convertToFormat(QImage.Format.Format_RGB32).constBits())


def shown(image: QImage) -> bytes:
    return bytes(image.convertToFormat(QImage.Format.Format_RGB32).constBits())


def train(window: MainWindow, qtbot: QtBot, folder: Path, steps: int) -> DrawPanel:
    panel = show_panel(window, DrawPanel)
    drop_files(panel.data, folder)
    assert panel.data.spec == str(folder)
    panel.image_size.setCurrentIndex(panel.image_size.findData(28))
    panel.glimpses.setValue(GLIMPSES)
    panel.hidden.setValue(16)
    panel.latent.setValue(4)
    panel.batch.setValue(8)
    panel.steps.setValue(steps)
    assert panel.presets.combo.currentData() == CUSTOM
    assert " · hidden 16 · batch 8 · " in panel.presets.estimate.text()  # DRAW's width is its LSTMs'
    click(qtbot, panel.train_button)
    assert window.worker is not None
    assert not panel.train_button.isEnabled()  # one job at a time
    return panel


def answer(monkeypatch: pytest.MonkeyPatch, button: QMessageBox.StandardButton) -> list[str]:
    asked: list[str] = []

    def question(_parent: object, title: str, *_args: object) -> QMessageBox.StandardButton:
        asked.append(title)
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def save_to(monkeypatch: pytest.MonkeyPatch, name: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(name), ""))


def test_the_panel_is_the_draw_tools_and_models(window: MainWindow) -> None:
    panel = show_panel(window, DrawPanel)
    assert window.tool_panels[Tool.TRAIN_DRAW] is panel
    assert window.model_panels[ModelKind.DRAW] is panel
    assert panel.attention.isChecked()
    assert panel.glimpses.value() == 16
    assert not panel.sample_button.isEnabled()  # no model yet
    assert not panel.player.slider.isEnabled()
    assert not panel.player.play_button.isEnabled()
    assert not panel.player.gif_button.isEnabled()
    assert panel.player.slider.accessibleName() == "Glimpse"


def test_train_draw_then_sample_scrub_play_save_and_reconstruct(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    panel = train(window, qtbot, shapes_folder, 10)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert panel.model is not None  # the new model is listed and selected
    info = read_info(panel.model)
    assert info.kind is ModelKind.DRAW
    assert (info.config["glimpses"], info.config["attention"], info.training["step"]) == (GLIMPSES, True, 10)
    assert panel.model.parent.name.startswith("draw-shapes-28px-")
    assert "4 glimpses with attention" in panel.model_label.text()

    assert window.canvas.image() is None
    click(qtbot, panel.reconstruct_button)  # nothing on the canvas to redraw
    assert window.worker is None
    assert window.error_box is not None
    assert (window.error_box.windowTitle(), window.error_box.text()) == NO_PICTURE

    panel.count.setValue(4)
    click(qtbot, panel.sample_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    finished = on_canvas(window)
    assert len(panel.player.frames) == GLIMPSES
    assert (panel.player.slider.minimum(), panel.player.slider.maximum(), panel.player.slider.value()) == (
        1,
        GLIMPSES,
        GLIMPSES,
    )
    assert panel.player.label.text() == f"Glimpse {GLIMPSES} of {GLIMPSES}"
    assert panel.player.slider.isEnabled()
    assert panel.player.play_button.isEnabled()
    panel.player.slider.setValue(1)  # back to the first glimpse: the canvas shows it, not the result
    assert on_canvas(window) == shown(panel.player.shown[0]) != finished
    assert panel.player.label.text() == f"Glimpse 1 of {GLIMPSES}"
    assert window.undo_stack.count() == 1  # scrubbing is no edit
    panel.player.slider.setValue(GLIMPSES)
    assert on_canvas(window) == finished  # the last glimpse is the finished picture

    visited: list[int] = []
    panel.player.slider.valueChanged.connect(visited.append)
    click(qtbot, panel.player.play_button)  # at the end: it plays from the first glimpse
    assert panel.player.play_button.text() == "Stop"
    qtbot.waitUntil(lambda: panel.player.play_button.text() == "Play", timeout=10_000)  # stops at the end
    assert visited == list(range(1, GLIMPSES + 1))
    assert on_canvas(window) == finished
    panel.player.slider.setValue(1)
    click(qtbot, panel.player.play_button)
    click(qtbot, panel.player.play_button)  # a second press stops
    assert panel.player.play_button.text() == "Play"
    stopped = panel.player.slider.value()
    qtbot.wait(400)
    assert panel.player.slider.value() == stopped < GLIMPSES

    gif = tmp_path / "drawing.gif"
    save_to(monkeypatch, gif)
    click(qtbot, panel.player.gif_button)
    with Image.open(gif) as animation:
        assert animation.n_frames == GLIMPSES  # type: ignore[attr-defined]
    written = gif.read_bytes()
    save_to(monkeypatch, tmp_path / "drawing")  # the dialog never saw "drawing.gif": asked here
    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    gif.write_bytes(b"an older animation")
    click(qtbot, panel.player.gif_button)
    assert asked == ["Replace the file?"]
    assert gif.read_bytes() == b"an older animation"
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    click(qtbot, panel.player.gif_button)
    assert gif.read_bytes() == written

    window.open_file(list_images(shapes_folder)[0])
    assert panel.player.frames == []  # the glimpses were of the drawing the opened picture replaced
    assert not panel.player.slider.isEnabled()
    click(qtbot, panel.reconstruct_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert len(panel.player.frames) == GLIMPSES
    assert panel.player.slider.value() == GLIMPSES
    assert window.picture.image.width() > window.picture.image.height()  # the picture beside its redrawing
    panel.player.slider.setValue(2)
    assert on_canvas(window) == shown(panel.player.shown[1])


def test_cancel_then_resume_a_draw(window: MainWindow, qtbot: QtBot, shapes_folder: Path) -> None:
    panel = train(window, qtbot, shapes_folder, 100_000)  # a grid every 100 steps: then cancel
    qtbot.waitUntil(lambda: window.progress_panel.preview.isVisible(), timeout=120_000)
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert panel.model is not None  # the resumable checkpoint is listed and selected
    stopped_at = read_info(panel.model).training["step"]
    assert 1 <= stopped_at < 100_000
    panel.steps.setValue(stopped_at + 3)
    click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_info(panel.model).training["step"] == stopped_at + 3


def test_evaluate_shows_the_test_negative_elbo(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    panel = show_panel(window, DrawPanel)
    panel.model = tmp_path / "draw.safetensors"  # as the model picker sets it; the job is not run here
    panel.set_busy(False)
    asked: list[Any] = []
    monkeypatch.setattr(window, "run_job", lambda job, edits, owner: asked.append(job))
    click(qtbot, panel.evaluate_button)
    (job,) = asked
    assert isinstance(job, DrawEvaluateJob)
    assert job.data_spec == FASHION_MNIST
    panel.job_finished({"nelbo": 92.345, "bits_per_dim": 0.1699, "reconstruction": 70.0, "kl": 22.3})
    assert panel.evaluation.text() == (
        "92.3 nats per picture · 0.170 bits/dim\n(reconstruction 70.0 + KL 22.3 nats)"
    )


def test_training_without_data_explains(window: MainWindow) -> None:
    panel = show_panel(window, DrawPanel)
    panel.data.set_spec("")
    panel.train_button.click()
    assert window.worker is None
    assert window.error_box is not None
    assert "Drop a folder" in window.error_box.text()


def test_the_presets_start_at_quick_look_and_fashion_mnist_trains_at_28_px(window: MainWindow) -> None:
    panel = show_panel(window, DrawPanel)
    quick = DRAW_PRESETS["cpu"][0]
    panel.data.set_spec(FASHION_MNIST)
    assert panel.presets.combo.currentData() == QUICK_LOOK
    asked = (panel.image_size.currentData(), panel.batch.value(), panel.hidden.value())
    assert (panel.steps.value(), StepShape(*asked)) == (quick.steps, quick.shape)
    panel.glimpses.setValue(8)  # not part of a preset: it stays chosen
    assert panel.presets.combo.currentData() == QUICK_LOOK
    panel.hidden.setValue(panel.hidden.value() + 16)
    assert panel.presets.combo.currentData() == CUSTOM
