"""The model picker dock: model families, their built-in tools and the trained models on disk.

A long name is elided in the middle, so both its start and a run's date suffix show; the tooltip holds the
full name and path. A trained model's context menu (also F2 and Delete) renames it, shows it in the file
manager or deletes it (to the system's trash; where there is none, only after saying it is permanent);
`core.catalog` does the file work. After a change the picker re-reads the folder and emits
`models_changed`. `tool_actions` are the window's Studios menu: every built-in tool, in the picker's order.
"""

import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QFile, QObject, QPoint, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QInputDialog,
    QLineEdit,
    QMenu,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from core.catalog import (
    BUILT_IN_TOOLS,
    TOOL_LABELS,
    Family,
    Tool,
    TrainedModel,
    delete_model,
    model_location,
    rename_model,
    scan_models,
)
from core.errors import UserError

ROLE = Qt.ItemDataRole.UserRole
REVEAL_LABEL = {"darwin": "Reveal in &Finder", "win32": "Show in &Explorer"}.get(
    sys.platform, "Show in &File Manager"
)


def studio_tools() -> list[tuple[Family, Tool]]:
    """Every built-in tool the picker offers, in its order (family by family)."""
    return [(family, tool) for family in Family for tool in BUILT_IN_TOOLS.get(family, [])]


def studio_shortcut(tool: Tool) -> QKeySequence:
    """Alt+1, Alt+2, ... in the picker's order (Ctrl+digits are the view's zoom keys); none past nine."""
    number = [t for _, t in studio_tools()].index(tool) + 1
    return QKeySequence(f"Alt+{number}") if number <= 9 else QKeySequence()


