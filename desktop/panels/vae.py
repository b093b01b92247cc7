"""VAE panel: train on a folder (or Fashion-MNIST); reconstruct, morph between two pictures, sample, and
move sliders along the latent dimensions the model uses, decoded live."""

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import paths
from core.catalog import Tool, TrainedModel
from core.checkpoints import ModelKind
from core.jobs import ImageResult
from core.vae.settings import PRESETS, SIZES
from desktop.data_well import DataWell
from desktop.image_well import ImageWell
from desktop.panels.base import ModelPanel, spin_box
from desktop.training_presets import OwnSize, PresetPicker, RunControls
from desktop.workers import LatestJobWorker

if TYPE_CHECKING:
    from core.training import StepSeconds
    from core.vae.jobs import DecodeJob

SLIDERS = 8  # the most-used latent dimensions get a slider each
SLIDER_RANGE = 3.0  # +- prior standard deviations
SLIDER_STEPS = 100  # slider ticks per standard deviation
EXPLORE_VIEW = 192  # px: the live decode, scaled up from the model's size
CLOSE_WAIT_MS = 5000


def slider_text(position: int) -> str:
    """A slider's position as its label shows it: the offset in prior standard deviations."""
    offset = position / SLIDER_STEPS
    return f"{offset:+.2f}" if offset else "0.00"


