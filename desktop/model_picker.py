"""The model picker dock: model families, their built-in tools and the trained models on disk."""

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from core.catalog import BUILT_IN_TOOLS, TOOL_LABELS, Family, Tool, TrainedModel, scan_models

ROLE = Qt.ItemDataRole.UserRole


class ModelPicker(QTreeWidget):
    """Emits `tool_selected(Tool)` or `model_selected(TrainedModel)` when the user picks an entry."""

    tool_selected = Signal(object)
    model_selected = Signal(object)

    def __init__(self, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models_dir = models_dir
        self.setHeaderHidden(True)
        self.setAccessibleName("Models")
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

    def _on_current(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        entry = current.data(0, ROLE) if current is not None else None
        if isinstance(entry, TrainedModel):
            self.model_selected.emit(entry)
        elif isinstance(entry, str):  # a Tool: Qt hands a stored StrEnum back as a plain str
            self.tool_selected.emit(Tool(entry))


def describe_model(model: TrainedModel) -> str:
    info = model.info
    lines = [f"{info.kind.label} · {info.arch}", f"created {info.created or 'unknown'}", str(model.path)]
    lines += [f"{key}: {value}" for key, value in {**info.config, **info.training}.items()]
    return "\n".join(lines)
