import shutil
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QFileDialog, QScrollArea, QWidget
from pytestqt.qtbot import QtBot

from core.catalog import Tool, TrainedModel
from core.checkpoints import CheckpointInfo, ModelKind, read_info
from core.classifier.novelty import WARNING
from core.classifier.settings import ARCH
from core.data import FASHION_MNIST_CLASSES
from core.jobs import ImageResult
from desktop.main_window import MainWindow
from desktop.panels.classifier import ClassifierPanel, ConfusionMatrix
from tests.core.test_classifier import COLOURS, colour_folder, noise_picture, square_picture
from tests.desktop.conftest import click, drop_files


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
    assert panel.confusion.verticalHeaderItem(2).toolTip() == "True class 2: red"

    confusion = read_info(panel.model.path).training["evaluation"]["confusion"]
    true, predicted = next(
        (i, j) for i, row in enumerate(confusion) for j, n in enumerate(row) if n and i != j
    )
    panel.confusion.cellClicked.emit(true, predicted)
    wait_for_job(window, qtbot)
    assert window.picture is not None
    assert window.picture.settings["operation"] == "classifier-mistakes"
    assert window.picture.image.width() >= 96
    names = read_info(panel.model.path).config["class_names"]
    caption = f"validation images taken for {names[predicted]}"
    assert caption in panel.mistakes_caption.text()
    assert panel.mistakes_caption.text().startswith(f"On the canvas: {confusion[true][predicted]} ")
    assert window.windowTitle().startswith(window.picture.name)
    assert names[true] in window.windowTitle()
    assert caption in window.windowTitle()

    # A new picture like the training ones, three times as large, on a wider canvas (grey margins).
    picture = tmp_path / "green.png"
    wide = Image.new("RGB", (120, 96), (125, 125, 125))
    wide.paste(square_picture(COLOURS["green"], 5).resize((96, 96), Image.Resampling.NEAREST), (12, 0))
    wide.save(picture)
    drop_files(window.canvas.viewport(), picture)  # opening a picture classifies it at once
    qtbot.waitUntil(lambda: window.worker is not None or "%" in panel.top_labels.text(), timeout=10_000)
    wait_for_job(window, qtbot)
    assert window.picture.settings["operation"] == "classifier-grad-cam"
    assert window.picture.image.width() == 120
    assert window.picture.before is not None  # the overlay edits the picture: before/after compare works
    lines = panel.top_labels.text().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("green: ")
    assert not panel.unfamiliar.isVisible()  # a picture like the training ones: no warning
    overlay = window.picture

    # Without Grad-CAM the canvas is left alone; the overlay on it is not what gets classified.
    panel.grad_cam.setChecked(False)
    panel.top_labels.clear()
    click(qtbot, panel.classify_button)
    wait_for_job(window, qtbot)
    assert window.picture is overlay
    assert panel.top_labels.text().startswith("green: ")
    assert not panel.unfamiliar.isVisible()

    # Colour noise looks like none of the training pictures (grey noise with one coloured square).
    noise = tmp_path / "noise.png"
    noise_picture(3).save(noise)
    drop_files(window.canvas.viewport(), noise)
    qtbot.waitUntil(lambda: panel.unfamiliar.isVisible(), timeout=60_000)
    wait_for_job(window, qtbot)
    assert WARNING in panel.unfamiliar.text()
    assert panel.unfamiliar.y() > panel.top_labels.y()


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


def fashion_model(tmp_path: Path) -> TrainedModel:
    """A Fashion-MNIST-like classifier's header (the panel reads nothing else): ten classes with long
    names, 600 validation pictures each, three-digit counts."""
    names = list(FASHION_MNIST_CLASSES)
    confusion = [[540 if i == j else (60 if j == (i + 1) % 10 else 0) for j in range(10)] for i in range(10)]
    evaluation = {
        "accuracy": 0.9,
        "class_names": names,
        "confusion": confusion,
        "precision": [0.9] * 10,
        "recall": [0.9] * 10,
    }
    training = {"evaluation": evaluation, "epoch": 12, "data_set": "fashion-mnist"}
    config = {"class_names": names, "size": 28, "channels": 1, "backbone": "scratch"}
    info = CheckpointInfo(ModelKind.CLASSIFIER, ARCH, config=config, training=training)
    return TrainedModel(tmp_path / "fashion" / "classifier.safetensors", info)


