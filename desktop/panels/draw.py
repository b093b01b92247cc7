"""The DRAW panel of the Sequence studio: DRAW (Gregor et al. 2015) trains on a folder (or Fashion-MNIST);
its samples and reconstructions come back glimpse by glimpse, to scrub through on the canvas, play, and
save as a GIF (desktop.frame_player)."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import paths
from core.catalog import FASHION_MNIST, Tool, TrainedModel
from core.checkpoints import ModelKind
from core.jobs import ImageResult
from core.sequence.settings import DRAW_PRESETS, DRAW_SIZES, DrawConfig
from desktop.data_well import DataWell
from desktop.frame_player import FramePlayer
from desktop.panels.base import NO_PICTURE, ModelPanel, spin_box
from desktop.training_presets import OwnSize, PresetPicker, RunControls

if TYPE_CHECKING:
    from core.sequence.jobs import DrawReconstructJob, DrawSampleJob
    from core.training import StepSeconds

NO_MODEL = "No DRAW model selected: train one, or pick one in the model list."
NO_FRAMES = "Sample or reconstruct first: the glimpses of that drawing show here."


def glimpse_text(glimpse: int, glimpses: int) -> str:
    return f"Glimpse {glimpse} of {glimpses}"


class DrawPanel(ModelPanel):
    """Train DRAW (and resume); sample or reconstruct the canvas picture, then scrub through the glimpses
    on the canvas, play them, save them as a GIF; evaluate the test negative ELBO on Fashion-MNIST."""

    tools = (Tool.TRAIN_DRAW,)
    kinds = (ModelKind.DRAW,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: Path | None = None
        self._busy = False
        self._drawing: DrawSampleJob | DrawReconstructJob | None = None  # asked for: its `frames`, once run

        self.data = DataWell(settings, "draw/data")
        self.image_size = QComboBox()
        for side in DRAW_SIZES:
            self.image_size.addItem(f"{side} px", side)
        self.image_size.setAccessibleName("Image size")
        self.glimpses = spin_box(1, 64, 16)
        self.glimpses.setToolTip("T: how many times the network looks and adds to its canvas per picture")
        self.glimpses.setAccessibleName("Glimpses")
        self.attention = QCheckBox("Attention")
        self.attention.setChecked(True)
        self.attention.setToolTip(
            "Read and write through a small movable window (the paper's Gaussian filterbanks); off: the "
            "whole picture at every glimpse"
        )
        self.latent = spin_box(1, 256, 16)
        self.latent.setToolTip("Latent dimensions drawn at each glimpse")
        self.latent.setAccessibleName("Latent size")
        self.steps = spin_box(10, 1_000_000, 3000, 100)
        self.steps.setAccessibleName("Steps")
        self.hidden = spin_box(16, 1024, 256, 16)
        self.hidden.setToolTip("LSTM units of the reader and of the writer: 128-256 suits a CPU")
        self.hidden.setAccessibleName("Hidden units")
        self.batch = spin_box(1, 1024, DrawConfig().batch_size, 16)
        self.batch.setToolTip("Pictures per step")
        self.batch.setAccessibleName("Batch")
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train a new DRAW model on the data above (Pause and Cancel: Progress)")
        self.train_button.clicked.connect(lambda: self._train(None))
        self.resume_button = QPushButton("Resume selected")
        self.resume_button.setToolTip("Go on training the selected model up to Steps, in its own folder")
        self.resume_button.clicked.connect(lambda: self._train(self.model))
        self.run_controls = RunControls(self.image_size, self.steps, self.hidden, self.batch)
        asked = self.run_controls.asked
        self.own_size = OwnSize(self.data, DRAW_SIZES, self.image_size)
        self.presets = PresetPicker(
            settings, "draw", DRAW_PRESETS, _step_seconds, asked, self.own_size, width_name="hidden"
        )
        self.run_controls.follow(self.presets)
        self.presets.select_default()
        self.own_size.follow(self.presets)

        self.model_label = QLabel(NO_MODEL)
        self.model_label.setWordWrap(True)
        self.count = spin_box(1, 256, 16)
        self.count.setAccessibleName("Images")
        self.seed = spin_box(0, 2**31 - 1, 0)
        self.seed.setAccessibleName("Seed")
        self.sample_button = QPushButton("Sample to canvas")
        self.sample_button.setToolTip("Draw new pictures from nothing, glimpse by glimpse")
        self.sample_button.clicked.connect(self._sample)
        self.reconstruct_button = QPushButton("Reconstruct the canvas picture")
        self.reconstruct_button.setToolTip("Let the model redraw the canvas picture, glimpse by glimpse")
        self.reconstruct_button.clicked.connect(self._reconstruct)

        # The latest drawing's glimpses, the last the finished picture.
        self.player = FramePlayer("Glimpse", glimpse_text, NO_FRAMES, lambda: [self.model])
        self.player.preview.connect(self.preview)
        self.player.problem.connect(self.problem)
        self.player.status.connect(self.status)

        self.evaluate_button = QPushButton("Evaluate on Fashion-MNIST")
        self.evaluate_button.setToolTip(
            "The negative ELBO on Fashion-MNIST's 10,000 test pictures: a bound on how many nats (or bits "
            "per pixel) the model needs to describe a picture it never saw; lower is better"
        )
        self.evaluate_button.clicked.connect(self._evaluate)
        self.evaluation = QLabel("Not evaluated yet.")
        self.evaluation.setWordWrap(True)
        self.evaluation.setAccessibleName("Test negative ELBO")

        train_box = QGroupBox("Watch it draw (DRAW)")
        train_form = QFormLayout(train_box)
        train_form.addRow(self.data)
        train_form.addRow("Preset", self.presets)
        train_form.addRow("Size", self.image_size)
        train_form.addRow("Glimpses", self.glimpses)
        train_form.addRow(self.attention)
        train_form.addRow("Latent size", self.latent)
        train_form.addRow("Steps", self.steps)
        train_form.addRow("Hidden", self.hidden)
        train_form.addRow("Batch", self.batch)
        train_form.addRow(self.train_button)
        train_form.addRow(self.resume_button)
        use_box = QGroupBox("Sample and reconstruct")
        use_form = QFormLayout(use_box)
        use_form.addRow(self.model_label)
        use_form.addRow("Images", self.count)
        use_form.addRow("Seed", self.seed)
        use_form.addRow(self.sample_button)
        use_form.addRow(self.reconstruct_button)
        use_form.addRow(self.player)
        evaluate_box = QGroupBox("Test negative ELBO")
        evaluate = QVBoxLayout(evaluate_box)
        evaluate.addWidget(self.evaluate_button)
        evaluate.addWidget(self.evaluation)
        layout = QVBoxLayout(self)
        layout.addWidget(train_box)
        layout.addWidget(use_box)
        layout.addWidget(evaluate_box)
        layout.addStretch(1)
        self.set_model(None)

    # --- the ModelPanel interface --------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        """While a job runs nothing here starts another, and the glimpses stay off the canvas (it shows
        that job's previews and result)."""
        self._busy = busy
        self.player.set_enabled(not busy)
        self._update_buttons()
        self.presets.set_busy(busy)

    def device_ready(self) -> None:
        self.presets.device_ready()

    def close_down(self) -> None:
        self.player.stop()
        self.presets.close_down()

    def models_changed(self) -> None:
        """The shown model was renamed or deleted in the model picker: forget it (a rename selects it
        again under its new name)."""
        if self.model is not None and not self.model.exists():
            self.set_model(None)

    def picture_opened(self) -> None:
        self.player.set_frames([], "")  # the glimpses were of the drawing that picture replaced

    def set_model(self, model: TrainedModel | None) -> None:
        self.model = model.path if model is not None else None
        self.player.set_frames([], "")
        self.evaluation.setText("Not evaluated yet.")
        if model is None:
            self.model_label.setText(NO_MODEL)
        else:
            config, training = model.info.config, model.info.training
            attention = "with attention" if config.get("attention", True) else "without attention"
            self.model_label.setText(
                f"{model.name}: {config.get('size')} px, {config.get('glimpses')} glimpses {attention}, "
                f"{training.get('step')} steps on {training.get('data_set') or 'unknown data'}"
            )
        self._update_buttons()

    def job_finished(self, result: object) -> None:
        drawing, self._drawing = self._drawing, None
        if isinstance(result, ImageResult) and drawing is not None:
            operation = str(result.settings.get("operation", "drawing"))
            self.player.set_frames(drawing.frames, operation)
        elif isinstance(result, dict) and "nelbo" in result:
            self._show_evaluation(result)

    # --- jobs ----------------------------------------------------------------------------------------

    def _train(self, resume: Path | None) -> None:
        from core.data import training_data
        from core.sequence.draw_training import DrawTrainingJob

        spec, size = self.data.spec, int(self.image_size.currentData())
        if not spec:
            self.problem.emit(
                "No data", "Drop a folder of your images on the DRAW panel, or use Fashion-MNIST."
            )
            return
        steps = self.steps.value()
        job = DrawTrainingJob(
            lambda ctx: training_data(spec, size, resume, report=ctx.message),
            resume.parent if resume else paths.new_run_folder(f"draw-{self.data.stem()}-{size}px"),
            steps=steps,
            size=size,
            glimpses=self.glimpses.value(),
            attention=self.attention.isChecked(),
            hidden=self.hidden.value(),
            latent=self.latent.value(),
            batch_size=self.batch.value(),
            resume=resume,
            data_name=Path(spec).name,
            sample_every=max(1, min(100, steps // 20)),  # a fresh grid ~20 times a run
        )
        self.presets.watch(job)
        self.job_requested.emit(job, False)

    def _sample(self) -> None:
        from core.sequence.jobs import DrawSampleJob

        if self.model is not None:
            self._request_drawing(DrawSampleJob(self.model, self.count.value(), self.seed.value()))

    def _reconstruct(self) -> None:
        from core.sequence.jobs import DrawReconstructJob

        picture = self.canvas_picture()
        if picture is None:
            self.problem.emit(*NO_PICTURE)
        elif self.model is not None:
            self._request_drawing(DrawReconstructJob(self.model, picture))

    def _request_drawing(self, job: "DrawSampleJob | DrawReconstructJob") -> None:
        self._drawing = job
        self.job_requested.emit(job, False)

    def _evaluate(self) -> None:
        from core.sequence.jobs import DrawEvaluateJob

        if self.model is not None:
            self.job_requested.emit(DrawEvaluateJob(self.model, FASHION_MNIST), False)

    def _show_evaluation(self, result: dict[str, Any]) -> None:
        nelbo, bits = float(result["nelbo"]), float(result["bits_per_dim"])
        text = f"{nelbo:.1f} nats per picture · {bits:.3f} bits/dim"
        if "reconstruction" in result and "kl" in result:
            reconstruction, kl = float(result["reconstruction"]), float(result["kl"])
            text += f"\n(reconstruction {reconstruction:.1f} + KL {kl:.1f} nats)"
        self.evaluation.setText(text)

    # --- controls ------------------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        self.train_button.setEnabled(not self._busy)
        ready = not self._busy and self.model is not None
        for button in (self.resume_button, self.sample_button, self.reconstruct_button, self.evaluate_button):
            button.setEnabled(ready)


def _step_seconds() -> "StepSeconds":
    from core.sequence.draw_training import step_seconds

    return step_seconds
