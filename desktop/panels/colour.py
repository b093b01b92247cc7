"""Colour transfer panel: pick a palette image, a mode and a strength, apply to the canvas picture."""

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

import resources
from core.catalog import Tool
from core.images import load_image
from core.style.colour import ColourMode, ColourTransferJob
from desktop.image_well import ImageWell
from desktop.panels.base import NO_PICTURE, ModelPanel

MODE_LABELS: dict[ColourMode, str] = {
    "reinhard": "Colour statistics (Reinhard)",
    "covariance": "Full colour covariance",
    "luminance": "Luminance only (keep colours)",
}


class ColourPanel(ModelPanel):
    """Apply colours: a colour transfer of the canvas picture, as an edit of it."""

    tools = (Tool.COLOUR_TRANSFER,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        intro = QLabel("Give the picture on the canvas the colours of another image.")
        intro.setWordWrap(True)
        self.palette_well = ImageWell("Drop a palette image here\nor click to choose")
        self.palette_well.error.connect(self.error)
        self.palette_well.changed.connect(self._remember_palette)
        self.builtin = QComboBox()
        self.builtin.addItem("Choose…", None)
        for name in resources.BUILTIN_PALETTES:
            self.builtin.addItem(name, name)
        self.builtin.activated.connect(self._choose_builtin)
        self.mode = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode.addItem(label, mode)
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 100)
        self.strength_label = QLabel()
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText(f"{v}%"))
        self.apply_button = QPushButton("Apply colours")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.apply)

        form = QFormLayout()
        form.addRow("Built-in palette", self.builtin)
        form.addRow("Mode", self.mode)
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength, 1)
        strength_row.addWidget(self.strength_label)
        form.addRow("Strength", strength_row)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.palette_well)
        layout.addLayout(form)
        layout.addWidget(self.apply_button)
        layout.addStretch(1)
        self._restore()

    def set_busy(self, busy: bool) -> None:
        self.apply_button.setEnabled(not busy)

    def apply(self) -> None:
        picture = self.canvas_picture()
        if picture is None:
            self.problem.emit(*NO_PICTURE)
            return
        job = self.make_job(picture)
        if job is not None:
            self.job_requested.emit(job, True)

    def make_job(self, content: Image.Image) -> ColourTransferJob | None:
        if self.palette_well.image is None:
            self.error.emit("Choose a palette image first: drop one on the palette well or pick a built-in.")
            return None
        self._settings.setValue("colour/mode", self.mode.currentData())
        self._settings.setValue("colour/strength", self.strength.value())
        return ColourTransferJob(
            content, self.palette_well.image, self.mode.currentData(), self.strength.value() / 100
        )

    def _choose_builtin(self, index: int) -> None:
        name = self.builtin.itemData(index)
        if name is not None:
            self._load_builtin(name)

    def _load_builtin(self, name: str) -> None:
        with resources.image_path(resources.BUILTIN_PALETTES[name]) as path:
            self.palette_well.set_image(load_image(path), name)

    def _remember_palette(self) -> None:
        self._settings.setValue("colour/palette", self.palette_well.source)
        index = self.builtin.findData(self.palette_well.source)
        self.builtin.setCurrentIndex(max(0, index))

    def _restore(self) -> None:
        mode = self._settings.value("colour/mode", "reinhard")
        self.mode.setCurrentIndex(max(0, self.mode.findData(mode)))
        self.strength.setValue(int(self._settings.value("colour/strength", 100)))  # type: ignore[call-overload]
        self.strength_label.setText(f"{self.strength.value()}%")
        source = str(self._settings.value("colour/palette", ""))
        if not (Path(source).is_file() and self.palette_well.load(Path(source))):
            self._load_builtin(source if source in resources.BUILTIN_PALETTES else "Dusk")
