from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from core import paths
from core.images import read_metadata
from desktop.main_window import MainWindow
from desktop.panels.style import WEIGHTS_KEY, StylePanel
from tests.conftest import TEST_DATA, gradient_image, untrained_fast_style
from tests.desktop.conftest import click, drop_files, panel_of, show_panel

STYLE = TEST_DATA / "starry_night.jpg"


@pytest.fixture
def quick_style(window: MainWindow, vgg_file: Path) -> MainWindow:
    """The window with small, fast optimisation settings and the session's VGG file as the user's choice."""
    window.settings.setValue(WEIGHTS_KEY, str(vgg_file))
    panel = show_panel(window, StylePanel)
    panel.output_size.setValue(96)
    panel.iterations.setValue(20)
    panel.scales.setValue(1)
    return window


def test_stylize_from_the_window(
    quick_style: MainWindow, qtbot: QtBot, photo_file: Path, tmp_path: Path
) -> None:
    window = quick_style
    panel = panel_of(window, StylePanel)
    drop_files(window.canvas.viewport(), photo_file)
    panel.wells.clear()
    drop_files(panel.wells, STYLE)
    assert [s.name for s in panel.wells.styles()] == ["starry_night"]
    previews: list[object] = []
    click(qtbot, panel.stylize_button)
    assert window.worker is not None
    window.worker.preview.connect(lambda image, caption, on_canvas: previews.append(on_canvas))
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert previews
    assert all(previews)
    assert window.picture is not None
    assert window.picture.image.width() == 96
    assert window.undo_stack.undoText() == "Stylize (optimise)"
    assert window.compare_action.isEnabled()
    out = tmp_path / "styled.png"
    assert window.save_to(out)
    metadata = read_metadata(out)
    assert metadata["method"] == "optimise"
    assert metadata["styles"] == [{"name": "starry_night", "weight": 1.0}]


def test_a_bad_style_file_is_refused(window: MainWindow, tmp_path: Path) -> None:
    junk = tmp_path / "style.jpg"
    junk.write_bytes(b"\xff\xd8 nope")
    panel = show_panel(window, StylePanel)
    before = len(panel.wells.rows)
    drop_files(panel.wells, junk)
    assert len(panel.wells.rows) == before
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "Cannot use this image"
    assert "style.jpg" in window.error_box.text()


def test_stylize_without_a_style_explains(window: MainWindow, qtbot: QtBot, photo_file: Path) -> None:
    window.open_file(photo_file)
    panel = show_panel(window, StylePanel)
    panel.wells.clear()
    click(qtbot, panel.stylize_button)
    assert window.worker is None
    assert window.error_box is not None
    assert "Add a style first" in window.error_box.text()


def test_stylize_without_a_picture_explains(window: MainWindow, qtbot: QtBot) -> None:
    assert window.picture is None
    click(qtbot, show_panel(window, StylePanel).stylize_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "No picture"
    assert window.error_box.text() == "Open or drop a picture on the canvas first."


def test_training_a_fast_network_without_a_style_explains(window: MainWindow, qtbot: QtBot) -> None:
    panel = show_panel(window, StylePanel)
    panel.wells.clear()
    click(qtbot, panel.train_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "No style"
    assert window.error_box.text() == "Add the style to learn first: drop a painting on the Styles box."


def test_cancel_keeps_the_latest_stylization(quick_style: MainWindow, qtbot: QtBot, photo_file: Path) -> None:
    window = quick_style
    window.open_file(photo_file)
    panel = panel_of(window, StylePanel)
    panel.output_size.setValue(256)
    panel.scales.setValue(2)  # 128 px, then 256 px
    panel.iterations.setValue(20)
    click(qtbot, panel.stylize_button)
    qtbot.waitUntil(lambda: "Scale 2" in window.progress_panel.status.text(), timeout=120_000)
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert window.picture is not None
    assert window.picture.image.width() == 256  # the size asked for, though cancelled at scale 2
    assert window.undo_stack.count() == 2


def test_stylize_a_folder(
    quick_style: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = quick_style
    panel = panel_of(window, StylePanel)
    folder = tmp_path / "holiday"
    folder.mkdir()
    gradient_image(120, 90).save(folder / "a.png")
    gradient_image(90, 120).save(folder / "b.jpg")
    (folder / "c.png").write_text("not a picture")
    panel.method.setCurrentIndex(panel.method.findData("colours"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(folder))
    click(qtbot, panel.batch_button)
    out = tmp_path / "holiday stylized"
    assert window.statusBar().currentMessage() == f"Stylizing 3 pictures into {out}"
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_metadata(out / "a.png")["source"] == "a.png"


def test_style_settings_are_remembered(qtbot: QtBot, settings: QSettings, photo_file: Path) -> None:
    first = MainWindow(settings)
    qtbot.addWidget(first)
    panel = panel_of(first, StylePanel)
    panel.strength.setValue(150)
    panel.keep_colours.setCurrentIndex(panel.keep_colours.findData("luminance"))
    panel.job_factory()  # settings are remembered when used
    first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    panel = panel_of(second, StylePanel)
    assert panel.strength.value() == 150
    assert panel.keep_colours.currentData() == "luminance"
    assert np.isclose(panel.gatys_settings("off").style_strength, 1.5)


def test_a_trained_fast_network_is_picked_and_used(
    qtbot: QtBot, settings: QSettings, photo_file: Path
) -> None:
    untrained_fast_style(paths.models_dir() / "mosaic.safetensors")
    window = MainWindow(settings)
    qtbot.addWidget(window)
    picker = window.model_picker
    style_family = picker.topLevelItem(0)
    assert style_family is not None
    names = [style_family.child(i).text(0) for i in range(style_family.childCount())]
    assert names == ["Stylize", "Colour transfer", "mosaic"]
    picker.setCurrentItem(style_family.child(2))
    panel = panel_of(window, StylePanel)
    assert window.tools.currentWidget() is panel
    assert panel.method.currentData() == "fast"
    assert panel.model.currentText() == "mosaic"
    window.open_file(photo_file)
    click(qtbot, panel.stylize_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    assert window.picture.settings["method"] == "fast"
    assert window.undo_stack.undoText() == "Stylize (fast network)"


def test_stylizing_a_folder_without_pictures_explains(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    panel = show_panel(window, StylePanel)
    panel.method.setCurrentIndex(panel.method.findData("colours"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(empty))
    click(qtbot, panel.batch_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "Cannot stylize this folder"
    assert window.error_box.text() == "empty holds no pictures this app can read."


def test_training_a_fast_network_starts_on_the_chosen_folder(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The panel's Train button asks for the photos and starts the training job on the first style; a
    folder without photos then fails with the job's own words."""
    photos = tmp_path / "no photos"
    photos.mkdir()
    panel = show_panel(window, StylePanel)
    assert [s.name for s in panel.wells.styles()] == ["Dusk"]  # the built-in style of a first run
    panel.train_steps.setValue(10)
    asked: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda _parent, caption: asked.append(caption) or str(photos)
    )
    click(qtbot, panel.train_button)
    assert asked == ["Choose a folder of photos to learn from"]
    assert window.worker is not None
    job = window.worker.job
    assert (job.title, job.photos, job.steps, job.style_name) == ("Train a fast style", photos, 10, "Dusk")
    assert not panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert panel.train_button.isEnabled()
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "The job failed"
    assert window.error_box.text().startswith("no photos has no pictures")
