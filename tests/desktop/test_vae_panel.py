import re
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QAbstractSlider
from pytestqt.qtbot import QtBot

from core import devices
from core.catalog import FASHION_MNIST, Tool
from core.checkpoints import ModelKind, read_info
from core.images import list_images
from core.presets import QUICK_LOOK, StepShape, StepTiming
from core.vae.settings import PRESETS
from desktop.main_window import MainWindow
from desktop.panels.style import StylePanel
from desktop.panels.vae import VaePanel
from desktop.training_presets import CUSTOM, ESTIMATING
from tests.desktop.conftest import click, drop_files, show_panel
from tests.desktop.test_gan_panel import ESTIMATE, focus, wheel, wheel_at


def vae_panel(window: MainWindow) -> VaePanel:
    panel = window.model_panels[ModelKind.VAE]
    assert isinstance(panel, VaePanel)
    return panel


def explored(panel: VaePanel) -> bytes:
    pixmap = panel.explore_view.pixmap()
    return b"" if pixmap.isNull() else bytes(pixmap.toImage().constBits())


def train(window: MainWindow, qtbot: QtBot, folder: Path, steps: int) -> VaePanel:
    window.model_picker.select_tool(Tool.TRAIN_VAE)
    panel = vae_panel(window)
    assert window.tools.currentWidget() is panel
    drop_files(panel.data, folder)
    assert panel.data.spec == str(folder)
    panel.image_size.setCurrentIndex(panel.image_size.findData(32))
    panel.latent.setValue(4)
    panel.net_width.setValue(8)
    panel.steps.setValue(steps)
    panel.train_button.click()
    assert window.worker is not None
    return panel


def test_train_a_vae_then_reconstruct_morph_sample_and_explore(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    panel = train(window, qtbot, shapes_folder, 10)
    assert panel.presets.estimate.text() == f"10 steps · 32 px · width 8 · batch 64 · {ESTIMATING}"
    assert not panel.train_button.isEnabled()  # one job at a time
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    # the run measured this device: its rate gives the estimates, of this run and (scaled) of the presets
    text = panel.presets.estimate.text()
    assert re.fullmatch(rf"10 steps · 32 px · width 8 · batch 64 · {ESTIMATE} on this CPU", text)
    assert re.fullmatch(rf"{QUICK_LOOK} · {ESTIMATE}", panel.presets.combo.itemText(0))
    assert panel.model is not None
    assert read_info(panel.model).kind is ModelKind.VAE
    assert sum(not s.isHidden() for s in panel.sliders) == 4  # latent 4: four sliders, ranked by KL

    pictures = list_images(shapes_folder)
    assert not panel.reconstruct_button.isEnabled()
    drop_files(panel.well_a, pictures[0])
    panel.reconstruct_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture is not None
    assert (window.picture.image.width(), window.picture.image.height()) == (64, 32)  # picture, its copy
    assert window.picture.settings["operation"] == "vae-reconstruct"

    assert not panel.interpolate_button.isEnabled()
    drop_files(panel.well_b, pictures[1])
    panel.frames.setValue(5)
    panel.interpolate_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture.image.width() == 5 * window.picture.image.height()

    panel.count.setValue(4)
    panel.sample_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture.settings["operation"] == "vae-sample"
    assert window.undo_stack.count() == 3

    qtbot.waitUntil(lambda: panel._decoder is None and bool(explored(panel)), timeout=30_000)
    at_a = explored(panel)
    panel.sliders[0].setValue(250)  # drags fire many moves; only the latest position is decoded last
    panel.sliders[0].setValue(300)
    qtbot.waitUntil(lambda: panel._decoder is None and explored(panel) != at_a, timeout=30_000)
    panel.keep_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.picture.settings["operation"] == "vae-explore"
    top = str(panel.offsets() and next(iter(panel.offsets())))
    assert window.picture.settings["offsets"] == {top: 3.0}
    panel.reset_button.click()
    assert all(s.value() == 0 for s in panel.sliders)
    qtbot.waitUntil(lambda: panel._decoder is None and explored(panel) == at_a, timeout=30_000)


def test_cancel_then_resume_a_vae(window: MainWindow, qtbot: QtBot, shapes_folder: Path) -> None:
    panel = train(window, qtbot, shapes_folder, 400)  # a grid every 20 steps, or sooner on a slow machine
    qtbot.waitUntil(lambda: window.progress_panel.preview.isVisible(), timeout=120_000)
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert panel.model is not None  # the resumable checkpoint is listed and selected
    stopped_at = read_info(panel.model).training["step"]
    assert 1 <= stopped_at < 400
    panel.steps.setValue(stopped_at + 5)
    panel.resume_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
    assert read_info(panel.model).training["step"] == stopped_at + 5


def test_bad_input_explains_and_keeps_what_was_there(window: MainWindow, tmp_path: Path) -> None:
    panel = vae_panel(window)
    panel.data.set_spec("")
    panel.train_button.click()
    assert window.worker is None
    assert window.error_box is not None
    assert "Drop a folder" in window.error_box.text()
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 40), "blue").save(good)
    drop_files(panel.well_a, good)
    junk = tmp_path / "junk.png"
    junk.write_text("not a picture")
    drop_files(panel.well_a, junk)
    assert "junk.png" in window.error_box.text()
    assert panel.well_a.source == str(good)


