"""The progress dock: what runs, how far it is, its losses and latest preview, with Pause and Cancel."""

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.jobs import Progress
from desktop.loss_plot import LossPlot
from desktop.workers import JobWorker

PREVIEW_SIZE = 160


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class ProgressPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._worker: JobWorker | None = None
        self._started = 0.0

        self.title = QLabel("No job running")
        self.title.setStyleSheet("font-weight: 600")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setToolTip("Latest preview")
        self.preview.hide()
        self.plot.hide()  # plot and preview appear with a job's first losses and preview
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self._set_running(False)

        buttons = QHBoxLayout()
        buttons.addWidget(self.bar, 1)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        left = QVBoxLayout()
        left.addWidget(self.title)
        left.addLayout(buttons)
        left.addWidget(self.status)
        left.addWidget(self.plot, 1)
        left.addStretch(0)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def attach(self, worker: JobWorker) -> None:
        """Follow `worker` from its start to its end."""
        self._worker = worker
        self._started = time.monotonic()
        self.title.setText(worker.title)
        self.bar.setRange(0, 0)  # busy until the first progress event gives a total
        self.status.setText("Starting…")
        self.plot.clear()
        self.plot.hide()
        self.preview.clear()
        self.preview.hide()
        worker.progress.connect(self._on_progress)
        worker.preview.connect(self._on_preview)
        worker.message.connect(self.status.setText)
        # Bound methods, not lambdas: PySide queues a call to a QObject's method into that object's
        # (GUI) thread, whereas a lambda would run in the worker thread and touch widgets from there.
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_cancelled)
        worker.failed.connect(self._on_failed)
        self._set_running(True)

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.status.setText("Cancelling…")

    def _toggle_pause(self, paused: bool) -> None:
        if self._worker is None:
            return
        if paused:
            self._worker.pause()
            self.status.setText("Paused.")
        else:
            self._worker.resume()
        self.pause_button.setText("Resume" if paused else "Pause")

    def _on_progress(self, event: Progress) -> None:
        self.bar.setRange(0, event.total)
        self.bar.setValue(event.step)
        parts = [event.stage or f"step {event.step} of {event.total}"]
        if event.step < event.total:
            left = event.eta_s  # None: the job has not timed enough steps to say
            parts.append("estimating…" if left is None else f"about {format_duration(left)} left")
        if not self.pause_button.isChecked():
            self.status.setText(" · ".join(parts))
        if event.losses:
            self.plot.add(event.x, dict(event.losses), event.unit)
            self.plot.show()

    def _on_preview(self, image: QImage, caption: str, on_canvas: bool) -> None:
        pixmap = QPixmap.fromImage(image).scaled(
            self.preview.size() * self.devicePixelRatioF(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        self.preview.setPixmap(pixmap)
        self.preview.show()
        self.preview.setToolTip(caption or "Latest preview")

    def _on_finished(self, result: object, image: object) -> None:
        self._end(f"Finished in {format_duration(time.monotonic() - self._started)}.", done=True)

    def _on_cancelled(self, result: object, image: object) -> None:
        self._end("Cancelled.")

    def _on_failed(self, text: str) -> None:
        self._end(f"Failed: {text}")

    def _end(self, text: str, done: bool = False) -> None:
        self._worker = None
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if done else 0)
        self.status.setText(text)
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.pause_button.setChecked(False)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
