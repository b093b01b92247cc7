from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from core import paths
from core.images import read_metadata
from desktop.main_window import MainWindow
from desktop.panels.style import WEIGHTS_KEY
from tests.conftest import TEST_DATA, gradient_image, untrained_fast_style
from tests.desktop.conftest import drop_files

STYLE = TEST_DATA / "starry_night.jpg"


@pytest.fixture
def quick_style(window: MainWindow, vgg_file: Path) -> MainWindow:
    """The window with small, fast optimisation settings and the session's VGG file as the user's choice."""
    window.settings.setValue(WEIGHTS_KEY, str(vgg_file))
    panel = window.style_panel
    panel.output_size.setValue(96)
    panel.iterations.setValue(20)
    panel.scales.setValue(1)
    return window


def test_stylize_from_the_window(
    quick_style: MainWindow, qtbot: QtBot, photo_file: Path, tmp_path: Path
) -> None:
    window = quick_style
    drop_files(window.canvas.viewport(), photo_file)
    window.style_panel.wells.clear()
    drop_files(window.style_panel.wells, STYLE)
    assert [s.name for s in window.style_panel.wells.styles()] == ["starry_night"]
    previews: list[object] = []
    qtbot.mouseClick(window.style_panel.stylize_button, Qt.MouseButton.LeftButton)
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
    before = len(window.style_panel.wells.rows)
    drop_files(window.style_panel.wells, junk)
    assert len(window.style_panel.wells.rows) == before
    assert window.error_box is not None
    assert "style.jpg" in window.error_box.text()


def test_stylize_without_a_style_explains(window: MainWindow, photo_file: Path) -> None:
    window.open_file(photo_file)
    window.style_panel.wells.clear()
    window.stylize()
    assert window.worker is None
    assert window.error_box is not None
    assert "Add a style first" in window.error_box.text()


def test_cancel_keeps_the_latest_stylization(quick_style: MainWindow, qtbot: QtBot, photo_file: Path) -> None:
    window = quick_style
    window.open_file(photo_file)
    panel = window.style_panel
    panel.output_size.setValue(256)
    panel.scales.setValue(2)  # 128 px, then 256 px
    panel.iterations.setValue(20)
    window.stylize()
    qtbot.waitUntil(lambda: "Scale 2" in window.progress_panel.status.text(), timeout=120_000)
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert window.picture is not None
    assert window.picture.image.width() == 256  # the size asked for, though cancelled at scale 2
    assert window.undo_stack.count() == 2


def test_stylize_a_folder(quick_style: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    window = quick_style
    folder = tmp_path / "holiday"
    folder.mkdir()
    gradient_image(120, 90).save(folder / "a.png")
    gradient_image(90, 120).save(folder / "b.jpg")
    (folder / "c.png").write_text("not a picture")
    window.style_panel.method.setCurrentIndex(window.style_panel.method.findData("colours"))
    window.stylize_folder(folder)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    out = tmp_path / "holiday stylized"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_metadata(out / "a.png")["source"] == "a.png"


def test_style_settings_are_remembered(qtbot: QtBot, settings: QSettings, photo_file: Path) -> None:
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.style_panel.strength.setValue(150)
    first.style_panel.keep_colours.setCurrentIndex(first.style_panel.keep_colours.findData("luminance"))
    first.style_panel.job_factory()  # settings are remembered when used
    first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert second.style_panel.strength.value() == 150
    assert second.style_panel.keep_colours.currentData() == "luminance"
    assert np.isclose(second.style_panel.gatys_settings("off").style_strength, 1.5)


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
    assert window.tools.currentWidget() is window.style_panel
    assert window.style_panel.method.currentData() == "fast"
    assert window.style_panel.model.currentText() == "mosaic"
    window.open_file(photo_file)
    window.stylize()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    assert window.picture.settings["method"] == "fast"
    assert window.undo_stack.undoText() == "Stylize (fast network)"
