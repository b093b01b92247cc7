"""Style panel: styles with blend weights, method, quality and the controls an artist needs."""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QHideEvent, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
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
from core.jobs import ImageResult, Job, OneAtATime
from core.presets import Preset, StepShape
from core.style.batch import BatchJob
from core.style.colour import ColourTransferJob, KeepColours
from core.style.settings import FAST_STYLE_PRESETS, FAST_STYLE_STEPS, GatysSettings, StyleImage
from desktop.image_well import IMAGE_FILTER
from desktop.panels.base import NO_PICTURE, ModelPanel
from desktop.qimage import to_qimage
from desktop.training_presets import CUSTOM, PresetPicker, about
from desktop.workers import JobWorker

if TYPE_CHECKING:
    from core.style.gatys import GatysJob
    from core.training import StepSeconds

log = logging.getLogger(__name__)

THUMB = 48
WEIGHTS_KEY = "style/vgg_weights"  # a VGG weights file the user chose (Edit menu); empty: built-in chain
# Seconds per pixel-iteration (GatysSettings.pixel_iterations) on this device: measured once by a short
# probe (core.style.gatys.GatysTimingJob) when none is known, then by every optimisation that finishes,
# start to end (the latest run's, so a first run that also loaded the network is corrected by the next).
RATE_KEY = "style/seconds_per_pixel_iteration"
REFRESH_MS = 300  # how often a shown panel re-reads the canvas picture's size for the output line
# (size px, iterations at the coarsest scale, scales): about 15 s, 1 min and 5 min on a 2-core laptop CPU.
QUALITY_PRESETS = {"Draft": (256, 80, 2), "Good": (512, 100, 3), "Best": (1024, 150, 4)}
METHODS = {"optimise": "Optimise (best quality)", "fast": "Fast network", "colours": "Colours only"}
KEEP_COLOURS: dict[KeepColours, str] = {
    "off": "Take the style's colours",
    "luminance": "Keep the picture's colours (luminance)",
    "match": "Keep colours (recolour the styles)",
}
OPTIMISERS = {"lbfgs": "L-BFGS", "adam": "Adam"}
STARTS = {"content": "The picture", "noise": "Noise"}


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
        self.hint = QLabel("Drop a painting here")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet(
            "QLabel { border: 2px dashed palette(mid); border-radius: 6px; padding: 12px; }"
        )
        add_file = QPushButton("Add style…")
        add_file.clicked.connect(self._choose_file)
        self.builtin_menu = QMenu(self)
        for name in resources.BUILTIN_PALETTES:
            action = self.builtin_menu.addAction(name)
            action.triggered.connect(lambda _=False, n=name: self.add_builtin(n))
        self.builtin = QToolButton()
        self.builtin.setText("Add built-in style")
        self.builtin.setToolTip("The app's own procedural paintings")
        self.builtin.setMenu(self.builtin_menu)
        self.builtin.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.builtin.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        buttons = QHBoxLayout()
        buttons.addWidget(add_file, 1)
        buttons.addWidget(self.builtin, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
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
        self.hint.setVisible(False)
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
        self.hint.setVisible(not self.rows)
        self.changed.emit()

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
        self._busy = False
        self._timed: GatysJob | None = None  # the running optimisation, which measures this device
        self._device_ready = self._unmeasurable = False  # the warm-up has ended; the probe failed
        self._probe: JobWorker | None = None  # the timing probe, while it runs
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
        self.output_size.setToolTip("The long side of the stylization; it keeps the picture's aspect")
        self.iterations = _spin(1, 5000, 100, "", 10)
        self.scales = _spin(1, 6, 3, "", 1)
        self.strength = StrengthSlider()
        self.smoothing = _slider(0, 500, 100)
        self.brush = _slider(25, 400, 100)
        self.keep_colours = QComboBox()
        for key, label in KEEP_COLOURS.items():
            self.keep_colours.addItem(label, key)
        self.seed = _spin(0, 2**31 - 1, 0, "", 1)
        self.optimiser = QComboBox()
        for key, label in OPTIMISERS.items():
            self.optimiser.addItem(label, key)
        self.optimiser.setToolTip("How the pixels are optimised: L-BFGS (the classic method) or Adam")
        self.start_from = QComboBox()
        for key, label in STARTS.items():
            self.start_from.addItem(label, key)
        self.start_from.setToolTip("Optimise from the picture itself, or from noise (seeded)")
        self.output_info = QLabel()
        self.output_info.setAccessibleName("Output size")
        self.output_info.setWordWrap(True)
        self.stylize_button = QPushButton("Stylize")
        self.stylize_button.setDefault(True)
        self.stylize_button.clicked.connect(self.stylize)
        self.batch_button = QPushButton("Stylize a folder…")
        self.batch_button.clicked.connect(self._choose_batch_folder)
        self.train_button = QPushButton("Train on a folder of photos…")
        self.train_button.setToolTip(
            "Learns the first style from a folder of photos; then stylizes in one pass"
        )
        self.train_button.clicked.connect(self._choose_training_photos)
        self.train_steps = _spin(10, 100_000, FAST_STYLE_STEPS, " steps", 100)
        self.train_size = _spin(32, 2048, 256, " px", 32)
        self.train_size.setToolTip("Side of the square crops of the photos it learns on")
        self.train_batch = _spin(1, 64, 4, "", 1)
        self.train_batch.setToolTip("Crops per step")
        self.train_presets = PresetPicker(
            settings, "fast-style", FAST_STYLE_PRESETS, _style_step_seconds, self._asked_training
        )
        self.train_presets.applied.connect(self._apply_training_preset)
        for spin in (self.train_steps, self.train_size, self.train_batch):
            spin.valueChanged.connect(self.train_presets.controls_changed)
        self.train_presets.select_default()

        form = self.form = QFormLayout()
        form.addRow("Method", self.method)
        network_row = QHBoxLayout()
        network_row.addWidget(self.model, 1)
        network_row.addWidget(self.export_button)
        form.addRow("Network", network_row)
        self._network_row = network_row
        form.addRow("Quality", self.quality)
        form.addRow("Size", self.output_size)
        form.addRow("Iterations", self.iterations)
        form.addRow("Scales", self.scales)
        self._strength_row, self._smoothing_row = (
            _with_percent(self.strength, self.strength.percent),
            _with_percent(self.smoothing),
        )
        form.addRow("Style strength", self._strength_row)
        form.addRow("Smoothing", self._smoothing_row)
        self._brush_row = _with_percent(self.brush)
        form.addRow("Brush size", self._brush_row)
        form.addRow("Colours", self.keep_colours)
        self.advanced_box = QGroupBox("Advanced")
        advanced = QFormLayout(self.advanced_box)
        advanced.addRow("Optimiser", self.optimiser)
        advanced.addRow("Start from", self.start_from)
        advanced.addRow("Seed", self.seed)
        styles_box = QGroupBox("Styles")
        QVBoxLayout(styles_box).addWidget(self.wells)
        self.training_box = QGroupBox("Train a fast network")
        training = QFormLayout(self.training_box)
        training.addRow("Preset", self.train_presets)
        training.addRow("Length", self.train_steps)
        training.addRow("Crop size", self.train_size)
        training.addRow("Batch", self.train_batch)
        training.addRow(self.train_button)
        layout = QVBoxLayout(self)
        layout.addWidget(styles_box)
        layout.addLayout(form)
        layout.addWidget(self.advanced_box)
        layout.addWidget(self.output_info)
        layout.addWidget(self.stylize_button)
        layout.addWidget(self.batch_button)
        layout.addWidget(self.training_box)
        layout.addStretch(1)
        self.refresh_models()
        self._restore()
        self._update_enabled()
        for spin in (self.output_size, self.iterations, self.scales):
            spin.valueChanged.connect(self.update_output_info)
        self.method.currentIndexChanged.connect(self.update_output_info)
        self._refresh = QTimer(self)  # the canvas picture changes without telling panels (undo, results)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self.update_output_info)
        self.update_output_info()

    # --- the ModelPanel interface --------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        if busy and self._probe is not None:
            self._probe.cancel()  # it would slow the artist's job and be slowed by it; that job measures
        elif not busy and self._device_ready:
            self.device_ready()  # a probe a job cancelled runs again, unless that job measured the device
        for button in (self.stylize_button, self.batch_button, self.train_button):
            button.setEnabled(not busy)
        self.train_presets.set_busy(busy)

    def set_model(self, model: TrainedModel) -> None:
        """A fast network picked in the model picker: stylize with it."""
        self.refresh_models()
        self.method.setCurrentIndex(self.method.findData("fast"))
        self.model.setCurrentIndex(max(0, self.model.findData(str(model.path))))

    def models_changed(self) -> None:
        self.refresh_models()

    def edit_actions(self) -> list[QAction]:
        return self._edit_actions

    def picture_opened(self) -> None:
        self.update_output_info()

    def job_finished(self, result: object) -> None:
        """A finished optimisation measures this device: its seconds per pixel-iteration are remembered
        for the time estimate (the latest run's)."""
        timed, self._timed = self._timed, None
        if timed is not None and timed.seconds_per_pixel_iteration is not None:
            self._settings.setValue(RATE_KEY, timed.seconds_per_pixel_iteration)
        self.update_output_info()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.update_output_info()
        self._refresh.start()

    def close_down(self) -> None:
        self.train_presets.close_down()
        if self._probe is not None:
            self._probe.cancel()
            self._probe.wait(10_000)

    def device_ready(self) -> None:
        """Time a short optimisation in the background once, when no rate is known for the estimate."""
        from core.style.gatys import GatysTimingJob

        self._device_ready = True
        known = self._settings.value(RATE_KEY) is not None or self._unmeasurable
        if known or self._probe is not None or self._busy:
            self.train_presets.device_ready()  # when this probe has ended: two would time each other
            return
        job = OneAtATime(GatysTimingJob(self.gatys_settings("off").weights_file))
        self._probe = JobWorker(job, self)
        self._probe.finished.connect(self._measured)
        self._probe.failed.connect(self._probe_failed)
        self._probe.released.connect(self._probe_released)
        self._probe.start()
        self.update_output_info()

    def _measured(self, rate: object, _image: object) -> None:
        if self._settings.value(RATE_KEY) is None:  # a real run that ended meanwhile knows better
            self._settings.setValue(RATE_KEY, float(rate))  # type: ignore[arg-type]
        self.update_output_info()

    def _probe_failed(self, message: str) -> None:
        """No estimate before the first run then (no offline VGG weights to time with, say): that run
        measures the device."""
        log.warning("timing style transfer failed: %s", message)
        self._unmeasurable = True

    def _probe_released(self) -> None:
        self._probe = None
        self.update_output_info()
        self.train_presets.device_ready()

    def hideEvent(self, event: QHideEvent) -> None:
        self._refresh.stop()
        super().hideEvent(event)

    # --- jobs ----------------------------------------------------------------------------------------

    def stylize(self) -> None:
        """Stylize the canvas picture, as an edit of it."""
        picture = self.canvas_picture()
        if picture is None:
            self.problem.emit(*NO_PICTURE)
            return
        make_job = self.job_factory()
        if make_job is None:
            return
        from core.style.gatys import GatysJob

        idle, job = not self._busy, make_job(picture)
        self._timed = None
        self.job_requested.emit(job, True)
        if idle and self._busy and isinstance(job, GatysJob):  # the window started it
            self._timed = job

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
            job = FastStyleTrainingJob(
                style.image, photos, out, steps=self.train_steps.value(), image_size=self.train_size.value(),
                batch_size=self.train_batch.value(), style_name=name,
            )  # fmt: skip
        except UserError as exc:
            self.problem.emit("Cannot train on this folder", str(exc))
            return
        self.train_presets.watch(job)
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
                self.error.emit("No fast network yet: train one first (Train a fast network, below).")
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
            style_strength=self.strength.percent() / 100,
            smoothing=self.smoothing.value() / 100,
            style_scale=self.brush.value() / 100,
            optimiser=self.optimiser.currentData(),
            init=self.start_from.currentData(),
            keep_colours=keep,
            seed=self.seed.value(),
            weights_file=str(self._settings.value(WEIGHTS_KEY, "")) or None,
        )

    def expected_output_size(self) -> tuple[int, int] | None:
        """(width, height) of what Stylize will return for the canvas picture; None without one."""
        picture = self.canvas_picture()
        if picture is None:
            return None
        if self.method.currentData() != "optimise":
            return picture.size  # a fast network and a colour transfer keep the picture's size
        return self.gatys_settings("off").output_size(picture.size)

    def update_output_info(self) -> None:
        """The output line: the size Stylize will return and, once this device has been measured, about
        how long it takes."""
        picture = self.canvas_picture()
        size = self.expected_output_size()
        if picture is None or size is None:
            text = "Output: open a picture to see its size"
        else:
            text = f"Output {size[0]} x {size[1]} px"
            rate = self._settings.value(RATE_KEY)
            if self.method.currentData() == "optimise" and rate is not None:
                seconds = float(rate) * self.gatys_settings("off").pixel_iterations(picture.size)
                text += f" · {about(seconds)} on this device"
            elif self.method.currentData() == "optimise" and self._probe is not None:
                text += " · timing this device…"
        if self.output_info.text() != text:
            self.output_info.setText(text)

    def refresh_models(self) -> None:
        current = self.model.currentData()
        self.model.clear()
        for model in scan_models(paths.models_dir()).models:
            if model.info.kind is ModelKind.FAST_STYLE:
                self.model.addItem(model.name, str(model.path))
        self.model.setCurrentIndex(max(0, self.model.findData(current)))

    # --- controls ------------------------------------------------------------------------------------

    def _asked_training(self) -> Preset:
        """The fast network training the controls describe."""
        shape = StepShape(self.train_size.value(), self.train_batch.value())
        return Preset(CUSTOM, self.train_steps.value(), shape)

    def _apply_training_preset(self, preset: Preset) -> None:
        self.train_steps.setValue(preset.steps)
        self.train_size.setValue(preset.shape.size)
        self.train_batch.setValue(preset.shape.batch_size)

    def _apply_quality(self) -> None:
        preset = QUALITY_PRESETS.get(self.quality.currentText())
        if preset is not None:
            size, iterations, scales = preset
            self.output_size.setValue(size)
            self.iterations.setValue(iterations)
            self.scales.setValue(scales)

    def _update_enabled(self) -> None:
        """Only the settings of the chosen method are shown (a fast network has no quality or
        iterations; only it has a network to pick)."""
        method = self.method.currentData()
        optimise = method == "optimise"
        rows = (self.quality, self.output_size, self.iterations, self.scales, self._strength_row)
        for row in (*rows, self._smoothing_row, self._brush_row):
            self.form.setRowVisible(row, optimise)
        self.advanced_box.setVisible(optimise)
        self.form.setRowVisible(self._network_row, method == "fast")
        self.form.setRowVisible(self.keep_colours, method != "colours")
        self.export_button.setEnabled(method == "fast" and self.model.count() > 0)

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
        s.setValue("style/strength", self.strength.percent())
        for key, slider in (("smoothing", self.smoothing), ("brush", self.brush)):
            s.setValue(f"style/{key}", slider.value())
        s.setValue("style/keep_colours", self.keep_colours.currentData())
        s.setValue("style/optimiser", self.optimiser.currentData())
        s.setValue("style/init", self.start_from.currentData())
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
        self.strength.set_percent(int(s.value("style/strength", 100)))  # type: ignore[call-overload]
        for key, slider in (("smoothing", self.smoothing), ("brush", self.brush)):
            slider.setValue(int(s.value(f"style/{key}", slider.value())))  # type: ignore[call-overload]
        self.keep_colours.setCurrentIndex(
            max(0, self.keep_colours.findData(s.value("style/keep_colours", "off")))
        )
        default = GatysSettings()
        for combo, key, value in (
            (self.optimiser, "style/optimiser", default.optimiser),
            (self.start_from, "style/init", default.init),
        ):
            combo.setCurrentIndex(max(0, combo.findData(s.value(key, value))))
        self.seed.setValue(int(s.value("style/seed", 0)))  # type: ignore[call-overload]


