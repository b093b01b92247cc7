import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

import resources
from core import devices, paths
from core.images import read_metadata
from core.presets import QUICK_LOOK, StepShape, StepTiming
from core.style import training
from core.style.settings import FAST_STYLE_PRESETS, GatysSettings
from desktop.main_window import MainWindow
from desktop.panels.style import RATE_KEY, WEIGHTS_KEY, StylePanel
from tests.conftest import TEST_DATA, gradient_image, untrained_fast_style
from tests.desktop.conftest import click, drop_files, panel_of, show_panel

STYLE = TEST_DATA / "starry_night.jpg"


@pytest.fixture
def quick_style(window: MainWindow, vgg_file: Path) -> MainWindow:
    """The window with small, fast optimisation settings and the session's VGG file as the user's choice."""
    window.settings.setValue(WEIGHTS_KEY, str(vgg_file))
    panel = show_panel(window, StylePanel)
    panel.output_size.setValue(96)
    panel.iterations.setValue(20)
    panel.scales.setValue(1)
    return window


def test_stylize_from_the_window(
    quick_style: MainWindow, qtbot: QtBot, photo_file: Path, tmp_path: Path
) -> None:
    window = quick_style
    panel = panel_of(window, StylePanel)
    drop_files(window.canvas.viewport(), photo_file)
    panel.wells.clear()
    drop_files(panel.wells, STYLE)
    assert [s.name for s in panel.wells.styles()] == ["starry_night"]
    previews: list[object] = []
    click(qtbot, panel.stylize_button)
    assert window.worker is not None
    window.worker.preview.connect(lambda image, caption, on_canvas: previews.append(on_canvas))
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert previews
    assert all(previews)
    assert window.picture is not None
    assert window.picture.image.width() == 96
    assert window.undo_stack.undoText() == "Stylize (optimise)"
    assert window.compare_action.isEnabled()
    out = tmp_path / "styled.png"
    assert window.save_to(out)
    metadata = read_metadata(out)
    assert metadata["method"] == "optimise"
    assert metadata["styles"] == [{"name": "starry_night", "weight": 1.0}]


