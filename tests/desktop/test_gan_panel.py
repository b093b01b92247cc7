import json
import re
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QSpinBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from core import devices, training
from core.catalog import FASHION_MNIST, FASHION_MNIST_TRAIN_IMAGES
from core.checkpoints import ModelKind, read_info
from core.data import FASHION_MNIST_ROOT
from core.gan.settings import PRESETS
from core.presets import QUICK_LOOK, StepShape, StepTiming
from desktop.main_window import MainWindow
from desktop.panels.gan import GanPanel
from desktop.training_presets import CUSTOM, DEVICE_KEY, ESTIMATING, RATES_KEY
from tests.desktop.conftest import click, drop_files, show_panel

VALUE_TYPES = (QAbstractSpinBox, QComboBox, QAbstractSlider)  # what a wheel turn may change


def wheel_at(window: QWidget, position: QPointF, notches: int = -1) -> None:
    """Turn the mouse wheel by `notches` (negative: down) with the pointer at `position` in `window`. The
    event enters through the window system, as a real wheel's does: Qt delivers it to the widget under the
    pointer and hands it on to the parents while it is not accepted."""
    handle = window.windowHandle()
    assert handle is not None
    QTest.wheelEvent(handle, position, QPoint(0, 120 * notches))
    QApplication.processEvents()


def wheel(widget: QWidget, notches: int = -1) -> None:
    """The wheel over the middle of `widget`, which must be on view there."""
    window = widget.window()
    position = QPointF(widget.mapTo(window, widget.rect().center()))
    hit = window.childAt(position.toPoint())
    assert hit is widget or widget.isAncestorOf(hit), f"{widget} is not under the pointer but {hit}"
    wheel_at(window, position, notches)


def value_of(widget: QWidget) -> object:
    if isinstance(widget, QComboBox):
        return widget.currentIndex()
    if isinstance(widget, QAbstractSpinBox):
        return widget.text()
    assert isinstance(widget, QAbstractSlider)
    return widget.value()


def value_widget_under(window: QWidget, position: QPointF) -> QWidget | None:
    widget = window.childAt(position.toPoint())
    while widget is not None and not isinstance(widget, VALUE_TYPES):
        widget = widget.parentWidget()
    return widget


def focus(qtbot: QtBot, widget: QWidget) -> None:
    """Give `widget` the keyboard focus, as a click or Tab would."""
    widget.window().activateWindow()
    widget.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


