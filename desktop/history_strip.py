"""The History dock: a strip of thumbnails of every result, newest first, kept across restarts.

The store is `core.history`. Its disk work runs on one background thread, in order (a 24 MP PNG takes
seconds to encode): the start-up scan, each add and each removal, every one ending by sending the
store's new list back to the GUI thread. A thumbnail is decoded from its small file when its item is
first painted, so a long history costs nothing at start-up.
"""

import datetime
import logging
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image
from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from core.errors import UserError, user_message
from core.history import Entry, History

log = logging.getLogger(__name__)

ICON_SIDE = 72  # px in the strip, which fits the bottom dock; the thumbnail files are larger, for high-DPI
_WORDS = {"gan": "GAN", "vae": "VAE", "grad-cam": "Grad-CAM"}
_SHOWN_FIRST = ("model", "mode", "method", "class")  # the settings the summary line names
_MAX_VALUE = 60  # characters of one setting's value in a tooltip

ModelIndex = QModelIndex | QPersistentModelIndex


def operation_title(operation: str) -> str:
    """ "colour-transfer" -> "Colour transfer", "classifier-grad-cam" -> "Classifier Grad-CAM"."""
    words = [_WORDS.get(w, w) for w in re.findall(r"grad-cam|[^-]+", operation)] or ["Result"]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def describe(entry: Entry) -> str:
    """The tooltip: "Stylize · style: dusk · 512 x 384 px · 12:03", where it came from, then every
    setting on a line of its own."""
    settings = entry.settings
    parts = [operation_title(str(settings.get("operation", "")))]
    listed = settings.get("styles")
    styles = (
        [str(s["name"]) for s in listed if isinstance(s, Mapping) and "name" in s]
        if isinstance(listed, list)
        else []
    )
    if styles:
        parts.append(f"style{'s' if len(styles) > 1 else ''}: {' + '.join(styles)}")
    parts += [f"{key}: {settings[key]}" for key in _SHOWN_FIRST if isinstance(settings.get(key), str | int)]
    parts.append(f"{entry.size[0]} x {entry.size[1]} px")
    today = datetime.date.fromtimestamp(entry.time) == datetime.date.today()
    parts.append(time.strftime("%H:%M" if today else "%d %b %H:%M", time.localtime(entry.time)))
    lines = [" · ".join(parts), f"from {entry.name}"]
    for key, value in settings.items():
        text = str(value)
        lines.append(f"{key}: {text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + '…'}")
    return "\n".join(lines)


