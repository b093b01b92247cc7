"""Soak test of the window (issue 12, "Load"): many jobs back to back, many latent-slider moves and many
undo/redo steps leave no threads, QObjects or memory behind, and every job ends with exactly one of
finished / failed / cancelled.

It takes seconds (a small picture, a tiny VAE), so it runs in the default suite.
"""

import gc
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import shiboken6
import torch
from PySide6.QtCore import QEvent, QObject, QThread
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

import desktop.main_window
from core import paths
from core.checkpoints import ModelKind
from core.data import ImageSet
from core.jobs import JobContext
from core.vae.training import VaeTrainingJob
from desktop.main_window import MainWindow
from desktop.panels.colour import ColourPanel
from desktop.panels.vae import VaePanel
from desktop.workers import JobWorker
from tests.conftest import gradient_image
from tests.desktop.conftest import panel_of
from tests.desktop.test_workers import ends_with, record

RSS_GROWTH_LIMIT = 100 * 2**20


class HeldJobWorker(JobWorker):
    """The window's own worker, except that the test starts it, once its spies listen (a signal emitted
    before a spy connects would go unseen)."""

    def start(self) -> None:
        pass

    def really_start(self) -> None:
        super().start()


@dataclass(frozen=True)
class Usage:
    threads: int  # the process's OS threads
    python_threads: int  # threading.active_count(), less ended threads it still lists (see below)
    qthreads: int  # QThread objects alive anywhere (a gc scan of valid wrappers), not only the window's
    qobjects: int  # the window's QObjects
    rss: int  # bytes


def usage(window: MainWindow) -> Usage:
    for _ in range(3):  # let queued releases and deferred deletes run
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    tasks = {int(t) for t in os.listdir("/proc/self/task")}
    # A QThread that ran Python code stays listed by `threading` as a "dummy" thread after it ends (Python
    # cannot see foreign threads end): only those still running count.
    python = sum(1 for t in threading.enumerate() if t.native_id in tasks)
    # type(), not isinstance(): that would read __class__ of lazy module proxies, which warn
    qthreads = sum(1 for o in gc.get_objects() if issubclass(type(o), QThread) and shiboken6.isValid(o))
    with open("/proc/self/statm") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return Usage(len(tasks), python, qthreads, len(window.findChildren(QObject)), rss)


def tiny_vae() -> Path:
    """A VAE of two steps on 28 px grey discs, in the models folder (a second or so on a CPU)."""
    ys, xs = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    radii = torch.linspace(3, 10, 32)
    discs = ((ys - 14) ** 2 + (xs - 14) ** 2)[None] <= radii[:, None, None] ** 2
    data = ImageSet((discs[:, None] * 255).to(torch.uint8), name="discs")
    job = VaeTrainingJob(data, paths.models_dir() / "soak", steps=2, latent=4, width=8, batch_size=16)
    return job.run(JobContext())


def run_one_job(window: MainWindow, qtbot: QtBot) -> None:
    """One colour transfer through the window's normal path, ending with exactly one finished."""
    panel_of(window, ColourPanel).apply_button.click()  # a real click's signal; the panel is not shown
    worker = window.worker
    assert isinstance(worker, HeldJobWorker)
    seen = record(worker)
    with ends_with(qtbot, worker, "finished"):
        worker.really_start()
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)
    assert seen == ["started", "finished", "ended", "released"]


def move_sliders(panel: VaePanel, qtbot: QtBot, moves: int) -> int:
    """`moves` slider moves, as a drag makes them; returns how many decodes ran."""
    live = panel._live
    assert live is not None
    ran = record(live)
    slider = panel.sliders[0]
    for move in range(moves):
        slider.setValue((move * 37) % slider.maximum())
        QApplication.processEvents()  # decodes end while the slider moves on
    qtbot.waitUntil(lambda: panel._decoder is None, timeout=30_000)
    assert panel._live is live  # one worker, one thread, for every move
    decodes = ran.count("started")
    assert ran == ["started", "finished", "ended"] * decodes  # each decode ended exactly once
    return decodes


def undo_redo(window: MainWindow, steps: int) -> None:
    stack = window.undo_stack
    top, depth = stack.index(), min(10, stack.index() - 1)
    for _ in range(steps // (2 * depth)):
        for _ in range(depth):
            stack.undo()
        for _ in range(depth):
            stack.redo()
    assert stack.index() == top


def soak(window: MainWindow, qtbot: QtBot, tmp_path: Path, jobs: int, moves: int, undo_steps: int) -> None:
    photo = tmp_path / "photo.png"
    gradient_image(48, 32).save(photo)
    assert window.open_file(photo)
    vae = tiny_vae()
    window.model_picker.refresh()
    window.model_picker.select_model(vae)
    panel = window.model_panels[ModelKind.VAE]
    assert isinstance(panel, VaePanel)
    assert panel.model == vae

    # One round of everything first: torch's thread pool, the loaded VAE and the live decode worker are
    # made once and kept; the baseline is taken after them.
    run_one_job(window, qtbot)
    move_sliders(panel, qtbot, 3)
    undo_redo(window, 2)
    live_thread = panel._live.qthread if panel._live is not None else None
    before = usage(window)
    assert window.findChildren(QThread) == [live_thread]

    for _ in range(jobs):
        run_one_job(window, qtbot)
    decodes = move_sliders(panel, qtbot, moves)
    undo_redo(window, undo_steps)

    after = usage(window)
    assert 1 <= decodes <= moves
    assert window.findChildren(QThread) == [live_thread]  # no job's thread outlives its job
    assert after.threads == before.threads
    assert after.python_threads == before.python_threads
    assert after.qthreads == before.qthreads
    assert after.qobjects == before.qobjects
    assert after.rss - before.rss < RSS_GROWTH_LIMIT, f"RSS grew {(after.rss - before.rss) / 2**20:.0f} MB"
    assert window.undo_stack.count() <= desktop.main_window.UNDO_LIMIT

    panel.close_down()  # the window closing: the live worker ends and is released too
    qtbot.waitUntil(lambda: not window.findChildren(QThread), timeout=5000)
    closed = usage(window)
    assert closed.qthreads == before.qthreads - 1
    assert closed.threads < before.threads


@pytest.fixture
def held_window(monkeypatch: pytest.MonkeyPatch, window: MainWindow) -> MainWindow:
    monkeypatch.setattr(desktop.main_window, "JobWorker", HeldJobWorker)
    return window


def test_soak_20_jobs_500_slider_moves_200_undo_steps(
    held_window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    """The full load of issue 12; it takes seconds (small pictures, a tiny VAE), so it is not marked slow."""
    soak(held_window, qtbot, tmp_path, jobs=20, moves=500, undo_steps=200)