def test_the_sliders_are_numbered_directions_showing_their_values(
    window: MainWindow, qtbot: QtBot, shapes_folder: Path
) -> None:
    panel = train(window, qtbot, shapes_folder, 2)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert panel.model is not None
    rows = [i for i, slider in enumerate(panel.sliders) if not slider.isHidden()]
    assert rows == [0, 1, 2, 3]  # latent 4
    assert not panel.directions_label.isHidden()
    assert panel.directions_label.text() == "Directions, most used first:"
    assert [panel._slider_labels[i].text() for i in rows] == [f"direction {i + 1}" for i in rows]
    kl = read_info(panel.model).training["kl_per_dimension"]
    ranked = sorted(range(4), key=lambda j: -kl[j])
    assert panel._slider_labels[0].toolTip().startswith(f"Latent dimension {ranked[0]}:")  # most used first
    assert [panel.slider_values[i].text() for i in rows] == ["0.00"] * 4
    assert all(not panel.slider_values[i].isHidden() and not panel.slider_resets[i].isHidden() for i in rows)
    assert panel.slider_values[5].isHidden()

    second = panel.sliders[1]
    second.setValue(150)
    assert panel.slider_values[1].text() == "+1.50"  # the label follows the slider
    second.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)  # as a click beside the handle
    assert panel.slider_values[1].text() == f"{(150 - second.pageStep()) / 100:+.2f}"
    panel.sliders[2].setValue(-250)
    assert panel.slider_values[2].text() == "-2.50"
    assert panel.offsets()[ranked[1]] == (150 - second.pageStep()) / 100

    click(qtbot, panel.slider_resets[1])  # one direction back to 0, the others kept
    assert second.value() == 0
    assert panel.slider_values[1].text() == "0.00"
    assert panel.offsets()[ranked[1]] == 0
    assert panel.sliders[2].value() == -250

    panel.sliders[0].setValue(300)
    click(qtbot, panel.reset_button)  # "Reset all"
    assert panel.reset_button.text() == "Reset all"
    assert all(slider.value() == 0 for slider in panel.sliders)
    assert [panel.slider_values[i].text() for i in rows] == ["0.00"] * 4
    assert set(panel.offsets().values()) == {0.0}

    window.tools_scroll.ensureWidgetVisible(panel.sliders[3])
    wheel(panel.sliders[3])  # the wheel passes over an unfocused slider...
    assert panel.sliders[3].value() == 0
    focus(qtbot, panel.sliders[3])  # ...and moves a focused one
    wheel(panel.sliders[3], 1)
    assert panel.sliders[3].value() != 0
    assert panel.slider_values[3].text() == f"{panel.sliders[3].value() / 100:+.2f}"
    qtbot.waitUntil(lambda: panel._decoder is None, timeout=30_000)