def test_stylize_says_the_output_size_first_and_the_status_bar_shows_the_result(
    quick_style: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    """The panel says what size Stylize returns (core's GatysSettings.output_size, the photo's aspect),
    the job returns exactly that, and the status bar then shows the result's size, not the photo's."""
    window = quick_style
    panel = panel_of(window, StylePanel)
    photo = tmp_path / "wide.png"
    gradient_image(301, 200).save(photo)
    assert panel.output_info.text() == "Output: open a picture to see its size"
    drop_files(window.canvas.viewport(), photo)
    drop_files(panel.wells, STYLE)
    expected = GatysSettings(size=96, iterations=20, scales=1).output_size((301, 200))
    assert expected == (96, 64)
    assert panel.output_info.text() == "Output 96 x 64 px"  # no time before this device was measured
    assert window.zoom_label.text().startswith("301 x 200 px · ")
    panel.output_size.setValue(128)
    assert panel.output_info.text() == "Output 128 x 85 px"
    panel.output_size.setValue(96)
    started = time.monotonic()
    click(qtbot, panel.stylize_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    took = time.monotonic() - started
    assert window.undo_stack.undoText() == "Stylize (optimise)"
    assert window.picture is not None
    assert window.picture.pil.size == expected
    assert window.canvas.image() is not None
    assert window.canvas.image().size().toTuple() == expected
    assert window.zoom_label.text().startswith("96 x 64 px · ")
    plot = window.progress_panel.plot  # the losses over iterations, not the ETA's work units
    assert plot.x_label() == "iteration"
    assert max(x for x, _ in plot.series["total"]) == 20

    # The finished run measured this device; the estimate scales its rate by the work asked for.
    rate = float(window.settings.value(RATE_KEY))
    work = GatysSettings(size=96, iterations=20, scales=1).pixel_iterations((301, 200))
    assert work == 96 * 64 * 20
    assert 0 < rate * work <= took  # the run's own duration, not a constant
    seconds = max(1, round(rate * work))
    assert panel.output_info.text() == f"Output 96 x 64 px · about {seconds} s on this device"

    window.undo_stack.undo()  # the photo again: the status bar follows the canvas
    assert window.zoom_label.text().startswith("301 x 200 px · ")
    panel.method.setCurrentIndex(panel.method.findData("colours"))
    assert panel.output_info.text() == "Output 301 x 200 px"  # colour transfer keeps the size, no estimate


def test_before_any_run_the_device_is_timed_once_for_the_estimate(
    quick_style: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    """With no measured rate, the device being ready starts a short timing probe (the line says so), and
    its rate then gives the first estimate; a later window does not time again."""
    window = quick_style
    panel = panel_of(window, StylePanel)
    photo = tmp_path / "photo.png"
    gradient_image(400, 300).save(photo)
    drop_files(window.canvas.viewport(), photo)
    assert window.settings.value(RATE_KEY) is None
    assert panel.output_info.text() == "Output 96 x 72 px"
    with qtbot.waitSignal(window.device_ready, timeout=120_000):
        window.warm_up()
    assert panel.output_info.text() == "Output 96 x 72 px · timing this device…"
    qtbot.waitUntil(lambda: window.settings.value(RATE_KEY) is not None, timeout=120_000)
    rate = float(window.settings.value(RATE_KEY))
    seconds = max(
        1, round(rate * GatysSettings(size=96, iterations=20, scales=1).pixel_iterations((400, 300)))
    )
    qtbot.waitUntil(lambda: panel._probe is None)
    assert panel.output_info.text() == f"Output 96 x 72 px · about {seconds} s on this device"
    panel.device_ready()
    assert panel._probe is None  # measured once, remembered


def test_a_fresh_window_has_no_style_and_stylizes_with_the_artists_painting_alone(
    quick_style: MainWindow, qtbot: QtBot, photo_file: Path
) -> None:
    window = quick_style
    panel = panel_of(window, StylePanel)
    assert panel.wells.styles() == []
    assert panel.wells.hint.isVisible()
    assert panel.wells.hint.text() == "Drop a painting here"
    drop_files(window.canvas.viewport(), photo_file)
    drop_files(panel.wells, STYLE)
    assert not panel.wells.hint.isVisible()
    click(qtbot, panel.stylize_button)
    assert window.worker is not None
    job = window.worker.job
    assert [(s.name, s.weight) for s in job.styles] == [("starry_night", 1.0)]
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)


def test_built_in_styles_are_added_only_when_asked(window: MainWindow) -> None:
    panel = show_panel(window, StylePanel)
    menu = panel.wells.builtin_menu
    assert panel.wells.builtin.menu() is menu
    assert [a.text() for a in menu.actions()] == list(resources.BUILTIN_PALETTES)
    assert panel.wells.styles() == []
    (ocean,) = [a for a in menu.actions() if a.text() == "Ocean"]
    ocean.trigger()
    assert [s.name for s in panel.wells.styles()] == ["Ocean"]
    assert not panel.wells.hint.isVisible()


def test_the_optimiser_and_the_start_are_advanced_settings_the_job_carries(
    quick_style: MainWindow, qtbot: QtBot, photo_file: Path
) -> None:
    window = quick_style
    panel = panel_of(window, StylePanel)
    assert panel.advanced_box.title() == "Advanced"
    assert panel.advanced_box.isAncestorOf(panel.optimiser)
    assert panel.advanced_box.isAncestorOf(panel.start_from)
    assert (panel.optimiser.currentData(), panel.start_from.currentData()) == ("lbfgs", "content")
    assert [panel.optimiser.itemText(i) for i in range(panel.optimiser.count())] == ["L-BFGS", "Adam"]
    window.open_file(photo_file)
    drop_files(panel.wells, STYLE)
    panel.optimiser.setCurrentIndex(panel.optimiser.findData("adam"))
    panel.start_from.setCurrentIndex(panel.start_from.findData("noise"))
    click(qtbot, panel.stylize_button)
    assert window.worker is not None
    settings = window.worker.job.settings
    assert (settings.optimiser, settings.init) == ("adam", "noise")
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert panel.output_size.isVisible()
    assert not panel.model.isVisible()  # no network to pick while optimising
    panel.method.setCurrentIndex(panel.method.findData("fast"))
    assert not panel.optimiser.isVisible()  # a fast network has no optimiser, start, size or quality
    assert not panel.start_from.isVisible()
    assert not panel.output_size.isVisible()
    assert not panel.quality.isVisible()
    assert panel.model.isVisible()
    assert panel.keep_colours.isVisible()
    panel.method.setCurrentIndex(panel.method.findData("colours"))
    assert not panel.model.isVisible()
    assert not panel.keep_colours.isVisible()


def test_a_bad_style_file_is_refused(window: MainWindow, tmp_path: Path) -> None:
    junk = tmp_path / "style.jpg"
    junk.write_bytes(b"\xff\xd8 nope")
    panel = show_panel(window, StylePanel)
    before = len(panel.wells.rows)
    drop_files(panel.wells, junk)
    assert len(panel.wells.rows) == before
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "Cannot use this image"
    assert "style.jpg" in window.error_box.text()


def test_stylize_without_a_style_explains(window: MainWindow, qtbot: QtBot, photo_file: Path) -> None:
    window.open_file(photo_file)
    panel = show_panel(window, StylePanel)
    panel.wells.clear()
    click(qtbot, panel.stylize_button)
    assert window.worker is None
    assert window.error_box is not None
    assert "Add a style first" in window.error_box.text()


def test_stylize_without_a_picture_explains(window: MainWindow, qtbot: QtBot) -> None:
    assert window.picture is None
    click(qtbot, show_panel(window, StylePanel).stylize_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "No picture"
    assert window.error_box.text() == "Open or drop a picture on the canvas first."


def test_training_a_fast_network_without_a_style_explains(window: MainWindow, qtbot: QtBot) -> None:
    panel = show_panel(window, StylePanel)
    panel.wells.clear()
    click(qtbot, panel.train_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "No style"
    assert window.error_box.text() == "Add the style to learn first: drop a painting on the Styles box."


def test_cancel_keeps_the_latest_stylization(quick_style: MainWindow, qtbot: QtBot, photo_file: Path) -> None:
    window = quick_style
    window.open_file(photo_file)
    panel = panel_of(window, StylePanel)
    drop_files(panel.wells, STYLE)
    panel.output_size.setValue(256)
    panel.scales.setValue(2)  # 128 px, then 256 px
    panel.iterations.setValue(20)
    click(qtbot, panel.stylize_button)
    qtbot.waitUntil(lambda: "Scale 2" in window.progress_panel.status.text(), timeout=120_000)
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert window.picture is not None
    assert window.picture.image.width() == 256  # the size asked for, though cancelled at scale 2
    assert window.undo_stack.count() == 2


def test_stylize_a_folder(
    quick_style: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = quick_style
    panel = panel_of(window, StylePanel)
    folder = tmp_path / "holiday"
    folder.mkdir()
    gradient_image(120, 90).save(folder / "a.png")
    gradient_image(90, 120).save(folder / "b.jpg")
    (folder / "c.png").write_text("not a picture")
    drop_files(panel.wells, STYLE)
    panel.method.setCurrentIndex(panel.method.findData("colours"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(folder))
    click(qtbot, panel.batch_button)
    out = tmp_path / "holiday stylized"
    assert window.statusBar().currentMessage() == f"Stylizing 3 pictures into {out}"
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_metadata(out / "a.png")["source"] == "a.png"


def test_style_settings_are_remembered(qtbot: QtBot, settings: QSettings, photo_file: Path) -> None:
    first = MainWindow(settings)
    qtbot.addWidget(first)
    panel = panel_of(first, StylePanel)
    panel.strength.set_percent(150)
    chosen = panel.strength.percent()  # the nearest the log-scale track holds: 151
    panel.keep_colours.setCurrentIndex(panel.keep_colours.findData("luminance"))
    panel.optimiser.setCurrentIndex(panel.optimiser.findData("adam"))
    panel.start_from.setCurrentIndex(panel.start_from.findData("noise"))
    panel.job_factory()  # settings are remembered when used
    first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    panel = panel_of(second, StylePanel)
    assert panel.strength.percent() == chosen
    assert panel.keep_colours.currentData() == "luminance"
    assert np.isclose(panel.gatys_settings("off").style_strength, chosen / 100)
    assert (panel.gatys_settings("off").optimiser, panel.gatys_settings("off").init) == ("adam", "noise")


def test_the_strength_slider_has_the_default_in_the_middle_and_reaches_both_ends(
    qtbot: QtBot, settings: QSettings
) -> None:
    """A log scale: 100 % mid-track, a tenfold change either way half a track, 0 % at the far left."""
    window = MainWindow(settings)
    qtbot.addWidget(window)
    panel = panel_of(window, StylePanel)
    slider = panel.strength
    assert slider.percent() == 100
    assert slider.value() == (slider.minimum() + slider.maximum()) // 2
    slider.setValue(slider.maximum())
    assert slider.percent() == 1000
    assert panel.gatys_settings("off").style_strength == 10.0
    slider.setValue(slider.minimum())
    assert panel.gatys_settings("off").style_strength == 0.0
    for percent in (10, 50, 100, 300, 1000):
        slider.set_percent(percent)
        assert abs(slider.percent() - percent) <= 0.025 * percent


def test_a_trained_fast_network_is_picked_and_used(
    qtbot: QtBot, settings: QSettings, photo_file: Path
) -> None:
    untrained_fast_style(paths.models_dir() / "mosaic.safetensors")
    window = MainWindow(settings)
    qtbot.addWidget(window)
    picker = window.model_picker
    style_family = picker.topLevelItem(0)
    assert style_family is not None
    names = [style_family.child(i).text(0) for i in range(style_family.childCount())]
    assert names == ["Stylize", "Colour transfer", "mosaic"]
    picker.setCurrentItem(style_family.child(2))
    panel = panel_of(window, StylePanel)
    assert window.tools.currentWidget() is panel
    assert panel.method.currentData() == "fast"
    assert panel.model.currentText() == "mosaic"
    window.open_file(photo_file)
    click(qtbot, panel.stylize_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    assert window.picture.settings["method"] == "fast"
    assert window.undo_stack.undoText() == "Stylize (fast network)"


def test_stylizing_a_folder_without_pictures_explains(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    panel = show_panel(window, StylePanel)
    drop_files(panel.wells, STYLE)
    panel.method.setCurrentIndex(panel.method.findData("colours"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(empty))
    click(qtbot, panel.batch_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "Cannot stylize this folder"
    assert window.error_box.text() == "empty holds no pictures this app can read."


def test_training_a_fast_network_starts_on_the_chosen_folder(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The panel's Train button asks for the photos and starts the training job on the first style; a
    folder without photos then fails with the job's own words."""
    photos = tmp_path / "no photos"
    photos.mkdir()
    panel = show_panel(window, StylePanel)
    assert panel.training_box.title() == "Train a fast network"
    assert panel.training_box.isAncestorOf(panel.train_steps)
    assert panel.training_box.isAncestorOf(panel.train_presets)
    assert panel.training_box.isAncestorOf(panel.train_button)
    quick = FAST_STYLE_PRESETS["cpu"][0]
    assert panel.train_presets.combo.currentData() == QUICK_LOOK  # what fits this CPU
    assert (panel.train_steps.value(), panel.train_size.value(), panel.train_batch.value()) == (
        quick.steps, quick.shape.size, quick.shape.batch_size,
    )  # fmt: skip
    (dusk,) = [a for a in panel.wells.builtin_menu.actions() if a.text() == "Dusk"]
    dusk.trigger()
    assert [s.name for s in panel.wells.styles()] == ["Dusk"]
    panel.train_steps.setValue(10)
    asked: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda _parent, caption: asked.append(caption) or str(photos)
    )
    click(qtbot, panel.train_button)
    assert asked == ["Choose a folder of photos to learn from"]
    assert window.worker is not None
    job = window.worker.job
    assert (job.title, job.photos, job.steps, job.style_name) == ("Train a fast style", photos, 10, "Dusk")
    assert (job.requested.image_size, job.requested.batch_size) == (quick.shape.size, quick.shape.batch_size)
    assert not panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert panel.train_button.isEnabled()
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "The job failed"
    assert window.error_box.text().startswith("no photos has no pictures")


def test_the_training_presets_time_this_device_after_the_optimisation_probe(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast network's presets say "estimating…" until a probe has timed their steps; it starts when the
    device is ready and no other probe runs (two would time each other). Here with a stand-in for the
    VGG steps (tests/core/test_fast_style.py times the real ones)."""
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    timed: list[list[StepShape]] = []

    def step_seconds(shapes: list[StepShape], *_: object) -> dict[StepShape, float]:
        timed.append(list(shapes))
        return {shapes[0]: 1.0}

    monkeypatch.setattr(training, "step_seconds", step_seconds)
    panel = show_panel(window, StylePanel)
    picker, quick = panel.train_presets, FAST_STYLE_PRESETS["cpu"][0]
    assert picker.estimate.text() == f"{quick.steps} steps · 128 px · batch 2 · estimating…"
    window.settings.setValue(RATE_KEY, 1e-6)  # the optimisation's rate is known: its probe does not run
    panel.device_ready()
    qtbot.waitUntil(lambda: picker._probe is None and bool(timed), timeout=60_000)
    assert timed == [[p.shape for p in FAST_STYLE_PRESETS["cpu"]]]
    assert picker.estimate.text() == f"{quick.steps} steps · 128 px · batch 2 · about 3 min on this CPU"
    cpu = devices.describe(devices.pick_device())
    picker.record(StepTiming(cpu, "cpu", quick.shape, 0.3))  # a real run, faster than the probe said
    assert picker.estimate.text().endswith("· about 60 s on this CPU")
