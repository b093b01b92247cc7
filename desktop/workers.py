"""The one worker that runs any core job on a QThread and turns its events into Qt signals."""

import logging
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.errors import user_message
from core.jobs import CancelToken, Event, ImageResult, Job, Message, Preview, Progress, run_job
from desktop.qimage import to_qimage

log = logging.getLogger(__name__)


class JobWorker(QObject):
    """Runs `job` on its own QThread. Signals arrive in the GUI thread (queued connections).

    Exactly one of `finished(result, qimage)`, `cancelled(result_or_None, qimage)` or `failed(message)`
    ends a run; `qimage` is the picture of an ImageResult, converted here like previews (None otherwise).
    A cancelled job may still have a result worth keeping (the latest stylization).
    `qthread.finished` follows once the thread stops, and only then may the worker be released.
    Converting pictures here keeps that work (~100 ms for 24 MP) off the GUI thread.
    """

    progress = Signal(object)  # core.jobs.Progress
    preview = Signal(object, str, bool)  # QImage, caption, show on the canvas
    message = Signal(str)
    finished = Signal(object, object)
    cancelled = Signal(object, object)
    failed = Signal(str)

    def __init__(self, job: Job[Any]) -> None:
        super().__init__()  # no parent: a QObject with a parent cannot move to another thread
        self.job = job
        self.token = CancelToken()
        self.qthread = QThread()
        self.qthread.setObjectName(f"job: {job.title}")
        self.moveToThread(self.qthread)
        self.qthread.started.connect(self._run)

    @property
    def title(self) -> str:
        return self.job.title

    def start(self) -> None:
        self.qthread.start()

    def cancel(self) -> None:
        self.token.cancel()

    def pause(self) -> None:
        self.token.pause()

    def resume(self) -> None:
        self.token.resume()

    def is_running(self) -> bool:
        return self.qthread.isRunning()

    def wait(self, timeout_ms: int) -> bool:
        """Block until the thread has ended (True) or `timeout_ms` passed (False)."""
        return self.qthread.wait(timeout_ms)

    @Slot()
    def _run(self) -> None:
        try:
            outcome = run_job(self.job, self._forward, self.token)
        except Exception as exc:
            log.exception("job %r failed", self.job.title)
            self.failed.emit(user_message(exc))
        else:
            image = outcome.result.image if isinstance(outcome.result, ImageResult) else None
            qimage = to_qimage(image) if image is not None else None
            (self.cancelled if outcome.cancelled else self.finished).emit(outcome.result, qimage)
        finally:
            # Called directly (quit is thread-safe): a queued call would wait for the GUI thread,
            # which may itself be blocked in wait() while the window closes.
            self.qthread.quit()

    def _forward(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.progress.emit(event)
        elif isinstance(event, Preview):
            self.preview.emit(to_qimage(event.image), event.caption, event.on_canvas)
        elif isinstance(event, Message):
            self.message.emit(event.text)
