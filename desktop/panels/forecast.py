"""The ConvLSTM panel of the Sequence studio: train a forecaster (Shi et al. 2015) on a folder of sequences,
a GIF or video, or Moving Fashion-MNIST; then continue a sequence: the frames read and the predicted ones
come back as a strip on the canvas, to step through, play and save as a GIF (desktop.frame_player)."""

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import paths
from core.catalog import Tool, TrainedModel
from core.checkpoints import ModelKind, read_info
from core.jobs import ImageResult
from core.sequence.settings import FORECAST_PRESETS, FORECAST_SIZES, MOVING_FASHION_MNIST, MOVING_SIZE
from core.video import GIF_SUFFIX, VIDEO_SUFFIXES, is_animation, read_frames
from desktop.data_well import BuiltInData, DataWell
from desktop.frame_player import FramePlayer
from desktop.panels.base import ModelPanel, spin_box
from desktop.training_presets import PresetPicker, RunControls

if TYPE_CHECKING:
    from core.sequence.jobs import ContinueSequenceJob
    from core.training import StepSeconds

NO_MODEL = "No sequence model selected: train one, or pick one in the model list."
NO_FRAMES = "Continue a sequence first: the frames read and the predicted ones show here."
NO_SEQUENCE = ("No sequence", "Drop a GIF, a video or a folder of frames on the “Continue” box first.")
SEQUENCE_FILES = "Animations (" + " ".join(f"*{s}" for s in sorted({GIF_SUFFIX, *VIDEO_SUFFIXES})) + ")"
TRAINING_SET = BuiltInData(
    MOVING_FASHION_MNIST,
    "Use Moving Fashion-MNIST",
    "Moving Fashion-MNIST (two garments bouncing in 64 px frames, made as training goes)",
)
HELD_OUT = BuiltInData(
    MOVING_FASHION_MNIST, "Use a held-out sequence", "Moving Fashion-MNIST held-out sequences"
)


