from pathlib import Path

from PIL import Image
from pytestqt.qtbot import QtBot

from core.catalog import Tool
from core.checkpoints import ModelKind, read_info
from core.images import list_images
from desktop.main_window import MainWindow
from desktop.panels.vae import VaePanel
from tests.desktop.conftest import drop_files


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
    window: MainWindow, qtbot: QtBot, shapes_folder: Path
) -> None:
    panel = train(window, qtbot, shapes_folder, 6)
    assert not panel.train_button.isEnabled()  # one job at a time
    qtbot.waitUntil(lambda: window.worker is None, timeout=120_000)
    assert window.progress_panel.status.text().startswith("Finished")
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
    panel = train(window, qtbot, shapes_folder, 400)  # a grid every 20 steps
    qtbot.waitUntil(lambda: window.progress_panel.preview.isVisible(), timeout=120_000)
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert window.progress_panel.status.text() == "Cancelled."
    assert panel.model is not None  # the resumable checkpoint is listed and selected
    stopped_at = read_info(panel.model).training["step"]
    assert 20 <= stopped_at < 400
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