def assert_fits(matrix: ConfusionMatrix) -> None:
    """Every column of the confusion matrix within its width, each count whole in its cell (not elided),
    each row name within the row header, every row shown: nothing to scroll to."""
    columns, rows = matrix.horizontalHeader(), matrix.verticalHeader()
    assert columns.length() <= matrix.viewport().width()
    assert rows.width() + columns.length() + 2 * matrix.frameWidth() <= matrix.width()
    assert not matrix.horizontalScrollBar().isVisible()
    for j in range(10):
        cells = [matrix.item(i, j) for i in range(10)]
        widest = max(QFontMetrics(c.font()).horizontalAdvance(c.text()) for c in cells if c is not None)
        assert widest + 6 <= matrix.columnWidth(j)  # with the cell's margins: not elided
    assert matrix.rowHeight(0) * 10 <= matrix.viewport().height()
    names = [name for i in range(10) if (name := matrix.verticalHeaderItem(i)) is not None]
    assert names[9].toolTip() == "True class 9: Ankle boot"
    metrics = QFontMetrics(matrix.verticalHeader().font())
    assert all(metrics.horizontalAdvance(n.text()) <= matrix.verticalHeader().width() for n in names)
    assert matrix.verticalHeader().width() <= 0.4 * matrix.width()  # the names leave room for the counts


def top(widget: QWidget, panel: QWidget) -> int:
    return widget.mapTo(panel, QPoint(0, 0)).y()


def test_prediction_and_export_come_first_and_the_matrix_fits_the_dock(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    panel = panel_of(window)
    panel.set_model(fashion_model(tmp_path))
    picture = Image.new("RGB", (40, 40), "gray")
    settings = {
        "top": [["Bag", 0.907], ["Shirt", 0.05], ["Coat", 0.02]],
        "novelty": {"score": 41.0, "threshold": 12.0, "unlike": True},
    }
    panel.job_finished(ImageResult(picture, settings))
    assert window.size().toTuple() == (1280, 820)  # the default size (a first run)
    qtbot.wait(50)  # the layout settles
    assert panel.unfamiliar.isVisible()
    assert panel.unfamiliar.text().startswith("⚠ " + WARNING)
    assert panel.top_labels.text().splitlines()[0] == "Bag: 90.7%"

    # The prediction, the Grad-CAM toggle and Export above the matrix, the training controls below it.
    for widget in (panel.top_labels, panel.grad_cam, panel.unfamiliar, panel.export_button):
        assert top(widget, panel) + widget.height() <= top(panel.confusion, panel)
    assert top(panel.confusion, panel) < top(panel.train_button, panel)
    # Export is in view without scrolling (the dock's scroll area starts at the top).
    (scroll,) = [area for area in window.findChildren(QScrollArea) if area.widget() is window.tools]
    assert scroll.verticalScrollBar().value() == 0
    assert top(panel.export_button, panel) + panel.export_button.height() <= scroll.viewport().height()

    # The matrix fits the dock's width: the panel is no wider than the dock's view, the table no wider
    # than the panel, and every count and row name fits at the font it is drawn in.
    matrix = panel.confusion
    assert panel.width() <= scroll.viewport().width()
    assert matrix.mapTo(panel, QPoint(matrix.width(), 0)).x() <= panel.width()
    assert_fits(matrix)
    # Narrower still (the dock at 300 px): the counts' font shrinks and the names give way.
    narrow = ConfusionMatrix()
    qtbot.addWidget(narrow)
    narrow.resize(300, 100)
    evaluation = fashion_model(tmp_path).info.training["evaluation"]
    narrow.show_matrix(evaluation["class_names"], evaluation["confusion"])
    narrow.show()
    qtbot.waitExposed(narrow)
    assert narrow.width() == 300
    assert_fits(narrow)
    names = [name.text() for i in range(10) if (name := narrow.verticalHeaderItem(i)) is not None]
    assert any(name.endswith("…") for name in names)  # elided, the full name in the tooltip

    # A checkpoint trained before the check: its classifications carry no verdict, and show no warning.
    panel.job_finished(ImageResult(picture, {"top": [["Bag", 0.907]]}))
    assert panel.top_labels.text() == "Bag: 90.7%"
    assert not panel.unfamiliar.isVisible()
    panel.job_finished(ImageResult(picture, {"top": [["Bag", 0.9]], "novelty": None}))
    assert not panel.unfamiliar.isVisible()
    panel.job_finished(ImageResult(picture, {**settings, "novelty": {"score": 3.0, "threshold": 12.0}}))
    assert not panel.unfamiliar.isVisible()
    assert "Looks like the training pictures" in panel.top_labels.toolTip()
