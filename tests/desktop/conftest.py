import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the QApplication

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop.main_window import MainWindow
from desktop.panels.base import ModelPanel

P = TypeVar("P", bound=ModelPanel)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot: QtBot, settings: QSettings) -> Iterator[MainWindow]:
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()  # cancels and waits for a running job
    assert win.worker is None or not win.worker.is_running()


def drop_files(target: QWidget, *paths: Path) -> None:
    """Deliver the drag-enter and drop events a file manager's drag would (Qt drops only what entered)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(10, 10), *args)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the widget refused the drag"
    QApplication.sendEvent(target, QDropEvent(QPointF(10, 10), *args))


def panel_of(window: MainWindow, kind: type[P]) -> P:
    """The window's panel of class `kind` (shown or not)."""
    (panel,) = [p for p in window.panels if isinstance(p, kind)]
    return panel


def show_panel(window: MainWindow, kind: type[P]) -> P:
    """Pick the panel's first built-in tool in the model picker, as the artist does: the panel is shown."""
    window.model_picker.select_tool(kind.tools[0])
    panel = window.tools.currentWidget()
    assert isinstance(panel, kind)
    assert panel.isVisible() or not window.isVisible()
    return panel


def click(qtbot: QtBot, button: QAbstractButton) -> None:
    """A left click on `button`, which must be enabled (a disabled button ignores it silently)."""
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
