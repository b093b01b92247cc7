"""The worker's promise, tested in superqt's manner: every job starts, then ends with exactly one of
finished / failed / cancelled, in that order, and the worker and its QThread are deleted afterwards."""

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QObject, Qt, QThread
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from core.errors import UserError
from core.jobs import ImageResult, JobContext
from desktop.workers import JobWorker, LatestJobWorker, Worker
from tests.conftest import gradient_image

END_SIGNALS = ("finished", "failed", "cancelled")


class StepJob:
    """`steps` short steps; `keep_partial` returns the picture so far when cancelled."""

    title = "Steps"

    def __init__(self, steps: int = 5, step_s: float = 0.01, keep_partial: bool = False) -> None:
        self.steps, self.step_s, self.keep_partial = steps, step_s, keep_partial
        self.done = 0

    def run(self, ctx: JobContext) -> ImageResult:
        for i in range(self.steps):
            if self.keep_partial and ctx.stop_requested():
                break
            ctx.check()
            time.sleep(self.step_s)
            self.done += 1
            ctx.progress(i + 1, self.steps)
        return ImageResult(gradient_image(16, 8), {"done": self.done})


class RaisingJob:
    title = "Raises"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def run(self, ctx: JobContext) -> None:
        raise self.exc


class GateJob:
    """Blocks until `gate` is set, so a test can act while it runs."""

    title = "Gate"

    def __init__(self, name: str, gate: threading.Event | None = None, ran: list[str] | None = None) -> None:
        self.name, self.gate, self.ran = name, gate, ran

    def run(self, ctx: JobContext) -> str:
        if self.ran is not None:
            self.ran.append(self.name)
        if self.gate is not None:
            assert self.gate.wait(10)
        return self.name


@contextmanager
def ends_once(qtbot: QtBot, worker: Worker, end: str, timeout: int = 10_000) -> Iterator[None]:
    """Inside: the job's started -> `end` -> ended arrive in this order, and neither of the other two end
    signals (superqt's manner: `waitSignals(order="strict")` and `assertNotEmitted`)."""
    others = [getattr(worker, name) for name in END_SIGNALS if name != end]
    with ExitStack() as spies:
        for signal in others:
            spies.enter_context(qtbot.assertNotEmitted(signal))
        signals = [worker.started, getattr(worker, end), worker.ended]
        spies.enter_context(qtbot.waitSignals(signals, order="strict", timeout=timeout))
        yield


@contextmanager
def ends_with(qtbot: QtBot, worker: Worker, end: str, timeout: int = 10_000) -> Iterator[None]:
    """Inside: started -> `end` -> ended arrive in this order and no other end signal; then the worker is
    released."""
    let_go = threading.Event()
    with qtbot.waitSignal(worker.released, timeout=timeout):
        try:
            with ends_once(qtbot, worker, end, timeout):
                # The release deletes the worker and its signals, so the spies must let go first: the
                # thread waits in `ended` (connected last, so after the spies' deliveries are queued).
                worker.ended.connect(
                    lambda _: let_go.wait(timeout / 1000), Qt.ConnectionType.DirectConnection
                )
                yield
        finally:
            let_go.set()


def record(worker: Worker) -> list[str]:
    """The names of the worker's lifecycle signals, in the order they arrive, for its whole life."""
    seen: list[str] = []
    for name in ("started", *END_SIGNALS, "ended", "released"):
        getattr(worker, name).connect(lambda *_, n=name: seen.append(n))
    return seen


def wait_deleted(qtbot: QtBot, *objects: QObject) -> None:
    qtbot.waitUntil(lambda: not any(shiboken6.isValid(o) for o in objects), timeout=5000)


def test_a_job_that_succeeds_finishes_once_and_is_deleted(qtbot: QtBot) -> None:
    worker = JobWorker(StepJob())
    thread = worker.qthread
    seen = record(worker)
    with ends_with(qtbot, worker, "finished"):
        worker.start()
    assert seen == ["started", "finished", "ended", "released"]
    wait_deleted(qtbot, worker, thread)


