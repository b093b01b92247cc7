"""The History dock on the real window: every result joins it, a click returns to one, two compare, and it
outlives the window."""

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDockWidget, QToolButton
from pytestqt.qtbot import QtBot

from core.errors import StorageError
from core.history import Entry, History
from core.images import read_metadata
from core.jobs import ImageResult, JobContext
from desktop.history_strip import HistoryStrip
from desktop.main_window import MainWindow
from tests.conftest import gradient_image
from tests.desktop.conftest import click

WAIT_MS = 10_000


class PictureJob:
    """A job that makes one given picture, as a stylization or a sample grid would."""

    title = "Paint"

    def __init__(self, image: Image.Image, settings: dict[str, Any]) -> None:
        self.image, self.settings = image, settings

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(1, 1)
        return ImageResult(self.image, self.settings)


def pixels(image: QImage | None) -> np.ndarray:
    assert image is not None
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    return rows[:, : 3 * rgb.width()].reshape(rgb.height(), rgb.width(), 3).copy()


def make_result(window: MainWindow, qtbot: QtBot, image: Image.Image, **settings: Any) -> Entry:
    """Run a job that makes `image`; wait until the strip shows it, first."""
    shown = len(window.history_strip.entries())
    window.run_job(PictureJob(image, {"operation": "stylize", **settings}), edits_canvas=False)
    qtbot.waitUntil(lambda: len(window.history_strip.entries()) == shown + 1, timeout=WAIT_MS)
    return window.history_strip.entries()[0]