class ForecastPanel(ModelPanel):
    """Train a ConvLSTM encoder-forecaster (and resume); continue a sequence (a GIF, a video, a folder of
    frames, or a held-out Moving Fashion-MNIST sequence) by N frames, step through them on the canvas, play
    them, save them as a GIF; evaluate on the held-out Moving Fashion-MNIST sequences."""

    tools = (Tool.CONTINUE_SEQUENCE,)
    kinds = (ModelKind.SEQUENCE,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: Path | None = None
        self._busy = False
        self._continuing: ContinueSequenceJob | None = None  # asked for: its frames, once run
        self._read = 0  # how many of the player's frames were read (the rest are predicted)

        files = (SEQUENCE_FILES, is_animation)
        self.data = DataWell(
            settings,
            "sequence/data",
            "Drop a folder of sequences here (a subfolder of frames for each, GIFs or videos), or one GIF or "
            "video",
            TRAINING_SET,
            files,
            "Choose a folder of sequences to learn from",
        )
        self.data.changed.connect(self._data_changed)
        self.image_size = QComboBox()
        for side in FORECAST_SIZES:
            self.image_size.addItem(f"{side} px", side)
        self.image_size.setAccessibleName("Frame size")
        self.image_size.setToolTip("Frames are read at this size (their centre square)")
        self.input_frames = spin_box(1, 64, 10)
        self.input_frames.setToolTip("How many frames the model reads before it predicts")
        self.input_frames.setAccessibleName("Frames in")
        self.output_frames = spin_box(1, 64, 10)
        self.output_frames.setToolTip("How many frames it learns to predict (it can continue for longer)")
        self.output_frames.setAccessibleName("Frames out")
        self.steps = spin_box(10, 1_000_000, 3000, 100)
        self.steps.setAccessibleName("Steps")
        self.net_width = spin_box(8, 512, 64, 8)
        self.net_width.setToolTip("Hidden channels of each ConvLSTM layer: 32-64 suits a CPU")
        self.net_width.setAccessibleName("Width")
        self.batch = spin_box(1, 256, 16, 4)
        self.batch.setToolTip("Sequences per step")
        self.batch.setAccessibleName("Batch")
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip(
            "Train a new sequence model on the data above (Pause and Cancel: Progress)"
        )
        self.train_button.clicked.connect(lambda: self._train(None))
        self.resume_button = QPushButton("Resume selected")
        self.resume_button.setToolTip("Go on training the selected model up to Steps, in its own folder")
        self.resume_button.clicked.connect(lambda: self._train(self.model))
        self.run_controls = RunControls(self.image_size, self.steps, self.net_width, self.batch)
        self.presets = PresetPicker(
            settings, "sequence", FORECAST_PRESETS, _step_seconds, self.run_controls.asked
        )
        self.run_controls.follow(self.presets)
        self.presets.select_default()

        self.model_label = QLabel(NO_MODEL)
        self.model_label.setWordWrap(True)
        hint = "Drop the sequence to continue: a GIF, a video or a folder of frames"
        self.source = DataWell(
            settings, "sequence/continue", hint, HELD_OUT, files, "Choose a folder of frames to continue"
        )
        self.source.changed.connect(lambda _spec: self._update_buttons())
        self.held_out = spin_box(0, 999, 0)
        self.held_out.setToolTip("Which held-out Moving Fashion-MNIST sequence to continue")
        self.held_out.setAccessibleName("Held-out sequence")
        self.count = spin_box(1, 1000, 10)
        self.count.setToolTip("How many frames to predict")
        self.count.setAccessibleName("Frames to predict")
        self.continue_button = QPushButton("Continue the sequence")
        self.continue_button.setToolTip("Predict the frames that follow the sequence above")
        self.continue_button.clicked.connect(self._continue)
        self.player = FramePlayer("Frame", self._frame_text, NO_FRAMES, lambda: [self.model])
        self.player.preview.connect(self.preview)
        self.player.problem.connect(self.problem)
        self.player.status.connect(self.status)

        self.evaluate_button = QPushButton("Evaluate on Moving Fashion-MNIST")
        self.evaluate_button.setToolTip(
            "Mean squared error and SSIM of the predicted frames on 1,000 held-out sequences, beside "
            "copying the last frame read (a model that learned nothing of motion)"
        )
        self.evaluate_button.clicked.connect(self._evaluate)
        self.evaluation = QLabel("Not evaluated yet.")
        self.evaluation.setWordWrap(True)
        self.evaluation.setAccessibleName("Prediction error")

        train_box = QGroupBox("Learn how sequences go on (ConvLSTM)")
        train_form = QFormLayout(train_box)
        train_form.addRow(self.data)
        train_form.addRow("Preset", self.presets)
        train_form.addRow("Size", self.image_size)
        train_form.addRow("Frames in", self.input_frames)
        train_form.addRow("Frames out", self.output_frames)
        train_form.addRow("Steps", self.steps)
        train_form.addRow("Width", self.net_width)
        train_form.addRow("Batch", self.batch)
        train_form.addRow(self.train_button)
        train_form.addRow(self.resume_button)
        use_box = QGroupBox("Continue")
        use_form = QFormLayout(use_box)
        use_form.addRow(self.model_label)
        use_form.addRow(self.source)
        use_form.addRow("Held-out sequence", self.held_out)
        use_form.addRow("Frames to predict", self.count)
        use_form.addRow(self.continue_button)
        use_form.addRow(self.player)
        evaluate_box = QGroupBox("Prediction error")
        evaluate = QVBoxLayout(evaluate_box)
        evaluate.addWidget(self.evaluate_button)
        evaluate.addWidget(self.evaluation)
        layout = QVBoxLayout(self)
        layout.addWidget(train_box)
        layout.addWidget(use_box)
        layout.addWidget(evaluate_box)
        layout.addStretch(1)
        self._data_changed(self.data.spec)
        self.set_model(None)

    # --- the ModelPanel interface --------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
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
        if self.model is not None and not self.model.exists():
            self.set_model(None)

    def set_model(self, model: TrainedModel | None) -> None:
        self.model = model.path if model is not None else None
        self.player.set_frames([], "")
        self.evaluation.setText("Not evaluated yet.")
        if model is None:
            self.model_label.setText(NO_MODEL)
        else:
            config, training = model.info.config, model.info.training
            self.model_label.setText(
                f"{model.name}: reads {config.get('input_frames')} frames of {config.get('size')} px, "
                f"{training.get('step')} steps on {training.get('data_set') or 'unknown data'}"
            )
        self._update_buttons()

    def job_finished(self, result: object) -> None:
        continuing, self._continuing = self._continuing, None
        if isinstance(result, ImageResult) and continuing is not None:
            self._read = len(continuing.frames) - len(continuing.predicted)
            self.player.set_frames(continuing.frames, "continued sequence")
        elif isinstance(result, dict) and "copy_last_mse" in result:
            self._show_evaluation(result)

    # --- jobs ----------------------------------------------------------------------------------------

    def _train(self, resume: Path | None) -> None:
        from core.sequence.forecast_training import ForecastTrainingJob
        from core.sequence.sequences import open_sequences, sequence_shape

        spec = self.data.spec
        if not spec:
            self.problem.emit(
                "No data", "Drop a folder of sequences on the panel, or use Moving Fashion-MNIST."
            )
            return
        ins, outs = self.input_frames.value(), self.output_frames.value()
        size, frames = sequence_shape(resume, int(self.image_size.currentData()), ins + outs)
        steps = self.steps.value()
        job = ForecastTrainingJob(
            lambda ctx: open_sequences(spec, size, frames, report=ctx.message),
            resume.parent if resume else paths.new_run_folder(f"sequence-{self.data.stem()}-{size}px"),
            steps=steps,
            input_frames=ins,
            output_frames=outs,
            width=self.net_width.value(),
            batch_size=self.batch.value(),
            resume=resume,
            data_name=Path(spec).name,
            sample_every=max(1, min(100, steps // 20)),  # a fresh strip ~20 times a run
        )
        self.presets.watch(job)
        self.job_requested.emit(job, False)

    def _continue(self) -> None:
        from core.sequence.jobs import ContinueSequenceJob
        from core.sequence.sequences import held_out_frames

        spec = self.source.spec
        if self.model is None:
            return
        if not spec:
            self.problem.emit(*NO_SEQUENCE)
            return
        frames: Callable[[], Iterable[Image.Image]]
        if spec == MOVING_FASHION_MNIST:  # the first frames of the held-out sequence, as many as it reads
            reads = int(read_info(self.model).config["input_frames"])
            frames = functools.partial(held_out_frames, self.held_out.value(), reads)
        else:
            frames = functools.partial(read_frames, Path(spec))
        self._continuing = ContinueSequenceJob(self.model, frames, self.count.value())
        self.job_requested.emit(self._continuing, False)

    def _evaluate(self) -> None:
        from core.sequence.jobs import ForecastEvaluateJob

        if self.model is not None:
            self.job_requested.emit(ForecastEvaluateJob(self.model, MOVING_FASHION_MNIST), False)

    def _show_evaluation(self, result: dict[str, list[float]]) -> None:
        mean = {key: sum(values) / len(values) for key, values in result.items()}
        self.evaluation.setText(
            f"Mean squared error {mean['mse']:.4f} per pixel, {mean['mse'] / mean['copy_last_mse']:.2f} of "
            f"copying the last frame ({mean['copy_last_mse']:.4f})\n"
            f"SSIM {mean['ssim']:.3f} (copying the last frame: {mean['copy_last_ssim']:.3f}; 1 is perfect)"
        )

    # --- controls ------------------------------------------------------------------------------------

    def _frame_text(self, index: int, count: int) -> str:
        which = "read" if index <= self._read else "predicted"
        return f"Frame {index} of {count} ({which})"

    def _data_changed(self, spec: str) -> None:
        """Moving Fashion-MNIST has 64 px frames: the size is not a choice then."""
        moving = spec == MOVING_FASHION_MNIST
        if moving:
            self.image_size.setCurrentIndex(self.image_size.findData(MOVING_SIZE))
        self.image_size.setEnabled(not moving)

    def _update_buttons(self) -> None:
        self.train_button.setEnabled(not self._busy)
        ready = not self._busy and self.model is not None
        for button in (self.resume_button, self.continue_button, self.evaluate_button):
            button.setEnabled(ready)
        self.held_out.setEnabled(self.source.spec == MOVING_FASHION_MNIST)


def _step_seconds() -> "StepSeconds":
    from core.sequence.forecast_training import step_seconds

    return step_seconds
