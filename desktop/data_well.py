"""Where a training set is chosen: drop a folder on it, choose one, or take Fashion-MNIST."""

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QGridLayout, QLabel, QPushButton, QWidget

from core.catalog import FASHION_MNIST, FASHION_MNIST_TRAIN_IMAGES


class DataWell(QWidget):
    """Holds a data-set spec for core.data.open_data_set (a folder path or FASHION_MNIST), remembered in
    `settings` under `key`; emits `changed(spec)`."""

    changed = Signal(str)

    def __init__(
        self, settings: QSettings, key: str, hint: str = "Drop a folder of your images here"
    ) -> None:
        super().__init__()
        self._settings, self._key, self._hint = settings, key, hint
        self.setAcceptDrops(True)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setStyleSheet(
            "QLabel { border: 2px dashed palette(mid); border-radius: 6px; padding: 10px; }"
        )
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.clicked.connect(self._choose_folder)
        self.fashion_button = QPushButton("Use Fashion-MNIST")
        self.fashion_button.clicked.connect(lambda: self.set_spec(FASHION_MNIST))
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 0, 0, 1, 2)
        layout.addWidget(self.choose_button, 1, 0)
        layout.addWidget(self.fashion_button, 1, 1)
        self.spec = ""
        self.set_spec(str(settings.value(key, "")))

    def set_spec(self, spec: str) -> None:
        self.spec = spec
        self._settings.setValue(self._key, spec)
        # Training reads the training split only: the count a trained model records.
        fashion = f"Fashion-MNIST ({FASHION_MNIST_TRAIN_IMAGES:,} clothing images)"
        name = fashion if spec == FASHION_MNIST else spec
        self.label.setText(f"Data: {name}" if spec else self._hint)
        self.changed.emit(spec)

    def stem(self) -> str:
        """A short name of the data for naming a training run's folder."""
        return "fashion-mnist" if self.spec == FASHION_MNIST else Path(self.spec).name

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images to learn from")
        if folder:
            self.set_spec(folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        self.set_spec(event.mimeData().urls()[0].toLocalFile())
