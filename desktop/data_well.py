"""Where a training set is chosen: drop a folder on it, choose one, or take the built-in set
(Fashion-MNIST; Moving Fashion-MNIST for the sequence models)."""

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QGridLayout, QLabel, QPushButton, QWidget

from core.catalog import FASHION_MNIST, FASHION_MNIST_TRAIN_IMAGES


class BuiltInData(NamedTuple):
    """A built-in data set: its spec, the button that takes it, and how the well names it."""

    spec: str
    button: str
    name: str


# Training reads the training split only: the count a trained model records.
FASHION = BuiltInData(
    FASHION_MNIST, "Use Fashion-MNIST", f"Fashion-MNIST ({FASHION_MNIST_TRAIN_IMAGES:,} clothing images)"
)


class DataWell(QWidget):
    """Holds a data-set spec (a folder path, a file `accepts_file` takes, or the built-in set's spec),
    remembered in `settings` under `key`; emits `changed(spec)`."""

    changed = Signal(str)

    def __init__(
        self,
        settings: QSettings,
        key: str,
        hint: str = "Drop a folder of your images here",
        built_in: BuiltInData = FASHION,
        files: tuple[str, Callable[[Path], bool]] | None = None,  # (dialog filter, which files it takes)
        folder_caption: str = "Choose a folder of images to learn from",
    ) -> None:
        super().__init__()
        self._settings, self._key, self._hint = settings, key, hint
        self._folder_caption = folder_caption
        self._built_in, self._files = built_in, files
        self.setAcceptDrops(True)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setStyleSheet(
            "QLabel { border: 2px dashed palette(mid); border-radius: 6px; padding: 10px; }"
        )
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.clicked.connect(self._choose_folder)
        self.built_in_button = QPushButton(built_in.button)
        self.built_in_button.clicked.connect(lambda: self.set_spec(built_in.spec))
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 0, 0, 1, 2)
        layout.addWidget(self.choose_button, 1, 0)
        layout.addWidget(self.built_in_button, 1, 1)
        if files is not None:
            self.file_button = QPushButton("Choose file…")
            self.file_button.clicked.connect(self._choose_file)
            layout.addWidget(self.file_button, 2, 0)
        self.spec = ""
        self.set_spec(str(settings.value(key, "")))

    def set_spec(self, spec: str) -> None:
        self.spec = spec
        self._settings.setValue(self._key, spec)
        name = self._built_in.name if spec == self._built_in.spec else spec
        self.label.setText(f"Data: {name}" if spec else self._hint)
        self.changed.emit(spec)

    def stem(self) -> str:
        """A short name of the data for naming a training run's folder."""
        return self.spec if self.spec == self._built_in.spec else Path(self.spec).name

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self._folder_caption)
        if folder:
            self.set_spec(folder)

    def _choose_file(self) -> None:
        assert self._files is not None
        name, _ = QFileDialog.getOpenFileName(self, "Choose a file", "", self._files[0])
        if name:
            self.set_spec(name)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            path = Path(urls[0].toLocalFile())
            if path.is_dir() or (self._files is not None and path.is_file() and self._files[1](path)):
                event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        self.set_spec(event.mimeData().urls()[0].toLocalFile())
