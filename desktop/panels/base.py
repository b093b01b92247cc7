"""What the window expects of a model panel that builds its own jobs (the VAE and classifier panels).

The panel turns its controls into a core job and emits `job_requested(job, edits_canvas)`; the window runs
it through the one JobWorker, shows progress, puts an ImageResult on the canvas and hands the result back to
the panel that asked (`job_finished`). So adding a model family adds a panel, not window code.
"""

from collections.abc import Callable

from PIL import Image
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from core.catalog import TrainedModel


class ModelPanel(QWidget):
    job_requested = Signal(object, bool)  # (a core job, whether its picture edits the canvas picture)
    error = Signal(str)  # a message for a problem with the panel's input (shown non-modally)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas_picture: Callable[[], Image.Image | None] = lambda: None  # set by the window

    def set_busy(self, busy: bool) -> None:
        """A job is running (any panel's): disable what would start another."""

    def set_model(self, model: TrainedModel) -> None:
        """The user picked one of this panel's trained models in the model picker."""

    def job_finished(self, result: object) -> None:
        """The result of a job this panel requested (after an ImageResult reached the canvas)."""