def test_every_tool_opens_at_its_top(window: MainWindow, qtbot: QtBot) -> None:
    window.model_picker.select_tool(Tool.TRAIN_VAE)
    panel = vae_panel(window)
    bar = window.tools_scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    pointer = QPointF(panel.latent.mapTo(window, panel.latent.rect().center()))
    for _ in range(40):  # the wheel over the dock, down to the end: Train is out of sight
        wheel_at(window, pointer)
    assert bar.value() == bar.maximum()
    assert panel.latent.value() == 32
    assert panel.train_button.visibleRegion().isEmpty()

    style = show_panel(window, StylePanel)
    assert bar.value() == 0  # Stylize from its top, not an empty stretch below it
    assert not style.visibleRegion().isEmpty()
    bar.setValue(bar.maximum())
    window.model_picker.select_tool(Tool.TRAIN_VAE)
    assert bar.value() == 0
    qtbot.waitUntil(lambda: not panel.train_button.visibleRegion().isEmpty(), timeout=5000)


def test_the_presets_start_at_quick_look_and_train_fashion_mnist_at_its_own_size(window: MainWindow) -> None:
    panel = vae_panel(window)
    quick, good, _ = PRESETS["cpu"]
    panel.data.set_spec(FASHION_MNIST)
    assert panel.presets.combo.currentData() == QUICK_LOOK
    asked = (panel.image_size.currentData(), panel.batch.value(), panel.net_width.value())
    assert (panel.steps.value(), StepShape(*asked)) == (quick.steps, StepShape(28, 64, 16))
    panel.presets.combo.setCurrentIndex(panel.presets.combo.findData(good.name))
    panel.presets.combo.activated.emit(panel.presets.combo.currentIndex())
    assert (panel.steps.value(), panel.image_size.currentData()) == (good.steps, 28)
    panel.data.set_spec("/some/folder")  # another data set: the preset's own size
    assert (panel.presets.combo.currentData(), panel.image_size.currentData()) == (good.name, 32)
    panel.latent.setValue(8)  # not part of a preset: it stays chosen
    assert panel.presets.combo.currentData() == good.name
    panel.net_width.setValue(24)
    assert panel.presets.combo.currentData() == CUSTOM
    panel.data.set_spec(FASHION_MNIST)  # a custom run keeps its controls, Fashion-MNIST its own size
    assert (panel.net_width.value(), panel.image_size.currentData()) == (24, 28)


def test_a_folder_of_small_pictures_trains_at_their_own_size(window: MainWindow, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    for i in range(3):
        Image.new("L", (26, 26), 40 * i).save(small / f"{i}.png")
    panel = vae_panel(window)
    good = PRESETS["cpu"][1]
    panel.presets.combo.setCurrentIndex(panel.presets.combo.findData(good.name))
    panel.presets.combo.activated.emit(panel.presets.combo.currentIndex())
    assert good.shape.size > 28
    panel.data.set_spec(str(small))
    assert (panel.presets.combo.currentData(), panel.image_size.currentData()) == (good.name, 28)
    assert panel.presets.estimate.text().startswith(f"{good.steps} steps · 28 px")


def test_a_remembered_rate_estimates_every_preset_in_a_new_panel(window: MainWindow, qtbot: QtBot) -> None:
    panel = vae_panel(window)
    panel.data.set_spec("/some/folder")
    quick = PRESETS["cpu"][0]
    assert panel.presets.seconds(quick) is None
    panel.presets.record(StepTiming("CPU (2 threads)", "cpu", quick.shape, 0.1))
    assert panel.presets.seconds(quick) == pytest.approx(0.1 * quick.steps)
    again = VaePanel(window.settings)
    qtbot.addWidget(again)
    assert (
        again.presets.estimate.text()
        == f"{quick.steps} steps · 32 px · width 16 · batch 64 · about 2 min on this CPU"
    )
