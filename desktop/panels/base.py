"""What the window expects of a panel: every panel in the Tools dock is a `ModelPanel` that builds its own
core jobs.

The panel turns its controls into a core job and emits `job_requested(job, edits_canvas)`; the window runs
it through the one JobWorker, shows progress, puts an ImageResult on the canvas and hands the result back to
the panel that asked (`job_finished`). The panel says which built-in tools (`tools`) and which kinds of
trained model (`kinds`) of the model picker it is shown for. So adding a model family adds a panel (listed
in `desktop.panels.PANELS`), not window code.
"""

from collections.abc import Callable
from typing import ClassVar

from PIL import Image
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import QSpinBox, QWidget

from core.catalog import Tool, TrainedModel
from core.checkpoints import ModelKind

NO_PICTURE = ("No picture", "Open or drop a picture on the canvas first.")


class ModelPanel(QWidget):
    tools: ClassVar[tuple[Tool, ...]] = ()  # the model picker's built-in tools that show this panel
    kinds: ClassVar[tuple[ModelKind, ...]] = ()  # the trained models this panel uses (`set_model`)

    job_requested = Signal(object, bool)  # (a core job, whether its picture edits the canvas picture)
    error = Signal(str)  # a message for a problem with the panel's input (shown non-modally)
    problem = Signal(str, str)  # (title, message): the same, under a title of the panel's own
    status = Signal(str)  # a note for the status bar
    cancel_requested = Signal()  # the panel's own Cancel button: stop the running job
    # (picture, caption): a passing view on the canvas, like a job's preview (the sequence panel's glimpse
    # slider): no undo step, no history; the canvas picture comes back when the next job ends
    preview = Signal(QImage, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas_picture: Callable[[], Image.Image | None] = lambda: None  # set by the window

    def set_busy(self, busy: bool) -> None:
        """A job is running (any panel's): disable what would start another."""

    def set_model(self, model: TrainedModel) -> None:
        """The user picked one of this panel's trained models in the model picker."""

    def models_changed(self) -> None:
        """The models folder changed (a training run ended): re-read any list of models the panel shows."""

    def job_finished(self, result: object) -> None:
        """The result of a job this panel requested (after an ImageResult reached the canvas)."""

    def device_ready(self) -> None:
        """The start-up warm-up has loaded torch and picked the device: a panel may measure it now."""

    def picture_opened(self) -> None:
        """A picture was opened on the canvas while this panel is shown (the classifier classifies it)."""

    def edit_actions(self) -> list[QAction]:
        """Entries the panel adds to the window's Edit menu (the style panel: the VGG weights file)."""
        return []

    def close_down(self) -> None:
        """The window is closing: wait for any background work the panel runs itself."""


def spin_box(low: int, high: int, value: int, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    return spin
