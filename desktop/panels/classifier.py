"""Classifier panel: classify the canvas picture (top 3, a warning for a picture unlike the training
pictures, Grad-CAM on the canvas) and export, at the top; below, how good the model is and where it errs
(click a confusion-matrix cell for its mistakes); then training on a folder with one subfolder per class."""

from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
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
GRAD_CAM_KEY = "classifier/grad_cam"
CELL_MARGINS = 8  # px a table cell keeps around its text (Fusion: 3 a side)
WARNING_STYLE = (  # amber with dark text: readable in the light and the dark theme
    "QLabel { background: #fff3cd; color: #5c4400; border: 1px solid #d9a400; border-radius: 4px;"
    " padding: 6px; }"
)


class ConfusionMatrix(QTableWidget):
    """The confusion matrix (rows: true class, columns: predicted), fitted to the width it is given: the
    columns share what the row names leave, the counts' font shrinks to fit them, the row names are elided
    (the full name in the tooltip) and there is never a scroll bar. The height follows the rows."""

    MIN_POINT_SIZE = 6.0
    NAME_SHARE = 0.38  # of the width, at most, for the row names
    MIN_NAME_SHARE = 0.2  # what they keep when the counts need the rest

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrap(False)
        self.setToolTip("Rows: true class; columns: predicted. Click a cell to see those mistakes.")
        columns = self.horizontalHeader()
        columns.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        columns.setMinimumSectionSize(4)
        rows = self.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setMinimumSectionSize(4)
        rows.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        # Any width will do (the layout gives the dock's); the height is set by `_fit`.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(80)

    def show_matrix(self, names: list[str], confusion: list[list[int]]) -> None:
        self.clear()
        self.names = list(names)
        self.setRowCount(len(names))
        self.setColumnCount(len(names))
        for i, name in enumerate(names):
            column = QTableWidgetItem(str(i))
            column.setToolTip(f"Predicted {i}: {name}")
            self.setHorizontalHeaderItem(i, column)
            row = QTableWidgetItem(f"{i} {name}")
            row.setToolTip(f"True class {i}: {name}")
            self.setVerticalHeaderItem(i, row)
        for i, counts in enumerate(confusion):
            share = [n / max(1, sum(counts)) for n in counts]  # of the class's images: a mistake's weight
            for j, count in enumerate(counts):
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(
                    f"{count} {names[i]} taken for {names[j]}" if i != j else f"{count} {names[i]} right"
                )
                shade = int(255 - 150 * share[j] ** 0.5)
                item.setBackground(QColor("white") if count == 0 else _tint(i == j, shade))
                item.setForeground(QColor("black"))  # on a light cell in either theme
                self.setItem(i, j, item)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Row names elided to their share of the width, the counts' font fitted to the columns left, the
        height set to show every row."""
        k = len(self.names)
        font = QFont(self.font())
        metrics = QFontMetrics(font)
        row_height = metrics.height() + 6
        rows = self.verticalHeader()
        rows.setDefaultSectionSize(row_height)
        frame = 2 * self.frameWidth()
        self.setFixedHeight(self.horizontalHeader().sizeHint().height() + k * row_height + frame)
        if k == 0:
            return
        inner = max(1, self.width() - frame)
        names = QFontMetrics(rows.font())
        padding = 2 * names.horizontalAdvance("0")  # the section's margins
        natural = max(names.horizontalAdvance(f"{i} {n}") for i, n in enumerate(self.names)) + padding
        cells = [cell for i in range(k) for j in range(k) if (cell := self.item(i, j)) is not None]
        widest = max((cell.text() for cell in cells), key=len, default="0")
        smallest = QFont(font)
        smallest.setPointSizeF(self.MIN_POINT_SIZE)
        needed = k * (QFontMetrics(smallest).horizontalAdvance(widest) + CELL_MARGINS)  # the counts, smallest
        share = max(self.MIN_NAME_SHARE, min(self.NAME_SHARE, 1 - needed / inner))  # squeezed: names give way
        name_width = min(natural, int(inner * share))
        for i, name in enumerate(self.names):
            if (header := self.verticalHeaderItem(i)) is not None:
                elided = names.elidedText(f"{i} {name}", Qt.TextElideMode.ElideRight, name_width - padding)
                header.setText(elided)
        rows.setFixedWidth(name_width)
        column = (inner - name_width) // k
        cell_font = QFont(font)
        size = font.pointSizeF()
        while (
            size > self.MIN_POINT_SIZE
            and QFontMetrics(cell_font).horizontalAdvance(widest) + CELL_MARGINS > column
        ):
            size -= 0.5
            cell_font.setPointSizeF(size)
        for cell in cells:
            cell.setFont(cell_font)


class ClassifierPanel(ModelPanel):
    """Classify the canvas picture (top 3 here, a warning when it looks unlike the training pictures,
    optionally Grad-CAM on the canvas) and export; the selected model's confusion matrix and per-class
    figures; train (scratch or pretrained route), Cancel, Resume."""

    tools = (Tool.TRAIN_CLASSIFIER,)
    kinds = (ModelKind.CLASSIFIER,)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.model: TrainedModel | None = None
        self._busy = False
        # The picture the last Grad-CAM overlay was made from: classifying the overlay means classifying it.
        self._classifying: Image.Image | None = None
        self._overlay: tuple[Image.Image, Image.Image] | None = None  # (overlay, its source)
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

        self.classify_button = QPushButton("Classify the canvas picture")
        self.classify_button.setToolTip("Or drop a picture on the canvas: it is classified at once")
        self.classify_button.clicked.connect(self.classify)
        self.grad_cam = QCheckBox("Show where it looked (Grad-CAM) on the canvas")
        self.grad_cam.setToolTip("The heat map is an undoable change of the canvas picture")
        self.grad_cam.setChecked(str(settings.value(GRAD_CAM_KEY, "true")).lower() == "true")
        self.grad_cam.toggled.connect(lambda on: settings.setValue(GRAD_CAM_KEY, "true" if on else "false"))
        self.top_labels = QLabel()
        self.top_labels.setWordWrap(True)
        self.top_labels.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.unfamiliar = QLabel()
        self.unfamiliar.setWordWrap(True)
        self.unfamiliar.setStyleSheet(WARNING_STYLE)
        self.unfamiliar.hide()
        self.export_button = QPushButton("Export to ONNX…")
        self.export_button.clicked.connect(self._choose_export)

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.confusion = ConfusionMatrix()
        self.confusion.cellClicked.connect(self.show_mistakes)
        self.mistakes_caption = QLabel()  # what the canvas shows after a click on a cell
        self.mistakes_caption.setWordWrap(True)
        self.mistakes_caption.hide()
        self.per_class = QLabel()
        self.per_class.setWordWrap(True)
        self.per_class.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.use_box = QGroupBox("Classify")
        use_layout = QVBoxLayout(self.use_box)
        use_layout.addWidget(self.classify_button)
        use_layout.addWidget(self.grad_cam)
        use_layout.addWidget(self.top_labels)
        use_layout.addWidget(self.unfamiliar)
        use_layout.addWidget(self.export_button)
        model_box = QGroupBox("What it learned")
        model_layout = QVBoxLayout(model_box)
        for widget in (self.model_label, self.confusion, self.mistakes_caption, self.per_class):
            model_layout.addWidget(widget)
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
        layout = QVBoxLayout(self)
        for box in (self.use_box, model_box, train_box):
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
        epochs, checkpoint = self.epochs.value() or None, self.model.path
        job = ClassifierTrainingJob(
            lambda ctx: open_classes(spec, route, report=ctx.message, resume=checkpoint),
            self.model.path.parent,
            route=route,
            epochs=epochs,
            fine_tune_epochs=int(training.get("settings", {}).get("fine_tune_epochs", 0)),
            resume=checkpoint,
            data_name=Path(spec).name,
            data_spec=spec,
        )
        self.job_requested.emit(job, False)

    def _model_route(self) -> str:
        assert self.model is not None
        return SCRATCH if self.model.info.config.get("backbone") == SCRATCH else PRETRAINED

    # --- a trained model -------------------------------------------------------------------------

    def models_changed(self) -> None:
        """The shown model was renamed or deleted in the model picker: forget it (a rename selects it
        again under its new name)."""
        if self.model is not None and not self.model.path.exists():
            self.set_model(None)

    def set_model(self, model: TrainedModel | None) -> None:
        self.model = model
        self._show_prediction([], None)
        self._overlay = None
        self._update_buttons()
        self.mistakes_caption.hide()
        self.confusion.show_matrix([], [])
        self.per_class.clear()
        self.use_box.setVisible(model is not None)
        if model is None:
            self.model_label.setText(
                "No classifier selected: train one below, or pick one in the model list."
            )
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
        self.confusion.show_matrix(names, confusion)
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
        if self._overlay is not None and picture is self._overlay[0]:
            picture = self._overlay[1]  # the canvas shows our heat map: classify what it was made from
        self._classifying = picture
        job = ClassifyJob(self.model.path, picture, grad_cam=self.grad_cam.isChecked())
        self.job_requested.emit(job, self.grad_cam.isChecked())

    def picture_opened(self) -> None:
        """A picture was opened on the canvas: classify it at once when a classifier is ready."""
        if self.model is not None and not self._busy:
            self.classify()

    def job_finished(self, result: object) -> None:
        from core.classifier.inference import Classification

        if isinstance(result, ImageResult) and result.settings.get("operation") == "classifier-mistakes":
            self.mistakes_caption.setText(f"On the canvas: {result.settings['caption']}.")
            self.mistakes_caption.show()
        elif isinstance(result, ImageResult) and "top" in result.settings:
            if self._classifying is not None:
                self._overlay = (result.image, self._classifying)
            novelty = result.settings.get("novelty")  # absent: from a checkpoint without the check
            self._show_prediction(result.settings["top"], novelty)
        elif isinstance(result, Classification):
            top = [(p.label, p.probability) for p in result.top]
            self._show_prediction(top, None if result.novelty is None else result.novelty.to_json())

    def _show_prediction(self, top: list[Any], novelty: dict[str, Any] | None) -> None:
        """The top labels with their probabilities and, for a picture unlike the training pictures, the
        warning (none when the model has no calibrated check)."""
        self.top_labels.setText("\n".join(f"{label}: {100 * p:.1f}%" for label, p in top))
        self.top_labels.setToolTip("")
        self.unfamiliar.hide()
        if novelty is None:
            return
        from core.classifier.novelty import Novelty

        verdict = Novelty(float(novelty["score"]), float(novelty["threshold"]))
        if verdict.unlike:
            self.unfamiliar.setText(f"⚠ {verdict.describe()}")
            self.unfamiliar.show()
        else:
            self.top_labels.setToolTip(verdict.describe())

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
