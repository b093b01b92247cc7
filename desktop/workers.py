"""The one way the window runs core jobs off the GUI thread: a worker that owns its QThread.

Every background job goes through `Worker`: the window's job slot and the start-up warm-up use a
`JobWorker` (one job, then the worker ends), the VAE panel's live decodes a `LatestJobWorker` (one thread
for the panel's life, fed a queue of length one). Both start with `start()` and release themselves the
same way: when the thread has stopped, `released` is emitted, then the thread and the worker are deleted
(`deleteLater`). Whoever holds a worker drops its reference on `released`; that is when a slot is free.

The worker object itself lives in the GUI thread and only its QThread runs the job; signals are emitted
from that thread, so connected slots of GUI objects run queued in the GUI thread (as superqt's workers do).
"""

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.allocator import release_freed_memory
from core.errors import user_message
from core.jobs import CancelToken, Event, ImageResult, Job, Message, Preview, Progress, run_job
from desktop.qimage import to_qimage

log = logging.getLogger(__name__)


class _Thread(QThread):
    """A QThread that runs one callable (no event loop: a job keeps its thread busy anyway)."""

    def __init__(self, body: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._body = body

    def run(self) -> None:
        self._body()


class Worker(QObject):
    """Runs core jobs on a QThread it owns. Signals arrive in the GUI thread (queued connections).

    Each job starts with `started(job)` and ends with exactly one of `finished(result, qimage)`,
    `cancelled(result_or_None, qimage)` or `failed(message)`, then `ended(job)`; `qimage` is the picture of
    an ImageResult, converted here like previews (None otherwise). A cancelled job may still have a result
    worth keeping (the latest stylization). Converting pictures here keeps that work (~100 ms for 24 MP)
    off the GUI thread. Once the thread has stopped, `released` is emitted and the worker and its thread
    are deleted.
    """

    started = Signal(object)  # the job about to run
    progress = Signal(object)  # core.jobs.Progress
    preview = Signal(object, str, bool)  # QImage, caption, show on the canvas
    message = Signal(str)
    finished = Signal(object, object)
    cancelled = Signal(object, object)
    failed = Signal(str)
    ended = Signal(object)  # the job whose end signal (one of the three above) was just emitted
    released = Signal()  # the thread has stopped; the worker and its thread are deleted right after

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.token = CancelToken()
        self.qthread = _Thread(self._run_jobs, self)
        self.qthread.setObjectName(name)
        self.qthread.finished.connect(self._release)  # queued: `finished` comes from the thread itself
        self._started = False
        self._released = False

    def start(self) -> None:
        """Connect to the signals first, then start."""
        self._started = True
        self.qthread.start()

    def cancel(self) -> None:
        self.token.cancel()

    def pause(self) -> None:
        self.token.pause()

    def resume(self) -> None:
        self.token.resume()

    def is_running(self) -> bool:
        return not self._released and self.qthread.isRunning()

    def wait(self, timeout_ms: int) -> bool:
        """Block until the thread has ended (True) or `timeout_ms` passed (False)."""
        return self._released or self.qthread.wait(timeout_ms)

    def _run_jobs(self) -> None:
        """The thread's body: run the worker's jobs through `_run_one`."""
        raise NotImplementedError

    def _run_one(self, job: Job[Any]) -> None:
        self.started.emit(job)
        try:
            outcome = run_job(job, self._forward, self.token)
            image = outcome.result.image if isinstance(outcome.result, ImageResult) else None
            qimage = to_qimage(image) if image is not None else None
        except Exception as exc:
            log.exception("job %r failed", job.title)
            self.failed.emit(user_message(exc))
        else:
            (self.cancelled if outcome.cancelled else self.finished).emit(outcome.result, qimage)
        self.ended.emit(job)

    def _forward(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.progress.emit(event)
        elif isinstance(event, Preview):
            self.preview.emit(to_qimage(event.image), event.caption, event.on_canvas)
        elif isinstance(event, Message):
            self.message.emit(event.text)

    @Slot()
    def _release(self) -> None:
        self.qthread.wait()  # `finished` is emitted just before the thread really ends: a moment
        self._released = True
        self.released.emit()
        self.qthread.deleteLater()
        self.deleteLater()


class JobWorker(Worker):
    """Runs one `job`, then releases itself."""

    def __init__(self, job: Job[Any], parent: QObject | None = None) -> None:
        super().__init__(f"job: {job.title}", parent)
        self.job = job

    @property
    def title(self) -> str:
        return self.job.title

    def _run_jobs(self) -> None:
        self._run_one(self.job)
        release_freed_memory()  # an idle window should not sit on the job's peak


class LatestJobWorker(Worker):
    """A long-lived worker for a live view (the VAE's latent sliders): one thread however many jobs.

    `submit(job)` queues a job, replacing one still waiting (a queue of length one: the latest wins), so a
    dragged slider never builds a backlog of outdated jobs. `close()` drops a waiting job and ends the
    thread after the running one; the worker is then released like any other.
    """

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(name, parent)
        self._queue = threading.Condition()
        self._waiting: Job[Any] | None = None
        self._closing = False

    def submit(self, job: Job[Any]) -> None:
        with self._queue:
            self._waiting = job
            self._queue.notify()

    def close(self) -> None:
        with self._queue:
            self._waiting, self._closing = None, True
            self._queue.notify()
        if not self._started:
            self.start()  # it ends at once, through the same release as every worker

    def _run_jobs(self) -> None:
        while True:
            with self._queue:
                while self._waiting is None and not self._closing:
                    self._queue.wait()
                if self._closing:
                    return
                job, self._waiting = self._waiting, None
            if job is not None:
                self._run_one(job)