def _style_step_seconds() -> "StepSeconds":
    from core.style.training import step_seconds

    return step_seconds


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


class StrengthSlider(QSlider):
    """The style strength on a log scale, in percent: the track's middle is 100 % (the balanced default),
    its ends 10 % and 1000 % (full abstraction even for pairs far apart in style), so a tenfold change
    either way is half the track; the far left is 0 % (the photo). `value()` is the track position."""

    POSITIONS = 200

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.setRange(0, self.POSITIONS)
        self.setAccessibleName("Style strength")
        # A screen reader reads the track position; the description carries the percent.
        self.valueChanged.connect(lambda _: self.setAccessibleDescription(f"{self.percent()} percent"))
        self.set_percent(100)

    def percent(self) -> int:
        position = self.value()
        return 0 if position == 0 else round(10 * 100 ** (position / self.POSITIONS))

    def set_percent(self, percent: int) -> None:
        position = self.POSITIONS * math.log(max(percent, 10) / 10, 100)
        self.setValue(0 if percent <= 0 else max(1, round(position)))


def _with_percent(slider: QSlider, percent: Callable[[], int] | None = None) -> QWidget:
    """`slider` with its value in percent (`percent()`, by default the position) shown beside it."""
    row = QWidget()
    read = percent or slider.value
    label = QLabel(f"{read()}%")
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance("1000%"))
    slider.valueChanged.connect(lambda _: label.setText(f"{read()}%"))
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(slider, 1)
    layout.addWidget(label)
    return row
