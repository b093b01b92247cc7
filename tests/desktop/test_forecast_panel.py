from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from core import devices
from core.catalog import Tool
from core.checkpoints import ModelKind, read_info
from core.data import FASHION_MNIST_ROOT
from core.jobs import JobContext
from core.sequence.forecast_training import ForecastTrainingJob
from core.sequence.jobs import ContinueSequenceJob, ForecastEvaluateJob
from core.sequence.sequences import MovingItems, held_out_frames, moving_fashion_mnist
from core.sequence.settings import MOVING_FASHION_MNIST
from desktop.main_window import MainWindow
from desktop.panels.forecast import NO_SEQUENCE, ForecastPanel
from desktop.training_presets import CUSTOM
from tests.desktop.conftest import click, drop_files, show_panel

READ = 4  # frames a tiny model reads: seconds of training on a CPU


def on_canvas(window: MainWindow) -> bytes:
    image = window.canvas.image()
    assert image is not None
    return bytes(image.convertToFormat(QImage.Format.Format_RGB32).constBits())


def shown(image: QImage) -> bytes:
    return bytes(image.convertToFormat(QImage.Format.Format_RGB32).constBits())


@pytest.fixture
def gifs(tmp_path: Path) -> Path:
    """Six GIFs of white squares bouncing in 32 px frames, 10 frames each."""
    folder = tmp_path / "clips"
    folder.mkdir()
    squares = MovingItems(torch.full((4, 1, 8, 8), 255, dtype=torch.uint8), size=32)
    for index, sequence in enumerate(squares.held_out(10, 6)):
        frames = [Image.fromarray(frame[0].numpy()) for frame in sequence]
        frames[0].save(folder / f"clip{index}.gif", save_all=True, append_images=frames[1:], duration=40)
    return folder


def test_the_panel_is_the_sequence_tool_and_its_models(window: MainWindow) -> None:
    panel = show_panel(window, ForecastPanel)
    assert window.tool_panels[Tool.CONTINUE_SEQUENCE] is panel
    assert window.model_panels[ModelKind.SEQUENCE] is panel
    assert not panel.continue_button.isEnabled()  # no model yet
    assert not panel.player.play_button.isEnabled()
    panel.data.built_in_button.click()
    assert panel.data.spec == MOVING_FASHION_MNIST
    assert panel.image_size.currentData() == 64  # Moving Fashion-MNIST's frames: no choice
    assert not panel.image_size.isEnabled()
    panel.data.set_spec("")
    assert panel.image_size.isEnabled()


def test_train_then_continue_a_gif_step_through_and_evaluate(
    window: MainWindow, qtbot: QtBot, gifs: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    panel = show_panel(window, ForecastPanel)
    drop_files(panel.data, gifs)
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.input_frames.setValue(READ)
    panel.output_frames.setValue(4)
    panel.net_width.setValue(8)
    panel.batch.setValue(4)
    panel.steps.setValue(10)
    assert panel.presets.combo.currentData() == CUSTOM
    click(qtbot, panel.train_button)
    assert window.worker is not None
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert panel.model is not None  # the new model is listed and selected
    info = read_info(panel.model)
    assert info.kind is ModelKind.SEQUENCE
    assert (info.config["size"], info.config["input_frames"], info.training["step"]) == (32, READ, 10)
    assert panel.model.parent.name.startswith("sequence-clips-32px-")
    assert "reads 4 frames of 32 px" in panel.model_label.text()

    click(qtbot, panel.continue_button)  # nothing to continue yet
    assert window.worker is None
    assert window.error_box is not None
    assert (window.error_box.windowTitle(), window.error_box.text()) == NO_SEQUENCE

    drop_files(panel.source, gifs / "clip2.gif")  # a file: the well takes GIFs and videos too
    assert panel.source.spec == str(gifs / "clip2.gif")
    panel.count.setValue(6)
    click(qtbot, panel.continue_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    strip = window.picture.image
    assert (strip.width(), strip.height()) == (6 * 32, 2 * 32)  # the 4 frames read over the 6 predicted
    assert len(panel.player.frames) == READ + 6
    assert panel.player.label.text() == f"Frame {READ + 6} of {READ + 6} (predicted)"
    panel.player.slider.setValue(1)
    assert on_canvas(window) == shown(panel.player.shown[0])
    assert panel.player.label.text() == f"Frame 1 of {READ + 6} (read)"
    assert window.undo_stack.count() == 1  # stepping through is no edit

    asked: list[Any] = []
    monkeypatch.setattr(window, "run_job", lambda job, edits, owner: asked.append(job))
    click(qtbot, panel.evaluate_button)
    (job,) = asked
    assert isinstance(job, ForecastEvaluateJob)
    assert job.data_spec == MOVING_FASHION_MNIST
    panel.job_finished(
        {"mse": [0.01, 0.03], "copy_last_mse": [0.04, 0.06], "ssim": [0.8, 0.6], "copy_last_ssim": [0.5, 0.3]}
    )
    assert panel.evaluation.text() == (
        "Mean squared error 0.0200 per pixel, 0.40 of copying the last frame (0.0500)\n"
        "SSIM 0.700 (copying the last frame: 0.400; 1 is perfect)"
    )


@pytest.mark.skipif(not FASHION_MNIST_ROOT.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_a_held_out_sequence_is_continued_from_its_first_frames(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = ForecastTrainingJob(
        moving_fashion_mnist(), tmp_path, steps=1, input_frames=3, output_frames=2, width=8, layers=1
    ).run(JobContext())
    panel = show_panel(window, ForecastPanel)
    panel.model = model  # as the model picker sets it
    panel.set_busy(False)
    panel.source.built_in_button.click()
    assert panel.held_out.isEnabled()
    panel.held_out.setValue(7)
    asked: list[Any] = []
    monkeypatch.setattr(window, "run_job", lambda job, edits, owner: asked.append(job))
    click(qtbot, panel.continue_button)
    (job,) = asked
    assert isinstance(job, ContinueSequenceJob)
    assert callable(job.given)
    given = job.given()
    assert [f.tobytes() for f in given] == [f.tobytes() for f in held_out_frames(7, 3)]
