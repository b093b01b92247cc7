"""Small pieces the window's docks share."""

from pathlib import Path

from PySide6.QtCore import QChildEvent, QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QFileDialog,
    QMessageBox,
    QScrollBar,
    QWidget,
)

VALUE_WIDGETS = (QAbstractSpinBox, QComboBox, QAbstractSlider)  # what a wheel turn would change


def is_value_widget(widget: QObject) -> bool:
    """A spin box, combo box or slider: a wheel turn changes its value. Scroll bars are not: they are
    there to be scrolled."""
    return isinstance(widget, VALUE_WIDGETS) and not isinstance(widget, QScrollBar)


class WheelGuard(QObject):
    """Under `root` (a scrolling dock's contents), a wheel turn over a spin box, combo box or slider that
    does not have the focus scrolls the dock instead of changing the value; once clicked (or tabbed to),
    the widget takes the wheel as usual.

    Installed once on the root, it follows every widget below it, also those added later: each one it
    watches tells it about its children as Qt polishes them (`ChildPolished`, before a widget is first
    shown). Value widgets get `StrongFocus`, so a wheel turn no longer gives them the focus."""

    def __init__(self, root: QWidget) -> None:
        super().__init__(root)
        self._watch(root)

    def _watch(self, widget: QWidget) -> None:
        for each in (widget, *widget.findChildren(QWidget)):
            each.installEventFilter(self)  # installing twice keeps one filter
            if is_value_widget(each) and each.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                each.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Wheel:
            if isinstance(watched, QWidget) and is_value_widget(watched) and not watched.hasFocus():
                # Not accepted and filtered out: Qt hands the wheel on to the parents, up to the scroll
                # area, which scrolls.
                event.ignore()
                return True
        elif kind == QEvent.Type.ChildPolished and isinstance(event, QChildEvent):
            child = event.child()
            if isinstance(child, QWidget):
                self._watch(child)
        return False


def save_file_name(parent: QWidget, caption: str, start: Path, filter_: str, suffix: str) -> Path | None:
    """Ask where to save a file ending in `suffix` (".gif"); None when the artist cancels. The dialog asks
    before replacing the file chosen; a name it returned without `suffix` gets it added here, and since
    the dialog never saw that name, replacing a file of that name is asked here."""
    name, _ = QFileDialog.getSaveFileName(parent, caption, str(start), filter_)
    if not name:
        return None
    path = Path(name)
    if path.suffix.lower() == suffix:
        return path
    path = path.with_name(path.name + suffix)
    if path.exists():
        answer = QMessageBox.question(
            parent, "Replace the file?", f"{path.name} already exists in {path.parent}. Replace it?"
        )
        if answer != QMessageBox.StandardButton.Yes:
            return None
    return path
