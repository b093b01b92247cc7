"""Classifier panel: train on a folder with one subfolder per class, see how good the model is and where it
errs (click a confusion-matrix cell for its mistakes), and classify the canvas picture with Grad-CAM."""

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import paths
from core.catalog import Tool, TrainedModel
from core.checkpoints import ModelKind
from core.classifier.settings import PRETRAINED, ROUTES, SCRATCH
from core.export import OnnxExportJob
from core.jobs import ImageResult
from desktop.data_well import DataWell
from desktop.panels.base import ModelPanel

FINE_TUNE_EPOCHS = 3
ROUTE_LABELS = {
    SCRATCH: "From scratch (small images, icons)",
    PRETRAINED: "Pretrained EfficientNet-Lite0 (photos)",
}


class ClassifierPanel(ModelPanel):
    """Train (scratch or pretrained route), Cancel, Resume; the selected model's confusion matrix and
    per-class figures; classify the canvas picture (top 3 here, Grad-CAM overlay on the canvas); export."""

    tools = (Tool.TRAIN_CLASSIFIER,)
    kinds = (ModelKind.CLASSIFIER,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: TrainedModel | None = None
        self._busy = False
        self.data = DataWell(settings, "classifier/data", "Drop a folder here with one subfolder per class")
        self.route = QComboBox()
        for route in ROUTES:
            self.route.addItem(ROUTE_LABELS[route], route)
        self.route.currentIndexChanged.connect(self._update_buttons)
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 500)
        self.epochs.setSpecialValueText("Auto")
        self.epochs.setToolTip("Auto: enough for the data set; training also stops once it stops improving")
        self.fine_tune = QCheckBox(
            f"Then fine-tune the whole network ({FINE_TUNE_EPOCHS} epochs, slow on a CPU)"
        )
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop training: a resumable checkpoint is kept")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.resume_button = QPushButton("Resume selected")
        self.resume_button.clicked.connect(self.resume)

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.confusion = QTableWidget()
        self.confusion.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.confusion.setToolTip("Rows: true class; columns: predicted. Click a cell to see those mistakes.")
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.confusion.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.confusion.cellClicked.connect(self.show_mistakes)
        self.per_class = QLabel()
        self.per_class.setWordWrap(True)
        self.per_class.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.classify_button = QPushButton("Classify the canvas picture")
        self.classify_button.setToolTip("Or drop a picture on the canvas: it is classified at once")
        self.classify_button.clicked.connect(self.classify)
        self.top_labels = QLabel()
        self.top_labels.setWordWrap(True)
        self.export_button = QPushButton("Export to ONNX…")
        self.export_button.clicked.connect(self._choose_export)

        train_box = QGroupBox("Train")
        train_form = QFormLayout(train_box)
        train_form.addRow(self.data)
        train_form.addRow("Route", self.route)
        train_form.addRow("Epochs", self.epochs)
        train_form.addRow(self.fine_tune)
        buttons = QHBoxLayout()
        for button in (self.train_button, self.cancel_button, self.resume_button):
            buttons.addWidget(button)
        train_form.addRow(buttons)
        model_box = QGroupBox("What it learned")
        model_layout = QVBoxLayout(model_box)
        for widget in (self.model_label, self.confusion, self.per_class):
            model_layout.addWidget(widget)
        use_box = QGroupBox("Classify")
        use_layout = QVBoxLayout(use_box)
        use_layout.addWidget(self.classify_button)
        use_layout.addWidget(self.top_labels)
        use_layout.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        for box in (train_box, model_box, use_box):
            layout.addWidget(box)
        layout.addStretch(1)
        self.set_model(None)

    # --- data and training -----------------------------------------------------------------------

    def train(self) -> None:
        from core.classifier.training import ClassifierTrainingJob, open_classes

        spec, route = self.data.spec, str(self.route.currentData())
        if not spec:
            self.error.emit("Drop a folder with one subfolder of pictures per class first.")
            return
        job = ClassifierTrainingJob(
            lambda ctx: open_classes(spec, route, report=ctx.message),
            paths.new_run_folder(f"{self.data.stem()}-{route}"),
            route=route,
            epochs=self.epochs.value() or None,
            fine_tune_epochs=FINE_TUNE_EPOCHS if route == PRETRAINED and self.fine_tune.isChecked() else 0,
            data_name=Path(spec).name,
            data_spec=spec,
        )
        self.job_requested.emit(job, False)

    def resume(self) -> None:
        from core.classifier.training import ClassifierTrainingJob, open_classes

        if self.model is None:
            return
        training, route = self.model.info.training, self._model_route()
        spec = str(training.get("data_spec") or self.data.spec)
        epochs = self.epochs.value() or None
        job = ClassifierTrainingJob(
            lambda ctx: open_classes(spec, route, report=ctx.message),
            self.model.path.parent,
            route=route,
            epochs=epochs,
            fine_tune_epochs=int(training.get("settings", {}).get("fine_tune_epochs", 0)),
            resume=self.model.path,
            data_name=Path(spec).name,
            data_spec=spec,
        )
        self.job_requested.emit(job, False)

    def _model_route(self) -> str:
        assert self.model is not None
        return SCRATCH if self.model.info.config.get("backbone") == SCRATCH else PRETRAINED

    # --- a trained model -------------------------------------------------------------------------

    def set_model(self, model: TrainedModel | None) -> None:
        self.model = model
        self.top_labels.clear()
        self._update_buttons()
        self.confusion.clear()
        self.confusion.setRowCount(0)
        self.confusion.setColumnCount(0)
        self.per_class.clear()
        if model is None:
            self.model_label.setText("No classifier selected: train one, or pick one in the model list.")
            self.confusion.hide()
            return
        info, training = model.info, model.info.training
        evaluation: dict[str, Any] = training.get("evaluation") or {}
        accuracy = evaluation.get("accuracy")
        figure = f"{100 * accuracy:.1f}% validation accuracy" if accuracy is not None else "not evaluated"
        few: dict[str, int] = training.get("few_images") or {}
        flagged = f". Few pictures in {', '.join(f'{n} ({c})' for n, c in few.items())}" if few else ""
        self.model_label.setText(
            f"{model.name}: {figure}; {len(info.config.get('class_names', []))} classes, "
            f"{training.get('epoch', '?')} epochs on {training.get('data_set') or 'unknown data'}{flagged}"
        )
        names: list[str] = evaluation.get("class_names", [])
        confusion: list[list[int]] = evaluation.get("confusion", [])
        self.confusion.setVisible(bool(confusion))
        self.confusion.setRowCount(len(names))
        self.confusion.setColumnCount(len(names))
        self.confusion.setVerticalHeaderLabels([f"{i} {name}" for i, name in enumerate(names)])
        self.confusion.setHorizontalHeaderLabels([str(i) for i in range(len(names))])
        for i, row in enumerate(confusion):
            share = [n / max(1, sum(row)) for n in row]  # of the class's images: a mistake's weight
            for j, count in enumerate(row):
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(
                    f"{count} {names[i]} taken for {names[j]}" if i != j else f"{count} {names[i]} right"
                )
                shade = int(255 - 150 * share[j] ** 0.5)
                item.setBackground(QColor("white") if count == 0 else _tint(i == j, shade))
                self.confusion.setItem(i, j, item)
        lines = [
            f"{i}  {name}: precision {_percent(p)}, recall {_percent(r)}"
            for i, (name, p, r) in enumerate(
                zip(names, evaluation.get("precision", []), evaluation.get("recall", []), strict=False)
            )
        ]
        self.per_class.setText("\n".join(lines))

    def show_mistakes(self, true: int, predicted: int) -> None:
        """A grid of the validation images of class `true` taken for `predicted`, on the canvas."""
        from core.classifier.jobs import MistakesJob

        if self.model is None or self._busy or true == predicted:
            return
        self.job_requested.emit(MistakesJob(self.model.path, true, predicted), False)

    def classify(self) -> None:
        from core.classifier.jobs import ClassifyJob

        picture = self.canvas_picture()
        if self.model is None or self._busy:
            return
        if picture is None:
            self.error.emit("Open or drop a picture on the canvas first.")
            return
        self.job_requested.emit(ClassifyJob(self.model.path, picture), True)

    def picture_opened(self) -> None:
        """A picture was opened on the canvas: classify it at once when a classifier is ready."""
        if self.model is not None and not self._busy:
            self.classify()

    def job_finished(self, result: object) -> None:
        if isinstance(result, ImageResult) and "top" in result.settings:
            self.top_labels.setText(
                "\n".join(
                    f"{label}: {100 * probability:.1f}%" for label, probability in result.settings["top"]
                )
            )

    def _choose_export(self) -> None:
        from core.classifier.inference import export_onnx

        if self.model is None:
            return
        name, _ = QFileDialog.getSaveFileName(
            self, "Export the classifier as ONNX", str(self.model.path.with_suffix(".onnx")), "ONNX (*.onnx)"
        )
        if name:
            self.job_requested.emit(OnnxExportJob(export_onnx, self.model.path, Path(name)), False)

    # --- state -----------------------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.train_button.setEnabled(not self._busy)
        self.cancel_button.setEnabled(self._busy)
        self.fine_tune.setEnabled(self.route.currentData() == PRETRAINED)
        for widget in (self.resume_button, self.classify_button, self.export_button, self.confusion):
            widget.setEnabled(not self._busy and self.model is not None)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _tint(right: bool, shade: int) -> QColor:
    """Green for right answers, red for mistakes, darker for more."""
    return QColor(shade, 255, shade) if right else QColor(255, shade, shade)