class ModelPicker(QTreeWidget):
    """Emits `tool_selected(Tool)` or `model_selected(TrainedModel)` when the user picks an entry."""

    tool_selected = Signal(object)
    model_selected = Signal(object)
    models_changed = Signal()  # a model was renamed or deleted here: every list of models is stale
    problem = Signal(str, str)  # (title, message): a rename or delete that could not be done, and why

    def __init__(self, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models_dir = models_dir
        self._busy = False
        self.setHeaderHidden(True)
        self.setAccessibleName("Models")
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "fashion-mnist-3…260412-101500"
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu)
        self.rename_action = self._model_action("&Rename…", self.rename_current, QKeySequence(Qt.Key.Key_F2))
        self.reveal_action = self._model_action(REVEAL_LABEL, self.reveal_current)
        self.delete_action = self._model_action(
            "&Delete…", self.delete_current, QKeySequence(QKeySequence.StandardKey.Delete)
        )
        self.currentItemChanged.connect(self._on_current)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the models folder (cheap: only checkpoint headers are read)."""
        scan = scan_models(self.models_dir)
        self.clear()
        for family in Family:
            top = QTreeWidgetItem(self, [family.label])
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for tool in BUILT_IN_TOOLS.get(family, []):
                item = QTreeWidgetItem(top, [TOOL_LABELS[tool]])
                item.setData(0, ROLE, tool)
                keys = studio_shortcut(tool).toString(QKeySequence.SequenceFormat.NativeText)
                item.setToolTip(0, f"{TOOL_LABELS[tool]} ({keys})" if keys else TOOL_LABELS[tool])
            models = [m for m in scan.models if m.family is family]
            for model in models:
                item = QTreeWidgetItem(top, [model.name])
                item.setData(0, ROLE, model)
                item.setToolTip(0, describe_model(model))
            if not models and family not in BUILT_IN_TOOLS:
                hint = QTreeWidgetItem(top, ["No trained models yet"])
                hint.setFlags(Qt.ItemFlag.NoItemFlags)
            top.setExpanded(True)
        if scan.unreadable:
            note = QTreeWidgetItem(self, [f"{len(scan.unreadable)} unreadable file(s) skipped"])
            note.setFlags(Qt.ItemFlag.ItemIsEnabled)
            note.setToolTip(0, "\n".join(f"{path.name}: {why}" for path, why in scan.unreadable))
        self._update_actions()

    def select_tool(self, tool: Tool) -> None:
        everything = self.findItems("*", Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive)
        match = next((item for item in everything if item.data(0, ROLE) == tool), None)
        if match is not None:
            self.setCurrentItem(match)

    def select_model(self, path: Path) -> None:
        """Select the trained model stored at `path`, if it is listed."""
        everything = self.findItems("*", Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive)
        for item in everything:
            entry = item.data(0, ROLE)
            if isinstance(entry, TrainedModel) and entry.path == path:
                self.setCurrentItem(item)

    def current_model(self) -> TrainedModel | None:
        item = self.currentItem()
        entry = item.data(0, ROLE) if item is not None else None
        return entry if isinstance(entry, TrainedModel) else None

    def set_busy(self, busy: bool) -> None:
        """A job is running: it may be writing into a run folder, so renaming and deleting wait."""
        self._busy = busy
        self._update_actions()

    # --- the Studios menu ----------------------------------------------------------------------------

    def tool_actions(self, parent: QObject) -> list[QAction]:
        """One entry per built-in tool, grouped by family, each selecting its tool here (and so showing
        its panel), with `studio_shortcut`s: the window's Studios menu."""
        actions: list[QAction] = []
        previous: Family | None = None
        for family, tool in studio_tools():
            if previous is not None and family is not previous:
                separator = QAction(parent)
                separator.setSeparator(True)
                actions.append(separator)
            previous = family
            action = QAction(TOOL_LABELS[tool], parent)
            action.setShortcut(studio_shortcut(tool))
            action.setStatusTip(f"{family.label} \u203a {TOOL_LABELS[tool]}")
            action.setData(tool.value)
            action.triggered.connect(lambda _=False, t=tool: self.select_tool(t))
            actions.append(action)
        return actions

    # --- a trained model's context menu --------------------------------------------------------------

    def context_menu(self, item: QTreeWidgetItem | None) -> QMenu | None:
        """What a right click on `item` opens: Rename, Show in File Manager and Delete for a trained
        model (made the current entry); None for anything else."""
        if item is None or not isinstance(item.data(0, ROLE), TrainedModel):
            return None
        if item is not self.currentItem():
            self.setCurrentItem(item)
        menu = QMenu(self)
        menu.addActions([self.rename_action, self.reveal_action])
        menu.addSeparator()
        menu.addAction(self.delete_action)
        return menu

    def _on_context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.itemAt(pos))
        if menu is not None:
            menu.exec(self.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def rename_current(self) -> None:
        """Ask for a new name for the current model and rename its run folder or file; a name already
        taken is refused (nothing is replaced)."""
        model = self.current_model()
        if model is None or self._busy:
            return
        name, ok = QInputDialog.getText(
            self, "Rename model", f"New name for “{model.name}”:", QLineEdit.EchoMode.Normal, model.name
        )
        if not ok or name.strip() == model.name:
            return
        try:
            renamed = rename_model(model.path, name, self.models_dir)
        except UserError as exc:
            self.problem.emit("Cannot rename the model", str(exc))
            return
        self._changed()
        self.select_model(renamed)

    def reveal_current(self) -> None:
        """Open the folder that holds the current model (its run folder) in the file manager."""
        model = self.current_model()
        if model is None:
            return
        try:
            location = model_location(model.path, self.models_dir)
        except UserError as exc:
            self.problem.emit("Cannot show the model", str(exc))
            return
        folder = location if location.is_dir() else location.parent
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.problem.emit("Cannot show the model", f"No file manager could open {folder}.")

    def delete_current(self) -> None:
        """Move the current model (its run folder or file) to the trash after asking; where there is no
        trash, ask again, saying it is permanent, before deleting it for good."""
        model = self.current_model()
        if model is None or self._busy:
            return
        try:
            location = model_location(model.path, self.models_dir)
        except UserError as exc:
            self.problem.emit("Cannot delete the model", str(exc))
            return
        held_in = "Its training run's folder" if location.is_dir() else "Its file"
        if not self._confirm(
            "Delete model",
            f"Move “{model.name}” to the trash?",
            f"{held_in}, {location}, goes to the trash, where you can restore it from.",
            "Move to Trash",
        ):
            return
        if not QFile(str(location)).moveToTrash():
            if not self._confirm(
                "Delete permanently?",
                f"“{model.name}” cannot be moved to the trash: this system or disk has none. "
                "Delete it permanently?",
                f"{location} will be deleted for good. This cannot be undone.",
                "Delete Permanently",
            ):
                return
            try:
                delete_model(model.path, self.models_dir)
            except UserError as exc:
                self.problem.emit("Cannot delete the model", str(exc))
                return
        self._changed()

    def _confirm(self, title: str, text: str, details: str, accept: str) -> bool:
        """A modal question whose safe answer, Cancel, is the default."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, self)
        box.setInformativeText(details)
        yes = box.addButton(accept, QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        answer = box.clickedButton() is yes
        box.deleteLater()
        return answer

    def _changed(self) -> None:
        self.refresh()
        self.models_changed.emit()

    def _model_action(
        self, text: str, slot: Callable[[], None], shortcut: QKeySequence | None = None
    ) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(shortcut)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(action)  # so its key works while the picker has the focus
        return action

    def _update_actions(self) -> None:
        model = self.current_model() is not None
        self.rename_action.setEnabled(model and not self._busy)
        self.delete_action.setEnabled(model and not self._busy)
        self.reveal_action.setEnabled(model)

    def _on_current(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        self._update_actions()
        entry = current.data(0, ROLE) if current is not None else None
        if isinstance(entry, TrainedModel):
            self.model_selected.emit(entry)
        elif isinstance(entry, str):  # a Tool: Qt hands a stored StrEnum back as a plain str
            self.tool_selected.emit(Tool(entry))


def describe_model(model: TrainedModel) -> str:
    """The tooltip: the full name (the list may elide it), what it is, when it was made, where it is."""
    info = model.info
    lines = [model.name, f"{info.kind.label} · {info.arch}", f"created {info.created or 'unknown'}"]
    lines += [
        str(model.path),
        *(f"{key}: {value}" for key, value in {**info.config, **info.training}.items()),
    ]
    return "\n".join(lines)