def click_entry(
    qtbot: QtBot,
    strip: HistoryStrip,
    row: int,
    modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    strip.view.scrollTo(strip.model.index(row))
    centre = strip.view.visualRect(strip.model.index(row)).center()
    qtbot.mouseClick(strip.view.viewport(), Qt.MouseButton.LeftButton, modifier, centre)


def test_the_history_dock_shows_a_hint_until_the_first_result(window: MainWindow, qtbot: QtBot) -> None:
    strip = window.history_strip
    dock = strip.parentWidget()
    assert isinstance(dock, QDockWidget)
    assert dock.objectName() == "dock-history"
    assert dock.toggleViewAction() in window.menuBar().actions()[2].menu().actions()  # the View menu
    qtbot.waitUntil(strip.hint.isVisible, timeout=WAIT_MS)
    assert strip.hint.text() == "Results appear here"
    make_result(window, qtbot, gradient_image(64, 48))
    assert strip.view.isVisible()
    assert not strip.hint.isVisible()


def test_a_result_joins_the_strip_with_its_settings_and_a_click_returns_to_it(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    first_picture, second_picture = gradient_image(64, 48), gradient_image(80, 40, tint=(1, 0.3, 0.3))
    first = make_result(window, qtbot, first_picture, styles=[{"name": "dusk", "weight": 1.0}])
    second = make_result(window, qtbot, second_picture, model="portraits")
    strip = window.history_strip
    assert strip.entries() == [second, first]
    tooltip = strip.model.data(strip.model.index(1), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith(f"Stylize · style: dusk · 64 x 48 px · {time.strftime('%H')}:")
    assert "from stylize" in tooltip
    assert np.array_equal(pixels(window.canvas.image()), np.asarray(second_picture))

    click_entry(qtbot, strip, 1)
    assert np.array_equal(pixels(window.canvas.image()), np.asarray(first_picture))
    assert window.undo_stack.undoText() == "Return to history item"
    out = tmp_path / "again.png"
    assert window.save_to(out)
    assert read_metadata(out)["styles"] == [{"name": "dusk", "weight": 1.0}]
    window.undo_stack.undo()
    assert np.array_equal(pixels(window.canvas.image()), np.asarray(second_picture))
    assert len(strip.entries()) == 2  # returning to an item is not a new result


def test_two_selected_results_are_compared_before_and_after(window: MainWindow, qtbot: QtBot) -> None:
    older_picture, newer_picture = gradient_image(64, 48), gradient_image(90, 60, tint=(0.2, 1, 0.5))
    make_result(window, qtbot, older_picture)
    make_result(window, qtbot, newer_picture)
    window.open_sample()
    strip = window.history_strip
    compare = strip.findChild(QToolButton)
    assert compare is not None
    click_entry(qtbot, strip, 0)
    assert not compare.isEnabled()
    click_entry(qtbot, strip, 1, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(
        pixels(window.canvas.image()), np.asarray(newer_picture)
    )  # a Ctrl-click only selects

    click(qtbot, compare)
    assert window.compare_action.isChecked()
    assert window.canvas.comparing()
    assert np.array_equal(pixels(window.canvas.image()), np.asarray(newer_picture))
    assert np.array_equal(pixels(window.canvas.before_image()), np.asarray(older_picture))
    window.undo_stack.undo()
    assert not window.canvas.comparing()


def test_the_history_survives_a_restart(qtbot: QtBot, settings: QSettings) -> None:
    first = MainWindow(settings)
    qtbot.addWidget(first)
    made = [make_result(first, qtbot, gradient_image(40 + 8 * i, 30)) for i in range(3)]
    first.close()

    second = MainWindow(settings)
    qtbot.addWidget(second)
    qtbot.waitUntil(lambda: len(second.history_strip.entries()) == 3, timeout=WAIT_MS)
    assert [e.id for e in second.history_strip.entries()] == [e.id for e in reversed(made)]
    second.history_strip.chosen.emit(second.history_strip.entries()[-1])
    assert second.canvas.image() is not None
    assert second.canvas.image().width() == 40
    second.close()


def test_closing_waits_for_a_write_still_running(
    qtbot: QtBot, settings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_add = History.add

    def slow_add(self: History, *args: Any) -> Entry:
        time.sleep(0.3)  # the write is still running when the window closes
        return real_add(self, *args)

    monkeypatch.setattr(History, "add", slow_add)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.history_strip.add(gradient_image(), {"operation": "stylize"}, "late")
    win.close()
    (entry,) = History().entries()
    assert entry.name == "late"
    assert not any(p.name.endswith(".part") for p in entry.folder.iterdir())


def test_a_full_disk_is_reported_and_the_result_still_lands(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: History, *args: Any) -> Entry:
        raise StorageError("Cannot write 1.png: the disk is full: free some space or choose another folder.")

    monkeypatch.setattr(History, "add", full)
    picture = gradient_image(64, 48)
    window.run_job(PictureJob(picture, {"operation": "stylize"}), edits_canvas=False)
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=WAIT_MS)
    assert window.error_box is not None
    assert window.error_box.text().endswith("the disk is full: free some space or choose another folder.")
    assert np.array_equal(pixels(window.canvas.image()), np.asarray(picture))
    assert window.history_strip.entries() == []


def test_removing_a_result_takes_it_off_the_strip_and_the_disk(window: MainWindow, qtbot: QtBot) -> None:
    kept = make_result(window, qtbot, gradient_image(64, 48))
    gone = make_result(window, qtbot, gradient_image(50, 40))
    strip = window.history_strip
    click_entry(qtbot, strip, 0)
    assert strip.remove_action in strip.view.actions()  # the context menu lists the view's actions
    strip.remove_action.trigger()
    assert strip.entries() == [kept]
    qtbot.waitUntil(lambda: not gone.record.exists(), timeout=WAIT_MS)
    assert History().entries() == [kept]


def test_a_result_deleted_behind_the_windows_back_is_explained(window: MainWindow, qtbot: QtBot) -> None:
    entry = make_result(window, qtbot, gradient_image(64, 48))
    entry.picture.unlink()
    click_entry(qtbot, window.history_strip, 0)
    assert window.error_box is not None
    assert "missing or damaged" in window.error_box.text()
    qtbot.waitUntil(lambda: window.history_strip.entries() == [], timeout=WAIT_MS)


def test_thumbnails_are_read_only_when_shown(qtbot: QtBot, settings: QSettings) -> None:
    store = History()
    for i in range(60):
        store.add(gradient_image(40, 30, tint=(i / 60, 1, 1)), {"operation": "gan-sample"}, f"grid {i}")
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    strip = win.history_strip
    qtbot.waitUntil(lambda: len(strip.entries()) == 60, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: strip.model.loaded_thumbnails() > 0, timeout=WAIT_MS)
    assert strip.model.loaded_thumbnails() < 30
    assert strip.model.data(strip.model.index(0), Qt.ItemDataRole.DisplayRole) == "GAN sample"
    win.close()
