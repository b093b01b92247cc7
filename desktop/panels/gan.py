"""GAN panel: train a generator on a folder (or Fashion-MNIST), then sample and interpolate to the canvas."""

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core import paths
from core.catalog import Tool, TrainedModel
from core.checkpoints import ModelKind
from core.gan.settings import ARCH, PRESETS, SIZES
from desktop.data_well import DataWell
from desktop.panels.base import ModelPanel, spin_box
from desktop.training_presets import OwnSize, PresetPicker, RunControls

if TYPE_CHECKING:
    from core.training import StepSeconds


NO_MODEL = "No GAN selected: train one, or pick one in the model list."


class GanPanel(ModelPanel):
    """Train (and resume) on a folder or Fashion-MNIST; sample, vary around a seed and interpolate between
    two seeds onto the canvas, or save the interpolation as a GIF."""

    tools = (Tool.TRAIN_GAN,)
    kinds = (ModelKind.GAN,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: Path | None = None
        self._busy = False

        self.data = DataWell(settings, "gan/data")
        self.image_size = QComboBox()
        for side in SIZES:
            self.image_size.addItem(f"{side} px", side)
        self.image_size.setCurrentIndex(0)
        self.steps = spin_box(10, 1_000_000, 2000, 100)
        self.net_width = spin_box(8, 256, 32, 8)
        self.net_width.setToolTip("Network width: 32 learns fastest per minute on a CPU, 64 suits a GPU")
        self.batch = spin_box(1, 1024, 64, 8)
        self.batch.setToolTip("Images per step")
        self.run_controls = RunControls(self.image_size, self.steps, self.net_width, self.batch)
        asked = self.run_controls.asked
        self.own_size = OwnSize(self.data, SIZES, self.image_size)
        self.presets = PresetPicker(  # rates per layer plan: v1 steps cost ten times more
            settings, f"gan-{ARCH}", PRESETS, _step_seconds, asked, self.own_size
        )
        self.run_controls.follow(self.presets)
        self.presets.select_default()
        self.own_size.follow(self.presets)
        self.conditional = QCheckBox("Classes from subfolders")
        self.conditional.setToolTip("One class per subfolder: choose the class when sampling")
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(lambda: self.train(None))
        self.resume_button = QPushButton("Resume selected")
        self.resume_button.clicked.connect(self.resume)

        self.model_label = QLabel(NO_MODEL)
        self.model_label.setWordWrap(True)
        self.count = spin_box(1, 256, 16, 1)
        self.seed = spin_box(0, 2**31 - 1, 0, 1)
        self.seed_b = spin_box(0, 2**31 - 1, 1, 1)
        self.frames = spin_box(2, 64, 10, 1)
        self.truncation = QSlider(Qt.Orientation.Horizontal)
        self.truncation.setRange(10, 100)
        self.truncation.setValue(100)
        self.truncation.setToolTip("Lower: tamer, more typical images (1.00 = off)")
        self.truncation_value = QLabel()
        widest = self.truncation_value.fontMetrics().horizontalAdvance("0.00 (off)")
        self.truncation_value.setMinimumWidth(widest)  # the slider keeps its length as the text changes
        self.truncation.valueChanged.connect(self._show_truncation)
        self._show_truncation(self.truncation.value())
        self.class_name = QComboBox()
        self.sample_button = QPushButton("Sample to canvas")
        self.sample_button.clicked.connect(self.sample)
        self.interpolate_button = QPushButton("Interpolate A → B")
        self.interpolate_button.clicked.connect(lambda: self.interpolate(None))
        self.gif_button = QPushButton("Save A → B as GIF…")
        self.gif_button.clicked.connect(self._choose_gif)
        self.vary_button = QPushButton("Vary around A")
        self.vary_button.setToolTip("Pin the sample of seed A and draw variations around it")
        self.vary_button.clicked.connect(self.vary)

        train_box = QGroupBox("Train")
        train_form = QFormLayout(train_box)
        train_form.addRow(self.data)
        train_form.addRow("Preset", self.presets)
        train_form.addRow("Size", self.image_size)
        train_form.addRow("Steps", self.steps)
        train_form.addRow("Width", self.net_width)
        train_form.addRow("Batch", self.batch)
        train_form.addRow(self.conditional)
        train_form.addRow(self.train_button)
        train_form.addRow(self.resume_button)
        use_box = QGroupBox("Sample and explore")
        use_form = QFormLayout(use_box)
        use_form.addRow(self.model_label)
        use_form.addRow("Images", self.count)
        use_form.addRow("Seed (A)", self.seed)
        truncation = QHBoxLayout()
        truncation.addWidget(self.truncation, 1)
        truncation.addWidget(self.truncation_value)
        use_form.addRow("Truncation", truncation)
        use_form.addRow("Class", self.class_name)
        use_form.addRow(self.sample_button)
        use_form.addRow(self.vary_button)
        use_form.addRow("Seed B", self.seed_b)
        use_form.addRow("Frames", self.frames)
        use_form.addRow(self.interpolate_button)
        use_form.addRow(self.gif_button)
        layout = QVBoxLayout(self)
        layout.addWidget(train_box)
        layout.addWidget(use_box)
        layout.addStretch(1)
        self.set_model(None)

    # --- the ModelPanel interface --------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        """While a job runs, nothing here can start another."""
        self._busy = busy
        self._update_buttons()
        self.presets.set_busy(busy)

    def device_ready(self) -> None:
        self.presets.device_ready()

    def close_down(self) -> None:
        self.presets.close_down()

    def models_changed(self) -> None:
        """The shown model was renamed or deleted in the model picker: forget it (a rename selects it
        again under its new name)."""
        if self.model is not None and not self.model.exists():
            self.set_model(None)

    def set_model(self, model: TrainedModel | None) -> None:
        self.model = model.path if model is not None else None
        self._update_buttons()
        self.class_name.clear()
        if model is None:
            self.model_label.setText(NO_MODEL)
            return
        info = model.info
        training = info.training
        self.model_label.setText(
            f"{model.name}: {info.config.get('size')} px, {training.get('step')} steps on "
            f"{training.get('data_set') or 'unknown data'} ({training.get('image_count', '?')} images)"
        )
        for name in info.config.get("class_names") or []:
            self.class_name.addItem(name, name)
        self.class_name.setEnabled(self.class_name.count() > 0)

    # --- jobs ----------------------------------------------------------------------------------------

    def train(self, resume: Path | None) -> None:
        """Train on the data set chosen; with `resume`, continue that checkpoint in its own folder."""
        from core.data import training_data
        from core.gan.training import GanTrainingJob

        spec, size = self.data.spec, self.image_size.currentData()
        if not spec:
            self.problem.emit(
                "No data", "Drop a folder of your images on the GAN panel, or use Fashion-MNIST."
            )
            return
        steps = self.steps.value()
        job = GanTrainingJob(
            lambda ctx: training_data(spec, size, resume, report=ctx.message),
            resume.parent if resume else self.output_folder(),
            steps=steps,
            size=size,
            width=self.net_width.value(),
            batch_size=self.batch.value(),
            conditional=self.conditional.isChecked(),
            resume=resume,
            data_name=Path(spec).name,
            sample_every=max(1, min(100, steps // 20)),  # a fresh grid ~20 times a run
        )
        self.presets.watch(job)
        self.job_requested.emit(job, False)

    def resume(self) -> None:
        if self.model is not None:
            self.train(resume=self.model)

    def sample(self) -> None:
        from core.gan.jobs import SampleJob

        if self.model is not None:
            count, seed, truncation = self.count.value(), self.seed.value(), self.truncation.value() / 100
            job = SampleJob(self.model, count, seed, truncation, self.selected_class())
            self.job_requested.emit(job, False)

    def vary(self) -> None:
        from core.gan.jobs import VaryJob

        if self.model is not None:
            job = VaryJob(self.model, self.seed.value(), self.count.value(), class_name=self.selected_class())
            self.job_requested.emit(job, False)

    def interpolate(self, gif: Path | None) -> None:
        """The A → B strip onto the canvas; with `gif`, also written there as an animation."""
        from core.gan.jobs import InterpolateJob

        if self.model is not None:
            seeds = (self.seed.value(), self.seed_b.value())
            job = InterpolateJob(self.model, self.frames.value(), *seeds, self.selected_class(), gif)
            self.job_requested.emit(job, False)

    def _choose_gif(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save the interpolation as", "morph.gif", "GIF (*.gif)")
        if name:
            self.interpolate(Path(name).with_suffix(".gif"))

    # --- controls ------------------------------------------------------------------------------------

    def output_folder(self) -> Path:
        """A new folder in the models folder for a training run (its name is the model's name)."""
        return paths.new_run_folder(f"{self.data.stem()}-{self.image_size.currentData()}px")

    def _update_buttons(self) -> None:
        self.train_button.setEnabled(not self._busy)
        model_buttons = (self.sample_button, self.interpolate_button, self.gif_button, self.vary_button)
        for widget in (*model_buttons, self.resume_button):
            widget.setEnabled(not self._busy and self.model is not None)

    def _show_truncation(self, value: int) -> None:
        self.truncation_value.setText(f"{value / 100:.2f}" + (" (off)" if value == 100 else ""))

    def selected_class(self) -> str | None:
        return self.class_name.currentData() if self.class_name.count() else None


def _step_seconds() -> "StepSeconds":
    from core.gan.training import step_seconds

    return step_seconds
