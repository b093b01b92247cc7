import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QLabel
from pytestqt.qtbot import QtBot

from core import paths
from core.catalog import Tool
from core.checkpoints import ModelKind, save_checkpoint
from core.images import load_image, read_metadata
from core.jobs import ImageResult, JobContext
from desktop.main_window import MainWindow
from desktop.panels.classifier import ClassifierPanel
from desktop.panels.colour import ColourPanel
from desktop.panels.draw import DrawPanel
from desktop.panels.forecast import ForecastPanel
from desktop.panels.gan import GanPanel
from desktop.panels.style import WEIGHTS_KEY, StylePanel
from desktop.panels.vae import VaePanel
from tests.conftest import gradient_image
from tests.desktop.conftest import click, drop_files, panel_of, show_panel


def canvas_pixels(window: MainWindow) -> np.ndarray:
    """The RGB pixels the canvas shows, (H, W, 3) uint8."""
    image = window.canvas.image()
    assert image is not None
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    return rows[:, : 3 * rgb.width()].reshape(rgb.height(), rgb.width(), 3).copy()


class SlowJob:
    """A job of `steps` sleeps that reports losses and previews, and records how far it got."""

    title = "Slow job"

    def __init__(self, steps: int = 100, step_s: float = 0.02) -> None:
        self.steps, self.step_s, self.done = steps, step_s, 0
        self.thread_name = ""

    def run(self, ctx: JobContext) -> ImageResult:
        self.thread_name = threading.current_thread().name
        for i in range(self.steps):
            ctx.check()
            time.sleep(self.step_s)
            self.done += 1
            ctx.progress(i + 1, self.steps, {"loss": 1.0 / (i + 1)}, stage="Sleeping")
            if i % 10 == 0:
                ctx.preview(gradient_image(32, 32), f"step {i}")
        return ImageResult(gradient_image(64, 48), {"operation": "slow"})


def test_window_appears_before_torch_is_imported(tmp_path: Path) -> None:
    """A fresh interpreter builds and shows the window, with every panel shown once, and has loaded none of
    the libraries that are the warm-up's to load (ruff's TID253 keeps them out of desktop's module level)."""
    script = (
        "import sys\n"
        "from core.catalog import Tool\n"
        "from desktop.app import create_app\n"
        "from desktop.main_window import MainWindow\n"
        "app = create_app([])\n"
        "w = MainWindow()\n"
        "w.show(); w.open_sample(); app.processEvents()\n"
        "assert w.isVisible() and w.canvas.image() is not None\n"
        "for tool in Tool:\n"
        "    w.model_picker.select_tool(tool); app.processEvents()\n"
        "    assert w.tools.currentWidget().isVisible()\n"
        "heavy = ('torch', 'torchvision', 'onnx', 'onnxruntime', 'safetensors.torch')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "NEURAL_EASEL_HOME": str(tmp_path), "PATH": ""}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_dropping_a_picture_shows_it(window: MainWindow, photo_file: Path) -> None:
    drop_files(window.canvas.viewport(), photo_file)
    assert np.array_equal(canvas_pixels(window), np.asarray(load_image(photo_file)))
    assert window.undo_stack.count() == 1
    assert "photo.png" in window.windowTitle()
    assert window.recent_files() == [str(photo_file.resolve())]


def test_dropping_a_non_image_explains_and_changes_nothing(
    window: MainWindow, photo_file: Path, tmp_path: Path
) -> None:
    drop_files(window.canvas.viewport(), photo_file)
    before = canvas_pixels(window)
    junk = tmp_path / "letter.png"
    junk.write_text("Dear artist,")
    drop_files(window.canvas.viewport(), junk)
    assert window.error_box is not None
    assert window.error_box.isVisible()
    assert "letter.png is not an image" in window.error_box.text()
    assert "Traceback" not in window.error_box.text()
    assert np.array_equal(canvas_pixels(window), before)
    assert window.undo_stack.count() == 1


def test_dropping_a_folder_opens_its_first_picture(window: MainWindow, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    drop_files(window.canvas.viewport(), folder)
    assert window.error_box is not None
    assert "holds no image files" in window.error_box.text()
    assert window.canvas.image() is None
    gradient_image(40, 30).save(folder / "a.png")
    gradient_image(50, 30).save(folder / "b.png")
    drop_files(window.canvas.viewport(), folder)
    assert window.canvas.image() is not None
    assert window.canvas.image().width() == 40


def test_colour_transfer_from_the_window(
    window: MainWindow, qtbot: QtBot, photo_file: Path, palette_file: Path
) -> None:
    window.open_file(photo_file)
    original = canvas_pixels(window)
    panel = show_panel(window, ColourPanel)
    assert panel.palette_well.load(palette_file)
    click(qtbot, panel.apply_button)
    assert window.worker is not None
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)

    result = canvas_pixels(window)
    assert result.shape == original.shape
    assert np.abs(result.astype(int) - original).mean() > 5
    assert window.progress_panel.status.text().startswith("Finished")
    assert window.progress_panel.bar.value() == window.progress_panel.bar.maximum()
    assert window.undo_stack.count() == 2
    assert window.undo_stack.undoText() == "Colour transfer"
    assert window.compare_action.isEnabled()
    window.compare_action.setChecked(True)
    assert window.canvas.comparing()

    window.undo_stack.undo()
    assert np.array_equal(canvas_pixels(window), original)
    assert not window.compare_action.isEnabled()
    window.undo_stack.redo()
    assert np.array_equal(canvas_pixels(window), result)


def test_jobs_run_off_the_gui_thread_and_report_progress(window: MainWindow, qtbot: QtBot) -> None:
    window.open_sample()
    job = SlowJob(steps=30, step_s=0.01)
    window.run_job(job)
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)
    assert job.thread_name != threading.current_thread().name
    panel = window.progress_panel
    assert panel.plot.isVisible()
    assert panel.plot.series["loss"][-1] == (30, 1 / 30)
    assert panel.preview.isVisible()
    assert panel.preview.pixmap() is not None
    assert window.canvas.image() is not None
    assert window.canvas.image().size().width() == 64