def test_finished_carries_the_result_and_its_picture(qtbot: QtBot) -> None:
    worker = JobWorker(StepJob())
    with qtbot.waitSignal(worker.finished, timeout=10_000) as blocker:
        worker.start()
    result, image = blocker.args
    assert isinstance(result, ImageResult)
    assert result.settings == {"done": 5}
    assert isinstance(image, QImage)
    assert (image.width(), image.height()) == (16, 8)


def test_a_user_error_fails_once_with_its_own_words(qtbot: QtBot) -> None:
    worker = JobWorker(RaisingJob(UserError("photo.png is damaged.")))
    thread = worker.qthread
    seen = record(worker)
    with ends_with(qtbot, worker, "failed"), qtbot.waitSignal(worker.failed) as failed:
        worker.start()
    assert failed.args == ["photo.png is damaged."]
    assert seen == ["started", "failed", "ended", "released"]
    wait_deleted(qtbot, worker, thread)


def test_an_unexpected_error_fails_once_and_is_logged(qtbot: QtBot, caplog: pytest.LogCaptureFixture) -> None:
    worker = JobWorker(RaisingJob(ZeroDivisionError("division by zero")))
    thread = worker.qthread
    seen = record(worker)
    with ends_with(qtbot, worker, "failed"), qtbot.waitSignal(worker.failed) as failed:
        worker.start()
    assert failed.args[0].startswith("Unexpected error (ZeroDivisionError: division by zero)")
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
    assert seen == ["started", "failed", "ended", "released"]
    wait_deleted(qtbot, worker, thread)


@pytest.mark.parametrize("keep_partial", [False, True])
def test_a_job_cancelled_mid_run_is_cancelled_once(qtbot: QtBot, keep_partial: bool) -> None:
    job = StepJob(steps=1000, keep_partial=keep_partial)
    worker = JobWorker(job)
    thread = worker.qthread
    seen = record(worker)
    with ends_with(qtbot, worker, "cancelled"), qtbot.waitSignal(worker.cancelled) as cancelled:
        worker.start()
        qtbot.waitUntil(lambda: job.done >= 3, timeout=5000)
        worker.cancel()
    assert 3 <= job.done < 1000
    result, image = cancelled.args
    if keep_partial:  # a job with something worth keeping hands it over
        assert isinstance(result, ImageResult)
        assert isinstance(image, QImage)
    else:
        assert (result, image) == (None, None)
    assert seen == ["started", "cancelled", "ended", "released"]
    wait_deleted(qtbot, worker, thread)


def test_a_job_cancelled_before_it_starts_is_cancelled_once_without_running(qtbot: QtBot) -> None:
    job = StepJob()
    worker = JobWorker(job)
    seen = record(worker)
    worker.cancel()
    with ends_with(qtbot, worker, "cancelled"), qtbot.waitSignal(worker.cancelled) as cancelled:
        worker.start()
    assert job.done == 0
    assert cancelled.args == [None, None]
    assert seen == ["started", "cancelled", "ended", "released"]


def test_a_paused_job_stands_still_then_resumes_and_finishes_once(qtbot: QtBot) -> None:
    job = StepJob(steps=40)
    worker = JobWorker(job)
    seen = record(worker)
    with ends_with(qtbot, worker, "finished"):
        worker.start()
        qtbot.waitUntil(lambda: job.done >= 2, timeout=5000)
        worker.pause()
        qtbot.wait(100)  # the step under way may still end
        paused_at = job.done
        qtbot.wait(300)
        assert job.done == paused_at < 40
        assert worker.is_running()
        worker.resume()
    assert job.done == 40
    assert seen == ["started", "finished", "ended", "released"]


def test_cancel_wakes_a_paused_job(qtbot: QtBot) -> None:
    job = StepJob(steps=1000)
    worker = JobWorker(job)
    with ends_with(qtbot, worker, "cancelled"):
        worker.start()
        qtbot.waitUntil(lambda: job.done >= 1, timeout=5000)
        worker.pause()
        qtbot.wait(50)
        worker.cancel()


