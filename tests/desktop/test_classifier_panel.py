import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from core.catalog import Tool
from core.checkpoints import ModelKind, read_info
from desktop.main_window import MainWindow
from desktop.panels.classifier import ClassifierPanel
from tests.core.test_classifier import COLOURS, colour_folder, square_picture
from tests.desktop.conftest import drop_files


def panel_of(window: MainWindow) -> ClassifierPanel:
    window.model_picker.select_tool(Tool.TRAIN_CLASSIFIER)
    panel = window.model_panels[ModelKind.CLASSIFIER]
    assert isinstance(panel, ClassifierPanel)
    assert window.tools.currentWidget() is panel
    return panel


def wait_for_job(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)


def test_train_see_mistakes_and_classify_a_dropped_picture(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    folder = colour_folder(tmp_path / "colours", per_class=8)
    shutil.copytree(folder / "red", folder / "scarlet")  # a class it cannot tell from red: mistakes
    panel = panel_of(window)
    drop_files(panel.data, folder)
    assert panel.data.spec == str(folder)
    panel.epochs.setValue(15)  # two steps each (batches of 16)
    assert not panel.classify_button.isEnabled()
    panel.train_button.click()
    wait_for_job(window, qtbot)
    assert window.progress_panel.status.text().startswith("Finished")
    assert panel.model is not None
    assert panel.model.path.name == "classifier.safetensors"
    assert "validation accuracy" in panel.model_label.text()
    assert panel.confusion.rowCount() == panel.confusion.columnCount() == 4
    assert panel.confusion.verticalHeaderItem(2).text() == "2 red"
    assert "precision" in panel.per_class.text()

    confusion = read_info(panel.model.path).training["evaluation"]["confusion"]
    true, predicted = next(
        (i, j) for i, row in enumerate(confusion) for j, n in enumerate(row) if n and i != j
    )
    panel.confusion.cellClicked.emit(true, predicted)
    wait_for_job(window, qtbot)
    assert window.picture is not None
    assert window.picture.settings["operation"] == "classifier-mistakes"
    assert window.picture.image.width() >= 96

    picture = tmp_path / "green.png"
    square_picture(COLOURS["green"], 5).resize((120, 80)).save(picture)
    drop_files(window.canvas.viewport(), picture)  # opening a picture classifies it at once
    qtbot.waitUntil(lambda: window.worker is not None or "%" in panel.top_labels.text(), timeout=10_000)
    wait_for_job(window, qtbot)
    assert window.picture.settings["operation"] == "classifier-grad-cam"
    assert window.picture.image.width() == 120
    assert window.picture.before is not None  # the overlay edits the picture: before/after compare works
    lines = panel.top_labels.text().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("green: ")


def test_cancel_then_resume_from_the_panel(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    folder = colour_folder(tmp_path / "colours", per_class=20)
    panel = panel_of(window)
    panel.data.set_spec(str(folder))
    panel.epochs.setValue(200)
    assert not panel.cancel_button.isEnabled()
    panel.train_button.click()
    qtbot.waitUntil(lambda: window.progress_panel.bar.value() >= 2, timeout=120_000)
    assert panel.cancel_button.isEnabled()
    panel.cancel_button.click()
    wait_for_job(window, qtbot)
    assert window.progress_panel.status.text() == "Cancelled."
    assert panel.model is not None  # the resumable checkpoint is listed and selected
    stopped = read_info(panel.model.path).training
    assert stopped["epoch"] < 200

    panel.epochs.setValue(stopped["epoch"] + 1)
    panel.resume_button.click()
    wait_for_job(window, qtbot)
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_info(panel.model.path).training["epoch"] == stopped["epoch"] + 1


def test_training_without_data_explains_and_export_writes_onnx(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = panel_of(window)
    panel.data.set_spec("")
    panel.train_button.click()
    assert window.worker is None
    assert window.error_box is not None
    assert "one subfolder of pictures per class" in window.error_box.text()

    panel.data.set_spec(str(colour_folder(tmp_path / "colours", per_class=4)))
    panel.epochs.setValue(1)
    panel.train_button.click()
    wait_for_job(window, qtbot)
    out = tmp_path / "model.onnx"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(out), ""))
    panel.export_button.click()
    wait_for_job(window, qtbot)
    assert out.is_file()