def test_cancel_stops_the_job(window: MainWindow, qtbot: QtBot) -> None:
    window.open_sample()
    job = SlowJob(steps=500, step_s=0.01)
    window.run_job(job)
    qtbot.waitUntil(lambda: job.done >= 3, timeout=5000)
    canvas_before = canvas_pixels(window)
    qtbot.mouseClick(window.progress_panel.cancel_button, Qt.MouseButton.LeftButton)
    done_at_cancel = job.done
    qtbot.waitUntil(lambda: window.worker is None, timeout=5000)
    assert job.done <= done_at_cancel + 1  # within one step
    assert window.progress_panel.status.text() == "Cancelled."
    assert np.array_equal(canvas_pixels(window), canvas_before)
    assert panel_of(window, ColourPanel).apply_button.isEnabled()


def test_pause_and_resume(window: MainWindow, qtbot: QtBot) -> None:
    job = SlowJob(steps=40, step_s=0.01)
    window.run_job(job)
    qtbot.waitUntil(lambda: job.done >= 2, timeout=5000)
    window.progress_panel.pause_button.click()
    qtbot.wait(100)
    paused_at = job.done
    qtbot.wait(200)
    assert job.done <= paused_at + 1
    assert window.progress_panel.pause_button.text() == "Resume"
    window.progress_panel.pause_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=5000)
    assert job.done == 40


def test_the_ui_keeps_serving_events_during_a_long_job(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    """A QTimer must keep ticking through a real colour transfer that lasts over a second."""
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8))
    big_file = tmp_path / "big.png"
    big.save(big_file, compress_level=0)
    window.open_file(big_file)
    apply = show_panel(window, ColourPanel).apply_button
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    start = time.perf_counter()
    click(qtbot, apply)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    timer.stop()
    duration = time.perf_counter() - start
    assert duration > 1.0, "the job must last long enough to mean something"
    gaps = np.diff(ticks)
    assert len(ticks) > 0.5 * duration / 0.010
    assert gaps.max() < 0.25  # a frozen window would show gaps as long as the job


def test_a_failing_job_shows_a_message_not_a_traceback(
    window: MainWindow, qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        title = "Broken"

        def run(self, ctx: JobContext) -> None:
            raise ZeroDivisionError("division by zero")

    window.run_job(Broken())
    qtbot.waitUntil(lambda: window.worker is None, timeout=5000)
    assert window.error_box is not None
    text = window.error_box.text()
    assert "Unexpected error (ZeroDivisionError: division by zero)" in text
    assert str(paths.log_file()) in text
    assert "Traceback" not in text
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)  # for the log
    assert window.progress_panel.status.text().startswith("Failed:")