class VaePanel(ModelPanel):
    """Train (and resume); reconstruct picture A, morph A into B, sample; explore the latent space around
    A (or the seed's sample) with sliders, decoded live on one background worker."""

    tools = (Tool.TRAIN_VAE,)
    kinds = (ModelKind.VAE,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: Path | None = None
        self._busy = False
        self._live: LatestJobWorker | None = None  # live slider decodes, apart from the window's job slot
        self._decoder: DecodeJob | None = None  # the latest decode asked for, until it has ended
        self._dimensions: list[int] = []

        self.data = DataWell(settings, "vae/data")
        self.image_size = QComboBox()
        for side in SIZES:
            self.image_size.addItem(f"{side} px", side)
        self.image_size.setCurrentIndex(self.image_size.findData(64))
        self.latent = spin_box(2, 512, 32)
        self.latent.setToolTip("Latent dimensions: how much the code can hold")
        self.beta = QDoubleSpinBox()
        self.beta.setRange(0.1, 20.0)
        self.beta.setSingleStep(0.5)
        self.beta.setValue(1.0)
        self.beta.setToolTip("KL weight (beta-VAE): above 1 gives smoother, more separate directions")
        self.steps = spin_box(10, 1_000_000, 3000, 100)
        self.net_width = spin_box(8, 128, 32, 8)
        self.net_width.setToolTip("Network width: 16-32 trains at a usable speed on a CPU")
        self.batch = spin_box(1, 1024, 128, 16)
        self.batch.setToolTip("Pictures per step")
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(lambda: self._train(None))
        self.resume_button = QPushButton("Resume selected")
        self.resume_button.clicked.connect(lambda: self._train(self.model))
        self.run_controls = RunControls(self.image_size, self.steps, self.net_width, self.batch)
        asked = self.run_controls.asked
        self.own_size = OwnSize(self.data, SIZES, self.image_size)
        self.presets = PresetPicker(settings, "vae", PRESETS, _step_seconds, asked, self.own_size)
        self.run_controls.follow(self.presets)
        self.presets.select_default()
        self.own_size.follow(self.presets)

        self.model_label = QLabel("No VAE selected: train one, or pick one in the model list.")
        self.model_label.setWordWrap(True)
        self.well_a = ImageWell("Drop picture A")
        self.well_b = ImageWell("Drop picture B")
        for well in (self.well_a, self.well_b):
            well.setMinimumSize(100, 90)
            well.setMaximumHeight(120)
            well.error.connect(self.error)
        self.well_a.changed.connect(self._explore)
        self.well_b.changed.connect(self._update_buttons)
        self.reconstruct_button = QPushButton("Reconstruct A")
        self.reconstruct_button.clicked.connect(self._reconstruct)
        self.frames = spin_box(2, 64, 10)
        self.interpolate_button = QPushButton("Interpolate A → B")
        self.interpolate_button.clicked.connect(lambda: self._interpolate(None))
        self.gif_button = QPushButton("Save A → B as GIF…")
        self.gif_button.clicked.connect(self._choose_gif)
        self.count = spin_box(1, 256, 16)
        self.seed = spin_box(0, 2**31 - 1, 0)
        self.seed.valueChanged.connect(self._explore)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.1, 3.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.temperature.setToolTip("Below 1: cleaner, more typical pictures; above 1: wilder")
        self.sample_button = QPushButton("Sample to canvas")
        self.sample_button.clicked.connect(self._sample)

        self.explore_view = QLabel()
        self.explore_view.setFixedSize(EXPLORE_VIEW, EXPLORE_VIEW)
        self.explore_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.explore_view.setStyleSheet("QLabel { border: 1px solid palette(mid); }")
        self.directions_label = QLabel("Directions, most used first:")
        self.directions_label.setToolTip(
            "Each slider moves along one direction of the model's latent space, in standard deviations of "
            "its prior; the first is the one the model uses most."
        )
        self.sliders: list[QSlider] = []
        self._slider_labels: list[QLabel] = []
        self.slider_values: list[QLabel] = []  # each slider's position, as a number
        self.slider_resets: list[QToolButton] = []
        slider_grid = QGridLayout()
        slider_grid.setColumnStretch(1, 1)
        for row in range(SLIDERS):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(round(-SLIDER_RANGE * SLIDER_STEPS), round(SLIDER_RANGE * SLIDER_STEPS))
            slider.valueChanged.connect(self._explore)
            label = QLabel(f"direction {row + 1}")
            value = QLabel()
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance(slider_text(slider.minimum())))
            value.setText(slider_text(0))
            slider.valueChanged.connect(lambda position, shown=value: shown.setText(slider_text(position)))
            reset = QToolButton()
            reset.setText("↺")
            reset.setToolTip(f"Put direction {row + 1} back to 0")
            reset.clicked.connect(lambda _=False, moved=slider: moved.setValue(0))
            slider_grid.addWidget(label, row, 0)
            slider_grid.addWidget(slider, row, 1)
            slider_grid.addWidget(value, row, 2)
            slider_grid.addWidget(reset, row, 3)
            self.sliders.append(slider)
            self._slider_labels.append(label)
            self.slider_values.append(value)
            self.slider_resets.append(reset)
        self.reset_button = QPushButton("Reset all")
        self.reset_button.clicked.connect(self._reset_sliders)
        self.keep_button = QPushButton("To canvas")
        self.keep_button.clicked.connect(self._keep_explored)

        train_box = QGroupBox("Train")
        train_form = QFormLayout(train_box)
        train_form.addRow(self.data)
        train_form.addRow("Preset", self.presets)
        train_form.addRow("Size", self.image_size)
        train_form.addRow("Latent size", self.latent)
        train_form.addRow("Beta", self.beta)
        train_form.addRow("Steps", self.steps)
        train_form.addRow("Width", self.net_width)
        train_form.addRow("Batch", self.batch)
        train_form.addRow(self.train_button)
        train_form.addRow(self.resume_button)
        use_box = QGroupBox("Reconstruct, morph, sample")
        use_form = QFormLayout(use_box)
        use_form.addRow(self.model_label)
        wells = QHBoxLayout()
        wells.addWidget(self.well_a)
        wells.addWidget(self.well_b)
        use_form.addRow(wells)
        use_form.addRow(self.reconstruct_button)
        use_form.addRow("Frames", self.frames)
        use_form.addRow(self.interpolate_button)
        use_form.addRow(self.gif_button)
        use_form.addRow("Images", self.count)
        use_form.addRow("Seed", self.seed)
        use_form.addRow("Temperature", self.temperature)
        use_form.addRow(self.sample_button)
        explore_box = QGroupBox("Explore the latent space")
        explore_box.setToolTip("From picture A, or from the seed's sample when there is no picture A")
        explore = QVBoxLayout(explore_box)
        explore.addWidget(self.explore_view, alignment=Qt.AlignmentFlag.AlignHCenter)
        explore.addWidget(self.directions_label)
        explore.addLayout(slider_grid)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.keep_button)
        explore.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(train_box)
        layout.addWidget(use_box)
        layout.addWidget(explore_box)
        layout.addStretch(1)
        self._show_model(None)

    # --- the ModelPanel interface --------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()
        self.presets.set_busy(busy)

    def device_ready(self) -> None:
        self.presets.device_ready()

    def set_model(self, model: TrainedModel) -> None:
        self._show_model(model)

    def models_changed(self) -> None:
        """The shown model was renamed or deleted in the model picker: forget it (a rename selects it
        again under its new name)."""
        if self.model is not None and not self.model.exists():
            self._show_model(None)

    def close_down(self) -> None:
        self.presets.close_down()
        if self._live is not None:
            self._live.close()
            self._live.wait(CLOSE_WAIT_MS)
            self._live, self._decoder = None, None

    # --- controls ------------------------------------------------------------------------------------

    def offsets(self) -> dict[int, float]:
        """Slider positions as latent offsets: dimension -> change in prior standard deviations."""
        return {
            dim: slider.value() / SLIDER_STEPS
            for dim, slider in zip(self._dimensions, self.sliders, strict=False)
        }

    def _show_model(self, model: TrainedModel | None) -> None:
        self.model = model.path if model is not None else None
        self._dimensions = []
        if model is not None:
            info, training = model.info, model.info.training
            self.model_label.setText(
                f"{model.name}: {info.config.get('size')} px, latent {info.config.get('latent')}, "
                f"{training.get('step')} steps on {training.get('data_set') or 'unknown data'}"
            )
            kl = list(training.get("kl_per_dimension") or [])
            self._dimensions = sorted(range(len(kl)), key=lambda j: -kl[j])[:SLIDERS]
        self._zero_sliders()
        rows = zip(self.sliders, self._slider_labels, self.slider_values, self.slider_resets, strict=True)
        for row, widgets in enumerate(rows):
            used = row < len(self._dimensions)
            for widget in widgets:
                widget.setVisible(used)
            if used:
                dim = self._dimensions[row]
                tip = f"Latent dimension {dim}: it carries {kl[dim]:.2f} nats of information on average"
                for widget in widgets[:3]:
                    widget.setToolTip(tip)
        self.directions_label.setVisible(bool(self._dimensions))
        self.explore_view.clear()
        self._update_buttons()
        self._explore()

    def _update_buttons(self) -> None:
        self.train_button.setEnabled(not self._busy)
        ready = not self._busy and self.model is not None
        for button in (self.resume_button, self.sample_button, self.keep_button, self.reset_button):
            button.setEnabled(ready)
        self.reconstruct_button.setEnabled(ready and self.well_a.image is not None)
        both = ready and self.well_a.image is not None and self.well_b.image is not None
        self.interpolate_button.setEnabled(both)
        self.gif_button.setEnabled(both)

    # --- jobs ----------------------------------------------------------------------------------------

    def _train(self, resume: Path | None) -> None:
        from core.data import training_data
        from core.vae.training import VaeTrainingJob

        spec, size = self.data.spec, int(self.image_size.currentData())
        if not spec:
            self.error.emit("Drop a folder of your images on the VAE panel, or use Fashion-MNIST.")
            return
        steps = self.steps.value()
        job = VaeTrainingJob(
            lambda ctx: training_data(spec, size, resume, report=ctx.message),
            resume.parent if resume else paths.new_run_folder(f"vae-{self.data.stem()}-{size}px"),
            steps=steps,
            size=size,
            latent=self.latent.value(),
            width=self.net_width.value(),
            batch_size=self.batch.value(),
            beta=self.beta.value(),
            resume=resume,
            data_name=Path(spec).name,
            sample_every=max(1, min(100, steps // 20)),  # a fresh grid ~20 times a run
        )
        self.presets.watch(job)
        self.job_requested.emit(job, False)

    def _reconstruct(self) -> None:
        from core.vae.jobs import ReconstructJob

        if self.model is not None and self.well_a.image is not None:
            self.job_requested.emit(ReconstructJob(self.model, self.well_a.image), False)

    def _interpolate(self, gif: Path | None) -> None:
        from core.vae.jobs import InterpolateJob

        a, b = self.well_a.image, self.well_b.image
        if self.model is not None and a is not None and b is not None:
            self.job_requested.emit(InterpolateJob(self.model, a, b, self.frames.value(), gif), False)

    def _choose_gif(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save the morph as", "morph.gif", "GIF (*.gif)")
        if name:
            self._interpolate(Path(name).with_suffix(".gif"))

    def _sample(self) -> None:
        from core.vae.jobs import SampleJob

        if self.model is not None:
            job = SampleJob(self.model, self.count.value(), self.seed.value(), self.temperature.value())
            self.job_requested.emit(job, False)

    def _keep_explored(self) -> None:
        if self.model is not None:
            self.job_requested.emit(self._decode_job(), False)

    def _decode_job(self) -> "DecodeJob":
        from core.vae.jobs import DecodeJob

        assert self.model is not None
        return DecodeJob(self.model, self.offsets(), self.well_a.image, self.seed.value())

    # --- live decoding -------------------------------------------------------------------------------

    def _explore(self) -> None:
        """Decode the current point in the background, on one worker for the panel's life. A move while
        a decode runs replaces the one waiting, so the view follows a dragged slider without a queue of
        outdated decodes (and without a thread per move)."""
        self._update_buttons()
        if self.model is None:
            return
        if self._live is None:
            self._live = LatestJobWorker("live VAE decodes", self)
            self._live.finished.connect(self._show_decoded)
            self._live.failed.connect(self.error)
            self._live.ended.connect(self._decode_ended)
            self._live.start()
        self._decoder = self._decode_job()
        self._live.submit(self._decoder)

    def _show_decoded(self, _result: ImageResult, image: QImage) -> None:
        pixmap = QPixmap.fromImage(image).scaled(
            EXPLORE_VIEW,
            EXPLORE_VIEW,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.explore_view.setPixmap(pixmap)

    def _decode_ended(self, job: object) -> None:
        if job is self._decoder:  # the latest position is on view (an older one ended: more to come)
            self._decoder = None

    def _reset_sliders(self) -> None:
        self._zero_sliders()
        self._explore()

    def _zero_sliders(self) -> None:
        """Every slider back to 0 without a decode per slider (the caller asks for one)."""
        for slider, value in zip(self.sliders, self.slider_values, strict=True):
            slider.blockSignals(True)
            slider.setValue(0)
            slider.blockSignals(False)
            value.setText(slider_text(0))


def _step_seconds() -> "StepSeconds":
    from core.vae.training import step_seconds

    return step_seconds