def test_train_a_gan_then_sample_and_interpolate(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = show_panel(window, GanPanel)
    drop_files(panel.data, shapes_folder)
    assert panel.data.spec == str(shapes_folder)
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.steps.setValue(8)
    panel.net_width.setValue(8)
    panel.conditional.setChecked(True)
    assert not panel.sample_button.isEnabled()
    click(qtbot, panel.train_button)
    assert window.worker is not None
    assert not panel.train_button.isEnabled()  # one job at a time
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert panel.model is not None
    assert panel.model.name == "gan.safetensors"
    current = window.model_picker.currentItem()
    assert current is not None
    assert current.text(0) == panel.model.parent.name
    assert window.tools.currentWidget() is panel
    assert [panel.class_name.itemText(i) for i in range(panel.class_name.count())] == ["discs", "squares"]

    panel.count.setValue(4)
    click(qtbot, panel.sample_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    grid = window.picture.image
    assert grid.width() >= 64
    assert grid.height() >= 32
    assert window.picture.before is None  # a new picture, not an edit of the canvas
    assert not window.compare_action.isEnabled()

    panel.frames.setValue(4)
    click(qtbot, panel.interpolate_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture.image.width() == 4 * window.picture.image.height()  # a strip of 4 frames
    assert window.undo_stack.count() == 2
    assert read_info(panel.model).kind is ModelKind.GAN

    gif = shapes_folder.parent / "morph"  # the dialog's name without a suffix: .gif is added
    asked: list[tuple[object, ...]] = []
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *args: asked.append(args[1:]) or (str(gif), "")
    )
    click(qtbot, panel.gif_button)
    assert asked == [("Save the interpolation as", "morph.gif", "GIF (*.gif)")]
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    with Image.open(gif.with_suffix(".gif")) as animation:
        assert animation.n_frames == 4
    assert window.undo_stack.count() == 3  # the strip lands on the canvas too


def test_training_without_data_explains(window: MainWindow, qtbot: QtBot) -> None:
    panel = show_panel(window, GanPanel)
    panel.data.set_spec("")
    click(qtbot, panel.train_button)
    assert window.worker is None
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "No data"
    assert window.error_box.text() == "Drop a folder of your images on the GAN panel, or use Fashion-MNIST."


def test_cancel_then_resume_a_gan(window: MainWindow, qtbot: QtBot, shapes_folder: Path) -> None:
    panel = show_panel(window, GanPanel)
    panel.data.set_spec(str(shapes_folder))
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.net_width.setValue(8)
    panel.steps.setValue(400)  # a grid every 20 steps, or sooner on a slow machine
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: window.progress_panel.preview.isVisible(), timeout=120_000)  # a sample grid
    click(qtbot, window.progress_panel.cancel_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert panel.model is not None  # the resumable checkpoint is listed and selected
    stopped_at = read_info(panel.model).training["step"]
    assert 1 <= stopped_at < 400

    panel.steps.setValue(stopped_at + 10)
    click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_info(panel.model).training["step"] == stopped_at + 10

    panel.count.setValue(4)
    click(qtbot, panel.vary_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    assert window.picture.settings["operation"] == "gan-vary"


def test_the_wheel_scrolls_the_dock_past_values_it_has_not_focused(window: MainWindow, qtbot: QtBot) -> None:
    panel = show_panel(window, GanPanel)
    bar = window.tools_scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)  # the dock is shorter than its contents
    assert bar.value() == 0
    values = [
        w
        for w in panel.findChildren(QWidget)
        if isinstance(w, (QAbstractSpinBox, QComboBox, QAbstractSlider))
    ]
    before = {w: value_of(w) for w in values}
    wheel(panel.count)  # over "Images"
    assert panel.count.value() == 16
    assert bar.value() > 0  # the dock scrolled instead

    bar.setValue(0)
    pointer = QPointF(panel.steps.mapTo(window, panel.steps.rect().center()))  # over "Steps", then lower
    passed: list[QWidget] = []
    while bar.value() < bar.maximum():  # down to the end, the pointer kept still
        under = value_widget_under(window, pointer)
        if under is not None and under not in passed:
            passed.append(under)
        at = bar.value()
        wheel_at(window, pointer)
        assert bar.value() > at  # the dock scrolled
    assert passed[0] is panel.steps
    assert len(passed) >= 3  # the pointer was over several (the wheel moves the dock 3 lines a notch)
    assert {w: value_of(w) for w in values} == before  # and no value it passed over changed
    assert not any(w.hasFocus() for w in values)  # nor took the focus
    assert panel.count.value() == 16
    assert panel.steps.value() == PRESETS["cpu"][0].steps

    window.tools_scroll.ensureWidgetVisible(panel.count)
    at = bar.value()
    focus(qtbot, panel.count)  # clicked: now the wheel is for it
    wheel(panel.count)
    assert panel.count.value() == 15
    assert bar.value() == at
    window.tools_scroll.ensureWidgetVisible(panel.image_size)
    wheel(panel.image_size)
    assert panel.image_size.currentIndex() == 0
    focus(qtbot, panel.image_size)
    wheel(panel.image_size)
    assert panel.image_size.currentIndex() == 1
    assert panel.count.focusPolicy() == Qt.FocusPolicy.StrongFocus  # Tab and click, never the wheel


def test_a_spin_box_added_to_a_panel_later_is_guarded_too(window: MainWindow, qtbot: QtBot) -> None:
    panel = show_panel(window, GanPanel)
    later = QSpinBox()
    later.setValue(5)
    layout = panel.layout()
    assert layout is not None
    layout.addWidget(later)
    qtbot.waitUntil(later.isVisible, timeout=5000)
    window.tools_scroll.ensureWidgetVisible(later)
    wheel(later)
    assert later.value() == 5
    focus(qtbot, later)
    wheel(later)
    assert later.value() == 4


def test_the_truncation_slider_shows_its_value(window: MainWindow) -> None:
    panel = show_panel(window, GanPanel)
    assert panel.truncation_value.text() == "1.00 (off)"
    panel.truncation.setValue(70)
    assert panel.truncation_value.text() == "0.70"


def test_fashion_mnist_is_counted_as_training_reads_it(window: MainWindow, qtbot: QtBot) -> None:
    panel = show_panel(window, GanPanel)
    click(qtbot, panel.data.built_in_button)
    assert panel.data.spec == FASHION_MNIST
    assert panel.data.label.text() == "Data: Fashion-MNIST (60,000 clothing images)"
    assert FASHION_MNIST_TRAIN_IMAGES == 60_000


@pytest.mark.skipif(not FASHION_MNIST_ROOT.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_fashion_mnist_count_is_what_a_model_records() -> None:
    from core.data import open_data_set

    # GanTrainingJob records len(data) as "image_count": the number the data well shows.
    assert len(open_data_set(FASHION_MNIST, 28)) == FASHION_MNIST_TRAIN_IMAGES


ESTIMATE = r"about \d+(\.\d)? (s|min|h)"  # a formatted duration, whatever this machine measures


def test_the_presets_start_at_quick_look_on_a_cpu_and_set_the_controls(window: MainWindow) -> None:
    panel = show_panel(window, GanPanel)
    quick, good, _ = PRESETS["cpu"]
    assert panel.presets.combo.currentData() == QUICK_LOOK
    asked = (panel.image_size.currentData(), panel.batch.value(), panel.net_width.value())
    assert (panel.steps.value(), StepShape(*asked)) == (quick.steps, quick.shape)
    panel.presets.combo.setCurrentIndex(panel.presets.combo.findData(good.name))
    panel.presets.combo.activated.emit(panel.presets.combo.currentIndex())  # as a click on it does
    assert (panel.steps.value(), panel.net_width.value(), panel.batch.value()) == (
        good.steps, good.shape.width, good.shape.batch_size,
    )  # fmt: skip
    panel.steps.setValue(good.steps + 100)  # any control of its own makes it a custom run
    assert panel.presets.combo.currentData() == CUSTOM
    panel.steps.setValue(good.steps)
    assert panel.presets.combo.currentData() == good.name


def test_a_folder_of_small_pictures_trains_at_the_smallest_size_that_holds_them(
    window: MainWindow, tmp_path: Path
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    for i in range(3):
        Image.new("L", (28, 28), 40 * i).save(small / f"{i}.png")
    panel = show_panel(window, GanPanel)
    panel.image_size.setCurrentIndex(panel.image_size.findData(128))  # a custom run, larger than them
    assert panel.presets.combo.currentData() == CUSTOM
    panel.data.set_spec(str(small))
    assert panel.image_size.currentData() == 32
    panel.image_size.setCurrentIndex(panel.image_size.findData(64))  # the artist's choice stands
    panel.data.set_spec(str(tmp_path / "nowhere"))  # no pictures to go by: nothing changes
    assert panel.image_size.currentData() == 64


def test_before_a_measurement_the_estimate_says_estimating_then_the_probe_times_the_device(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(devices.ENV_VAR, "cpu")  # the CPU's presets on any machine
    monkeypatch.setattr(training, "PROBE_BUDGET_S", 0.0)  # the cheapest preset alone: the rest is scaled
    panel = show_panel(window, GanPanel)
    picker, quick = panel.presets, PRESETS["cpu"][0]
    texts = [picker.combo.itemText(i) for i in range(picker.combo.count())]
    assert texts == [f"{p.name} · {ESTIMATING}" for p in PRESETS["cpu"]] + [CUSTOM]
    shape = f"{quick.steps} steps · 32 px · width {quick.shape.width} · batch {quick.shape.batch_size}"
    assert picker.estimate.text() == f"{shape} · {ESTIMATING}"
    assert window.worker is None
    panel.device_ready()  # as the window's warm-up says once torch is loaded
    assert picker._probe is not None
    assert window.worker is None  # the job slot stays free
    qtbot.waitUntil(lambda: picker._probe is None, timeout=60_000)
    pattern = rf"{shape} · {ESTIMATE} on this CPU"
    assert re.fullmatch(pattern, picker.estimate.text())
    for i, preset in enumerate(PRESETS["cpu"]):
        assert re.fullmatch(rf"{preset.name} · {ESTIMATE}", picker.combo.itemText(i))

    measured = window.settings.allKeys()
    again = GanPanel(window.settings)  # another window: remembered, not timed again
    qtbot.addWidget(again)
    assert again.presets.estimate.text() == picker.estimate.text()
    again.show()
    again.device_ready()
    qtbot.waitUntil(lambda: again.presets._probe is None, timeout=60_000)
    assert again.presets.estimate.text() == picker.estimate.text()
    assert window.settings.allKeys() == measured


def test_rates_remembered_for_the_first_layer_plan_are_not_used(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1 steps cost about ten times v2's: an estimate from them would be ten times too long."""
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    cpu = devices.describe(devices.pick_device())
    quick = PRESETS["cpu"][0]
    old = [[quick.shape.size, quick.shape.batch_size, quick.shape.width, 3600.0]]  # an hour a step
    window.settings.setValue(f"{RATES_KEY}/gan/{re.sub(r'[^A-Za-z0-9]+', '_', cpu)}", json.dumps(old))
    window.settings.setValue(DEVICE_KEY, cpu)
    panel = GanPanel(window.settings)
    qtbot.addWidget(panel)
    assert panel.presets.estimate.text().endswith(ESTIMATING)
    panel.presets.record(StepTiming(cpu, "cpu", quick.shape, 0.2))
    assert "about 4 min" in panel.presets.estimate.text()


def test_a_training_run_updates_the_rate_it_measured(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    panel = show_panel(window, GanPanel)
    panel.data.set_spec(str(shapes_folder))
    panel.net_width.setValue(8)
    panel.batch.setValue(8)
    panel.steps.setValue(10)
    assert panel.presets.combo.currentData() == CUSTOM
    cpu = devices.describe(devices.pick_device())
    shape = StepShape(32, 8, 8)
    panel.presets.record(StepTiming(cpu, "cpu", shape, 3600.0))  # an hour a step: so far off it shows
    assert panel.presets.estimate.text() == "10 steps · 32 px · width 8 · batch 8 · about 10.0 h on this CPU"
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    text = panel.presets.estimate.text()
    assert re.fullmatch(rf"10 steps · 32 px · width 8 · batch 8 · {ESTIMATE} on this CPU", text)
    assert "10.0 h" not in text
    another = GanPanel(window.settings)
    qtbot.addWidget(another)
    assert another.presets.seconds(panel.run_controls.asked()) == panel.presets.seconds(
        panel.run_controls.asked()
    )