def test_closing_during_a_job_cancels_it(qtbot: QtBot, settings: QSettings) -> None:
    win = MainWindow(settings)
    qtbot.addWidget(win)
    job = SlowJob(steps=1000, step_s=0.01)
    win.run_job(job)
    qtbot.waitUntil(lambda: job.done >= 2, timeout=5000)
    worker = win.worker
    assert worker is not None
    win.close()
    assert not worker.is_running()
    assert job.done < 1000


def test_save_as_writes_the_result_with_its_settings(
    window: MainWindow, qtbot: QtBot, photo_file: Path, tmp_path: Path
) -> None:
    window.open_file(photo_file)
    click(qtbot, show_panel(window, ColourPanel).apply_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)
    assert not window.undo_stack.isClean()
    out = tmp_path / "saved" / "result.webp"
    assert window.save_to(out)
    assert read_metadata(out)["operation"] == "colour-transfer"
    assert read_metadata(out)["source"] == "photo.png"
    assert np.abs(np.asarray(load_image(out)).astype(int) - canvas_pixels(window)).mean() < 3
    assert window.undo_stack.isClean()
    assert not window.save_to(tmp_path / "result.tga")
    assert window.error_box is not None
    assert "use .png, .jpg or .webp" in window.error_box.text()


def test_settings_are_remembered(qtbot: QtBot, settings: QSettings, photo_file: Path) -> None:
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 500)  # inside the offscreen screen (800 x 600): restoreGeometry clamps to it
    colours = show_panel(first, ColourPanel)
    colours.mode.setCurrentIndex(colours.mode.findData("luminance"))
    colours.strength.setValue(40)
    first.open_file(photo_file)
    click(qtbot, colours.apply_button)  # settings are remembered when used
    qtbot.waitUntil(lambda: first.worker is None, timeout=10_000)
    first.close()

    second = MainWindow(settings)
    qtbot.addWidget(second)
    second.show()
    assert (second.width(), second.height()) == (700, 500)
    colours = panel_of(second, ColourPanel)
    assert colours.mode.currentData() == "luminance"
    assert colours.strength.value() == 40
    assert [a.toolTip() for a in second.recent_menu.actions()] == [str(photo_file.resolve())]


def test_model_picker_lists_trained_models(qtbot: QtBot, settings: QSettings) -> None:
    for name, kind, arch in [
        ("portraits", ModelKind.GAN, "dcgan-sn-v1"),
        ("faces", ModelKind.VAE, "conv-vae-v1"),
    ]:
        save_checkpoint(
            paths.models_dir() / f"{name}.safetensors",
            {"w": torch.zeros(2)},
            kind=kind,
            arch=arch,
            config={"size": 64},
        )
    win = MainWindow(settings)
    qtbot.addWidget(win)
    picker = win.model_picker
    families = {
        picker.topLevelItem(i).text(0): picker.topLevelItem(i) for i in range(picker.topLevelItemCount())
    }
    gan, vae = families["GAN"], families["VAE"]
    assert [gan.child(i).text(0) for i in range(gan.childCount())] == ["Train a GAN", "portraits"]
    picker.setCurrentItem(gan.child(1))
    gan_panel = panel_of(win, GanPanel)
    assert win.tools.currentWidget() is gan_panel
    assert gan_panel.model_label.text().startswith("portraits: 64 px")
    assert [vae.child(i).text(0) for i in range(vae.childCount())] == ["Train a VAE", "faces"]
    picker.setCurrentItem(vae.child(1))
    panel = win.model_panels[ModelKind.VAE]
    assert win.tools.currentWidget() is panel
    assert panel.model_label.text().startswith("faces: 64 px")
    assert "conv-vae-v1" in vae.child(1).toolTip(0)
    qtbot.waitUntil(lambda: panel._decoder is None)  # the live view tried, and said why it cannot
    assert win.error_box is not None
    assert "faces.safetensors does not hold the weights" in win.error_box.text()


def test_pyside_build_survives_many_void_calls(qtbot: QtBot) -> None:
    """PySide6 6.12.0 aborts the interpreter after ~5,000 calls returning None (none_dealloc)."""
    label = QLabel()
    qtbot.addWidget(label)
    for i in range(20_000):
        label.setText(str(i))
    assert label.text() == "19999"