class HistoryModel(QAbstractListModel):
    """The entries as list items; each thumbnail is read the first time the view asks for it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[Entry] = []
        self._icons: dict[str, QIcon] = {}

    def set_entries(self, entries: list[Entry]) -> None:
        self.beginResetModel()
        self.entries = entries
        ids = {e.id for e in entries}
        self._icons = {k: v for k, v in self._icons.items() if k in ids}
        self.endResetModel()

    def loaded_thumbnails(self) -> int:
        return len(self._icons)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's own default)
        return 0 if parent.isValid() else len(self.entries)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return operation_title(str(entry.settings.get("operation", "")))
        if role == Qt.ItemDataRole.DecorationRole:
            if entry.id not in self._icons:
                self._icons[entry.id] = QIcon(QPixmap(str(entry.thumbnail)))
            return self._icons[entry.id]
        if role == Qt.ItemDataRole.ToolTipRole:
            return describe(entry)
        if role == Qt.ItemDataRole.SizeHintRole:  # one size for all: long titles are elided, not wrapped
            return QSize(ICON_SIDE + 36, ICON_SIDE + 24)
        return None


class HistoryStrip(QWidget):
    """Click a thumbnail to return to it (`chosen`); select two (Ctrl- or Shift-click) and Compare
    (`compare_requested`, older first). The context menu and Delete remove the selected ones."""

    chosen = Signal(object)  # Entry
    compare_requested = Signal(object, object)  # Entry, Entry: before (the older), after
    problem = Signal(str, str)  # title, text
    _changed = Signal(list)  # from the writer thread: the store's entries after a change
    _failed = Signal(str, str)  # from the writer thread

    def __init__(self, history: History | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history or History()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self._closed = False
        self.model = HistoryModel(self)

        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setFlow(QListView.Flow.LeftToRight)
        self.view.setWrapping(False)  # one row, scrolled sideways
        self.view.setMovement(QListView.Movement.Static)
        # Laid out from the first item's size: the other thumbnails are read only when painted.
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(ICON_SIDE, ICON_SIDE))
        self.view.setSpacing(6)
        self.view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAccessibleName("History")
        self.view.clicked.connect(self._on_clicked)
        self.view.selectionModel().selectionChanged.connect(self._update_actions)

        self.compare_action = QAction("Compare", self)
        self.compare_action.setToolTip("Compare the two selected results (Ctrl+click selects a second one)")
        self.compare_action.triggered.connect(self._compare_selected)
        self.remove_action = QAction("Remove from History", self)
        self.remove_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.remove_action.triggered.connect(self._remove_selected)
        self.view.addActions([self.compare_action, self.remove_action])
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        compare_button = QToolButton()
        compare_button.setDefaultAction(self.compare_action)

        self.hint = QLabel("Results appear here")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setEnabled(False)  # drawn in the style's muted colour
        self.pages = QStackedWidget()
        self.pages.addWidget(self.view)
        self.pages.addWidget(self.hint)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.pages, 1)
        layout.addWidget(compare_button, 0, Qt.AlignmentFlag.AlignTop)

        self._changed.connect(self._show_entries)
        self._failed.connect(self.problem)
        self._update_actions()
        self._submit("Cannot read the history", lambda: None)  # the start-up scan

    def entries(self) -> list[Entry]:
        """What the strip shows, newest first."""
        return list(self.model.entries)

    def add(self, image: Image.Image, settings: Mapping[str, Any], name: str) -> None:
        """Keep a result, in the background; a disk problem comes back as `problem`."""
        self._submit(
            "Cannot keep this result in the history", lambda: self.history.add(image, settings, name)
        )

    def load(self, entry: Entry) -> Image.Image | None:
        """The entry's picture; None (after saying why, and dropping the entry) when it cannot be read."""
        try:
            return self.history.load(entry)
        except UserError as exc:
            self.problem.emit("Cannot return to this result", str(exc))
            self._submit("Cannot read the history", lambda: None)
            return None

    def close_down(self) -> None:
        """Wait for the writes still running or queued: no entry is left half-written."""
        self._closed = True
        self._writer.shutdown(wait=True)

    def _submit(self, title: str, change: Callable[[], object]) -> None:
        if not self._closed:  # once the window has closed nothing shows or keeps a change any more
            self._writer.submit(self._run, title, change)

    def _run(self, title: str, change: Callable[[], object]) -> None:
        """On the writer thread: make `change`, then send back what the store holds."""
        try:
            change()
            entries = self.history.entries()
        except UserError as exc:
            self._failed.emit(title, str(exc))
        except Exception as exc:
            log.exception("history: %s", title)
            self._failed.emit(title, user_message(exc))
        else:
            self._changed.emit(entries)

    def _show_entries(self, entries: list[Entry]) -> None:
        selected = {e.id for e in self._selected()}
        self.model.set_entries(entries)
        selection = QItemSelection()
        for row, entry in enumerate(entries):
            if entry.id in selected:
                selection.select(self.model.index(row), self.model.index(row))
        self.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.Select)
        self.pages.setCurrentWidget(self.view if entries else self.hint)
        self._update_actions()

    def _selected(self) -> list[Entry]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.entries[row] for row in rows]

    def _update_actions(self) -> None:
        count = len(self.view.selectionModel().selectedIndexes())
        self.compare_action.setEnabled(count == 2)
        self.remove_action.setEnabled(count > 0)

    def _on_clicked(self, index: QModelIndex) -> None:
        """A plain click returns to the item; a Ctrl- or Shift-click only selects."""
        if self.view.selectionModel().selectedIndexes() == [index]:
            self.chosen.emit(self.model.entries[index.row()])

    def _compare_selected(self) -> None:
        newer, older = self._selected()  # rows run newest first
        self.compare_requested.emit(older, newer)

    def _remove_selected(self) -> None:
        gone = self._selected()
        ids = {e.id for e in gone}
        self._show_entries([e for e in self.model.entries if e.id not in ids])  # at once; the disk follows

        def remove() -> None:
            for entry in gone:
                self.history.remove(entry)

        self._submit("Cannot remove from the history", remove)