def test_the_thread_is_deleted_with_the_worker_and_a_parent_keeps_no_children(qtbot: QtBot) -> None:
    parent = QObject()
    before = len(parent.findChildren(QObject))
    worker = JobWorker(StepJob(), parent)
    thread = worker.qthread
    assert thread.parent() is worker
    assert worker.parent() is parent
    assert parent.findChildren(QThread) == [thread]
    with qtbot.waitSignal(worker.released, timeout=10_000):
        worker.start()
    assert not worker.is_running()  # answers after its release, until deleted
    assert worker.wait(0)
    wait_deleted(qtbot, worker, thread)
    assert len(parent.findChildren(QObject)) == before
    assert parent.findChildren(QThread) == []


def test_the_live_worker_runs_the_latest_job_on_one_thread(qtbot: QtBot) -> None:
    """A queue of length one: while a job runs, each new one replaces the one waiting."""
    parent = QObject()
    worker = LatestJobWorker("live", parent)
    thread = worker.qthread
    ran: list[str] = []
    results: list[Any] = []
    worker.finished.connect(lambda result, _image: results.append(result))
    ended: list[object] = []
    worker.ended.connect(ended.append)
    worker.start()
    gate = threading.Event()
    first = GateJob("first", gate, ran)
    worker.submit(first)
    qtbot.waitUntil(lambda: ran == ["first"], timeout=5000)
    jobs = [GateJob(f"move {i}", ran=ran) for i in range(100)]
    for job in jobs:
        worker.submit(job)
    gate.set()
    qtbot.waitUntil(lambda: len(ended) == 2, timeout=5000)
    assert ran == ["first", "move 99"]
    assert results == ["first", "move 99"]
    assert ended == [first, jobs[-1]]
    assert parent.findChildren(QThread) == [thread]
    assert worker.is_running()  # idle, waiting for more
    worker.submit(GateJob("again", ran=ran))
    qtbot.waitUntil(lambda: len(ended) == 3, timeout=5000)
    assert ran[-1] == "again"
    with qtbot.waitSignal(worker.released, timeout=5000):
        worker.close()
    wait_deleted(qtbot, worker, thread)
    assert parent.findChildren(QObject) == []


def test_closing_the_live_worker_drops_the_job_waiting(qtbot: QtBot) -> None:
    worker = LatestJobWorker("live")
    ran: list[str] = []
    gate = threading.Event()
    worker.start()
    worker.submit(GateJob("running", gate, ran))
    qtbot.waitUntil(lambda: ran == ["running"], timeout=5000)
    worker.submit(GateJob("waiting", ran=ran))
    with qtbot.waitSignal(worker.released, timeout=5000):
        worker.close()
        gate.set()
    assert ran == ["running"]


def test_a_live_worker_closed_before_it_started_is_released_all_the_same(qtbot: QtBot) -> None:
    worker = LatestJobWorker("live")
    thread = worker.qthread
    with qtbot.waitSignal(worker.released, timeout=5000):
        worker.close()
    wait_deleted(qtbot, worker, thread)


def test_each_live_job_ends_once_and_a_failure_leaves_the_worker_running(qtbot: QtBot) -> None:
    """The live worker's promise per job is the same: exactly one end signal each, and one that fails does
    not end the worker (the next slider move still decodes); only `close()` releases it."""
    worker = LatestJobWorker("live")
    thread = worker.qthread
    seen = record(worker)
    with qtbot.assertNotEmitted(worker.released):
        worker.start()
        with ends_once(qtbot, worker, "finished"), qtbot.waitSignal(worker.finished) as first:
            worker.submit(GateJob("first"))
        with ends_once(qtbot, worker, "failed"), qtbot.waitSignal(worker.failed) as failed:
            worker.submit(RaisingJob(UserError("vae.safetensors is damaged.")))
        with ends_once(qtbot, worker, "finished"), qtbot.waitSignal(worker.finished) as after:
            worker.submit(GateJob("after"))
        assert worker.is_running()
    assert first.args == ["first", None]
    assert failed.args == ["vae.safetensors is damaged."]
    assert after.args == ["after", None]
    one_each = [["started", end, "ended"] for end in ("finished", "failed", "finished")]
    assert seen == [name for job in one_each for name in job]
    with qtbot.waitSignal(worker.released, timeout=5000):
        worker.close()
    assert seen[-1] == "released"
    wait_deleted(qtbot, worker, thread)