@pytest.mark.parametrize("zoom", [0.5, 2.0])
def test_canvas_zoom_and_fit(window: MainWindow, zoom: float) -> None:
    window.open_sample()
    window.canvas.set_zoom(zoom)
    assert window.canvas.zoom() == pytest.approx(zoom)
    window.canvas.fit()
    image = window.canvas.image()
    assert image is not None
    viewport = window.canvas.viewport().size()
    fitted = window.canvas.zoom()
    assert image.width() * fitted <= viewport.width() + 1
    assert image.height() * fitted <= viewport.height() + 1
    # fitInView keeps a 2 px margin on each side
    assert image.width() * fitted >= viewport.width() - 5 or image.height() * fitted >= viewport.height() - 5


def test_warm_up_reports_the_device_without_taking_the_job_slot(window: MainWindow, qtbot: QtBot) -> None:
    window.warm_up()
    assert window.worker is None  # jobs can start while torch loads
    qtbot.waitUntil(lambda: window.device_label.text() != "Device: …", timeout=60_000)
    from core import devices  # what this machine has: "CPU (2 threads)" here, a GPU's name on a GPU machine

    assert window.device_label.text() == f"Device: {devices.describe(devices.pick_device())}"


def test_picking_a_tool_shows_its_panel(window: MainWindow) -> None:
    expected = {
        Tool.STYLIZE: StylePanel,
        Tool.COLOUR_TRANSFER: ColourPanel,
        Tool.TRAIN_GAN: GanPanel,
        Tool.TRAIN_VAE: VaePanel,
        Tool.TRAIN_CLASSIFIER: ClassifierPanel,
        Tool.TRAIN_DRAW: DrawPanel,
        Tool.CONTINUE_SEQUENCE: ForecastPanel,
    }
    assert set(expected) == set(Tool)
    for tool, kind in expected.items():
        window.model_picker.select_tool(tool)
        assert isinstance(window.tools.currentWidget(), kind), tool
        assert window.tools.currentWidget().isVisible()


def test_every_kind_of_trained_model_has_a_panel(window: MainWindow) -> None:
    assert set(window.model_panels) == set(ModelKind)
    assert window.model_panels[ModelKind.FAST_STYLE] is panel_of(window, StylePanel)
    assert window.model_panels[ModelKind.GAN] is panel_of(window, GanPanel)


def test_the_edit_menu_holds_the_style_panels_vgg_weights_entries(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (edit,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&Edit"]
    entries = [a.text() for a in edit.actions()]
    assert entries == ["&Undo", "&Redo", "", "Choose VGG &Weights File…", "Use &Built-in VGG Weights"]
    weights = tmp_path / "vgg.safetensors"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (str(weights), ""))
    edit.actions()[3].trigger()
    assert window.settings.value(WEIGHTS_KEY) == str(weights)
    edit.actions()[4].trigger()
    assert window.settings.value(WEIGHTS_KEY) is None


@pytest.mark.parametrize("on_canvas", [True, False])
def test_a_training_runs_sample_grids_fill_the_canvas_when_asked(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path, on_canvas: bool
) -> None:
    """View > Training Previews on Canvas: while a GAN trains its latest grid is the canvas (the photo
    comes back when it ends); off, the canvas keeps the photo and only the progress dock shows grids."""
    from core.data import open_data_set
    from core.gan.training import GanTrainingJob

    window.training_on_canvas_action.setChecked(on_canvas)
    window.open_sample()
    photo = window.canvas.image()
    assert photo is not None
    job = GanTrainingJob(
        lambda ctx: open_data_set(str(shapes_folder), 32), paths.new_run_folder("grid"),
        steps=4, size=32, width=8, batch_size=4, sample_every=2,
    )  # fmt: skip
    shown: list[tuple[int, int]] = []  # the canvas's size at each preview, after the window's own slot
    window.run_job(job, edits_canvas=False)
    assert window.worker is not None
    window.worker.preview.connect(lambda *_: shown.append(window.canvas.image().size().toTuple()))
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)

    assert len(shown) == 2  # steps 2 and 4
    grid_shown = [size != photo.size().toTuple() for size in shown]
    assert grid_shown == [on_canvas, on_canvas]
    assert window.canvas.image() is not None
    assert window.canvas.image().size() == photo.size()  # the picture is back when the run ends
    restarted = MainWindow(window.settings)
    qtbot.addWidget(restarted)
    assert restarted.training_on_canvas_action.isChecked() == on_canvas  # remembered
