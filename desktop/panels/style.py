"""Style panel: styles with blend weights, method, quality and the controls an artist needs."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

import resources
from core import paths
from core.catalog import Tool, TrainedModel, scan_models
from core.checkpoints import SUFFIX, ModelKind
from core.errors import ImageError, UserError
from core.export import OnnxExportJob
from core.images import load_image
from core.jobs import ImageResult, Job
from core.style.batch import BatchJob
from core.style.colour import ColourTransferJob, KeepColours
from core.style.settings import GatysSettings, StyleImage
from desktop.image_well import IMAGE_FILTER
from desktop.panels.base import NO_PICTURE, ModelPanel
from desktop.qimage import to_qimage

THUMB = 48
WEIGHTS_KEY = "style/vgg_weights"  # a VGG weights file the user chose (Edit menu); empty: built-in chain
# (size px, iterations at the coarsest scale, scales): about 15 s, 1 min and 5 min on a 2-core laptop CPU.
QUALITY_PRESETS = {"Draft": (256, 80, 2), "Good": (512, 100, 3), "Best": (1024, 150, 4)}
METHODS = {"optimise": "Optimise (best quality)", "fast": "Fast network", "colours": "Colours only"}
KEEP_COLOURS: dict[KeepColours, str] = {
    "off": "Take the style's colours",
    "luminance": "Keep the picture's colours (luminance)",
    "match": "Keep colours (recolour the styles)",
}


@dataclass
class _StyleRow:
    widget: QWidget
    image: Image.Image
    name: str
    weight: QDoubleSpinBox


class StyleWells(QWidget):
    """The styles to paint with: drop images here (several blend by weight)."""

    changed = Signal()
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.rows: list[_StyleRow] = []
        self._rows_layout = QVBoxLayout()
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self._hint = QLabel("Drop paintings here, or add one below")
        self._hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._hint.setStyleSheet(
            "QLabel { border: 2px dashed palette(mid); border-radius: 6px; padding: 12px; }"
        )
        add_file = QPushButton("Add style…")
        add_file.clicked.connect(self._choose_file)
        self.builtin = QComboBox()
        self.builtin.addItem("Add built-in…", None)
        for name in resources.BUILTIN_PALETTES:
            self.builtin.addItem(name, name)
        self.builtin.activated.connect(self._add_builtin)
        buttons = QHBoxLayout()
        buttons.addWidget(add_file)
        buttons.addWidget(self.builtin)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._hint)
        layout.addLayout(self._rows_layout)
        layout.addLayout(buttons)

    def styles(self) -> list[StyleImage]:
        return [StyleImage(row.image, row.weight.value(), row.name) for row in self.rows]

    def add(self, image: Image.Image, name: str, weight: float = 1.0) -> None:
        row_widget = QWidget()
        thumb = image.copy()
        thumb.thumbnail((THUMB, THUMB))
        picture = QLabel()
        picture.setPixmap(QPixmap.fromImage(to_qimage(thumb)))
        picture.setFixedSize(THUMB, THUMB)
        label = QLabel(name)
        label.setToolTip(name)
        spin = QDoubleSpinBox()
        spin.setRange(0.0, 10.0)
        spin.setSingleStep(0.1)
        spin.setValue(weight)
        spin.setToolTip("Blend weight of this style")
        spin.valueChanged.connect(self.changed)
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip(f"Remove {name}")
        row = _StyleRow(row_widget, image, name, spin)
        remove.clicked.connect(lambda: self._remove(row))
        line = QHBoxLayout(row_widget)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(picture)
        line.addWidget(label, 1)
        line.addWidget(spin)
        line.addWidget(remove)
        self.rows.append(row)
        self._rows_layout.addWidget(row_widget)
        self._hint.setVisible(False)
        self.changed.emit()

    def add_file(self, path: Path) -> bool:
        try:
            image = load_image(path)
        except ImageError as exc:
            self.error.emit(str(exc))
            return False
        self.add(image, path.stem)
        return True

    def add_builtin(self, name: str) -> None:
        with resources.image_path(resources.BUILTIN_PALETTES[name]) as path:
            self.add(load_image(path), name)

    def clear(self) -> None:
        for row in list(self.rows):
            self._remove(row)

    def _remove(self, row: _StyleRow) -> None:
        self.rows.remove(row)
        row.widget.deleteLater()
        self._hint.setVisible(not self.rows)
        self.changed.emit()

    def _add_builtin(self, index: int) -> None:
        name = self.builtin.itemData(index)
        if name is not None:
            self.add_builtin(name)
        self.builtin.setCurrentIndex(0)

    def _choose_file(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Choose style images", "", IMAGE_FILTER)
        for name in names:
            self.add_file(Path(name))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.add_file(Path(url.toLocalFile()))


class StylePanel(ModelPanel):
    """Stylize the canvas picture or a folder of pictures (optimisation, a trained fast network or colours
    only), train a fast network on a folder of photos, export one to ONNX."""

    tools = (Tool.STYLIZE,)
    kinds = (ModelKind.FAST_STYLE,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        choose_weights = QAction("Choose VGG &Weights File…", self)
        choose_weights.triggered.connect(self._choose_vgg_weights)
        builtin_weights = QAction("Use &Built-in VGG Weights", self)
        builtin_weights.triggered.connect(lambda: self._settings.remove(WEIGHTS_KEY))
        self._edit_actions = [choose_weights, builtin_weights]
        self.wells = StyleWells()
        self.wells.error.connect(self.error)
        self.method = QComboBox()
        for key, label in METHODS.items():
            self.method.addItem(label, key)
        self.method.currentIndexChanged.connect(self._update_enabled)
        self.model = QComboBox()
        self.model.setToolTip("A fast style network you trained (Train below)")
        self.export_button = QToolButton()
        self.export_button.setText("ONNX…")
        self.export_button.setToolTip("Export this network to ONNX, checked against PyTorch")
        self.export_button.clicked.connect(self._export)
        self.quality = QComboBox()
        self.quality.addItems([*QUALITY_PRESETS, "Custom"])
        self.quality.activated.connect(self._apply_quality)
        self.output_size = _spin(64, 8192, 512, " px", 64)
        self.iterations = _spin(1, 5000, 100, "", 10)
        self.scales = _spin(1, 6, 3, "", 1)
        self.strength = _slider(0, 300, 100)
        self.smoothing = _slider(0, 500, 100)
        self.brush = _slider(25, 400, 100)
        self.keep_colours = QComboBox()
        for key, label in KEEP_COLOURS.items():
            self.keep_colours.addItem(label, key)
        self.seed = _spin(0, 2**31 - 1, 0, "", 1)
        self.stylize_button = QPushButton("Stylize")
        self.stylize_button.setDefault(True)
        self.stylize_button.clicked.connect(self.stylize)
        self.batch_button = QPushButton("Stylize a folder…")
        self.batch_button.clicked.connect(self._choose_batch_folder)
        self.train_button = QPushButton("Train a fast network…")
        self.train_button.setToolTip(
            "Learns the first style from a folder of photos; then stylizes in one pass"
        )
        self.train_button.clicked.connect(self._choose_training_photos)
        self.train_steps = _spin(10, 100_000, 2000, " steps", 100)

        form = QFormLayout()
        form.addRow("Method", self.method)
        network_row = QHBoxLayout()
        network_row.addWidget(self.model, 1)
        network_row.addWidget(self.export_button)
        form.addRow("Network", network_row)
        form.addRow("Quality", self.quality)
        form.addRow("Size", self.output_size)
        form.addRow("Iterations", self.iterations)
        form.addRow("Scales", self.scales)
        form.addRow("Style strength", _with_percent(self.strength))
        form.addRow("Smoothing", _with_percent(self.smoothing))
        form.addRow("Brush size", _with_percent(self.brush))
        form.addRow("Colours", self.keep_colours)
        form.addRow("Seed", self.seed)
        form.addRow("Training", self.train_steps)
        styles_box = QGroupBox("Styles")
        QVBoxLayout(styles_box).addWidget(self.wells)
        layout = QVBoxLayout(self)
        layout.addWidget(styles_box)
        layout.addLayout(form)
        layout.addWidget(self.stylize_button)
        layout.addWidget(self.batch_button)
        layout.addWidget(self.train_button)
        layout.addStretch(1)
        self.refresh_models()
        self._restore()
        self._update_enabled()

    # --- the ModelPanel interface --------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        for button in (self.stylize_button, self.batch_button, self.train_button):
            button.setEnabled(not busy)

    def set_model(self, model: TrainedModel) -> None:
        """A fast network picked in the model picker: stylize with it."""
        self.refresh_models()
        self.method.setCurrentIndex(self.method.findData("fast"))
        self.model.setCurrentIndex(max(0, self.model.findData(str(model.path))))

    def models_changed(self) -> None:
        self.refresh_models()

    def edit_actions(self) -> list[QAction]:
        return self._edit_actions

    # --- jobs ----------------------------------------------------------------------------------------

    def stylize(self) -> None:
        """Stylize the canvas picture, as an edit of it."""
        picture = self.canvas_picture()
        if picture is None:
            self.problem.emit(*NO_PICTURE)
            return
        make_job = self.job_factory()
        if make_job is not None:
            self.job_requested.emit(make_job(picture), True)

    def stylize_folder(self, folder: Path) -> None:
        """Stylize every picture in `folder` into a sibling folder "<name> stylized"."""
        make_job = self.job_factory()
        if make_job is None:
            return
        out = folder.parent / f"{folder.name} stylized"
        try:
            job = BatchJob(folder, out, make_job)
        except UserError as exc:
            self.problem.emit("Cannot stylize this folder", str(exc))
            return
        self.status.emit(f"Stylizing {len(job.pictures)} pictures into {out}")
        self.job_requested.emit(job, False)

    def start_training(self, style: StyleImage, photos: Path) -> None:
        """Train a fast network for `style` on the photos in the folder `photos`."""
        from core.style.training import FastStyleTrainingJob

        name = style.name or "style"
        out = paths.new_run_folder(name, SUFFIX)
        try:
            steps = self.train_steps.value()
            job = FastStyleTrainingJob(style.image, photos, out, steps=steps, style_name=name)
        except UserError as exc:
            self.problem.emit("Cannot train on this folder", str(exc))
            return
        self.job_requested.emit(job, False)

    def export_onnx(self, model: Path) -> None:
        """Export the fast network `model` to an ONNX file the user names."""
        name, _ = QFileDialog.getSaveFileName(
            self, "Export to ONNX", str(model.with_suffix(".onnx")), "ONNX model (*.onnx)"
        )
        if name:
            from core.style.fast import export_onnx

            self.job_requested.emit(OnnxExportJob(export_onnx, model, Path(name)), False)

    def job_factory(self) -> Callable[[Image.Image], Job[ImageResult]] | None:
        """What the controls describe, as picture -> job (one picture or a folder of them); None after
        reporting what is missing."""
        method = self.method.currentData()
        keep: KeepColours = self.keep_colours.currentData()
        self._remember()
        if method == "fast":
            model = self.model.currentData()
            if model is None:
                self.error.emit("No fast network yet: train one first (Train a fast network…).")
                return None
            from core.style.fast import FastStyleJob

            return lambda content: FastStyleJob(content, Path(model), keep_colours=keep)
        styles = self.wells.styles()
        if not styles:
            self.error.emit("Add a style first: drop a painting on the Styles box or pick a built-in.")
            return None
        if method == "colours":
            return lambda content: ColourTransferJob(content, styles[0].image, "reinhard")
        from core.style.gatys import GatysJob

        settings = self.gatys_settings(keep)
        return lambda content: GatysJob(content, styles, settings)

    def gatys_settings(self, keep: KeepColours) -> GatysSettings:
        return GatysSettings(
            size=self.output_size.value(),
            iterations=self.iterations.value(),
            scales=self.scales.value(),
            style_strength=self.strength.value() / 100,
            smoothing=self.smoothing.value() / 100,
            style_scale=self.brush.value() / 100,
            keep_colours=keep,
            seed=self.seed.value(),
            weights_file=str(self._settings.value(WEIGHTS_KEY, "")) or None,
        )

    def refresh_models(self) -> None:
        current = self.model.currentData()
        self.model.clear()
        for model in scan_models(paths.models_dir()).models:
            if model.info.kind is ModelKind.FAST_STYLE:
                self.model.addItem(model.name, str(model.path))
        self.model.setCurrentIndex(max(0, self.model.findData(current)))

    # --- controls ------------------------------------------------------------------------------------

    def _apply_quality(self) -> None:
        preset = QUALITY_PRESETS.get(self.quality.currentText())
        if preset is not None:
            size, iterations, scales = preset
            self.output_size.setValue(size)
            self.iterations.setValue(iterations)
            self.scales.setValue(scales)

    def _update_enabled(self) -> None:
        method = self.method.currentData()
        optimise = method == "optimise"
        for widget in (
            self.quality,
            self.output_size,
            self.iterations,
            self.scales,
            self.strength,
            self.smoothing,
        ):
            widget.setEnabled(optimise)
        for widget in (self.brush, self.seed):
            widget.setEnabled(optimise)
        self.model.setEnabled(method == "fast")
        self.export_button.setEnabled(method == "fast" and self.model.count() > 0)
        self.keep_colours.setEnabled(method != "colours")

    def _export(self) -> None:
        model = self.model.currentData()
        if model is not None:
            self.export_onnx(Path(model))

    def _choose_batch_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of photos to stylize")
        if folder:
            self.stylize_folder(Path(folder))

    def _choose_training_photos(self) -> None:
        styles = self.wells.styles()
        if not styles:
            self.problem.emit("No style", "Add the style to learn first: drop a painting on the Styles box.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of photos to learn from")
        if folder:
            self.start_training(styles[0], Path(folder))

    def _choose_vgg_weights(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Choose VGG16/19 weights", "", "VGG weights (*.safetensors *.pth *.pt)"
        )
        if name:
            self._settings.setValue(WEIGHTS_KEY, name)

    def _remember(self) -> None:
        s = self._settings
        s.setValue("style/method", self.method.currentData())
        s.setValue("style/quality", self.quality.currentText())
        for key, spin in (
            ("size", self.output_size),
            ("iterations", self.iterations),
            ("scales", self.scales),
        ):
            s.setValue(f"style/{key}", spin.value())
        for key, slider in (
            ("strength", self.strength),
            ("smoothing", self.smoothing),
            ("brush", self.brush),
        ):
            s.setValue(f"style/{key}", slider.value())
        s.setValue("style/keep_colours", self.keep_colours.currentData())
        s.setValue("style/seed", self.seed.value())

    def _restore(self) -> None:
        s = self._settings
        self.method.setCurrentIndex(max(0, self.method.findData(s.value("style/method", "optimise"))))
        self.quality.setCurrentText(str(s.value("style/quality", "Good")))
        self._apply_quality()
        for key, spin in (
            ("size", self.output_size),
            ("iterations", self.iterations),
            ("scales", self.scales),
        ):
            spin.setValue(int(s.value(f"style/{key}", spin.value())))  # type: ignore[call-overload]
        for key, slider in (
            ("strength", self.strength),
            ("smoothing", self.smoothing),
            ("brush", self.brush),
        ):
            slider.setValue(int(s.value(f"style/{key}", slider.value())))  # type: ignore[call-overload]
        self.keep_colours.setCurrentIndex(
            max(0, self.keep_colours.findData(s.value("style/keep_colours", "off")))
        )
        self.seed.setValue(int(s.value("style/seed", 0)))  # type: ignore[call-overload]
        self.wells.add_builtin("Dusk")  # a first run works with no files at hand


def _spin(low: int, high: int, value: int, suffix: str, step: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


def _slider(low: int, high: int, value: int) -> QSlider:
    """A percentage slider (value 100 = the default)."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    return slider


def _with_percent(slider: QSlider) -> QWidget:
    """`slider` with its value shown beside it."""
    row = QWidget()
    label = QLabel(f"{slider.value()}%")
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance("500%"))
    slider.valueChanged.connect(lambda v: label.setText(f"{v}%"))
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(slider, 1)
    layout.addWidget(label)
    return row
