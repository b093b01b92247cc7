"""The README's screenshots: one per studio, from the real window after a real run on this device.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots.py [--out docs]

It works in a fresh app folder and settings file (nothing of the artist's is read or changed), drives the
window as an artist does (the panels' own buttons, their default presets) and prints what each run took.
For the first stylization of a 1024 x 768 photo it prints the estimate the panel showed before Stylize
against the time the run took. Pictures: the built-in sample photo and the public-domain paintings of
tests/data; training data: Fashion-MNIST (offline, from Debian's package).
"""

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["NEURAL_EASEL_HOME"] = tempfile.mkdtemp(prefix="neural-easel-screenshots-")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402

import resources  # noqa: E402
from core.catalog import FASHION_MNIST, Tool  # noqa: E402
from core.sequence.settings import MOVING_FASHION_MNIST  # noqa: E402
from desktop.app import create_app  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402
from desktop.panels.classifier import ClassifierPanel  # noqa: E402
from desktop.panels.colour import ColourPanel  # noqa: E402
from desktop.panels.draw import DrawPanel  # noqa: E402
from desktop.panels.forecast import ForecastPanel  # noqa: E402
from desktop.panels.gan import GanPanel  # noqa: E402
from desktop.panels.style import StylePanel  # noqa: E402
from desktop.panels.vae import VaePanel  # noqa: E402

SIZE = (1280, 820)  # the window's first-start size
PAINTING = ROOT / "tests" / "data" / "starry_night.jpg"


def wait_until(condition: Callable[[], bool], timeout_s: float = 3600) -> None:
    """Serve the event loop until `condition()` holds, as the artist's session would."""
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        QTimer.singleShot(50, loop.quit)
        loop.exec()


def run_and_time(window: MainWindow, start: Callable[[], None]) -> float:
    """Press a button that starts a job, wait for the job to end; its wall time in seconds."""
    started = time.monotonic()
    start()
    if window.worker is None:
        raise RuntimeError("the button started no job")
    wait_until(lambda: window.worker is None)
    if window.error_box is not None and window.error_box.isVisible():
        raise RuntimeError(window.error_box.text())
    return time.monotonic() - started


def shoot(window: MainWindow, out: Path, name: str) -> None:
    """Save the window once the History dock holds every result so far (it writes them in the
    background) and the last changes have painted."""
    stack = window.undo_stack
    results = sum(not stack.text(i).startswith("Open ") for i in range(stack.index()))
    wait_until(lambda: len(window.history_strip.entries()) >= results, 60)
    settled = time.monotonic() + 0.5
    wait_until(lambda: time.monotonic() > settled)  # queued repaints, a theme change's new palette
    window.grab().save(str(out / name), "PNG", 6)
    print(f"  {out / name}")


def panel(window: MainWindow, tool: Tool) -> object:
    window.model_picker.select_tool(tool)
    return window.tools.currentWidget()


def stylize(window: MainWindow, out: Path) -> None:
    """A 1024 x 768 photo, one painting, the default preset: the estimate shown, then the run."""
    style = panel(window, Tool.STYLIZE)
    assert isinstance(style, StylePanel)
    with resources.image_path(resources.SAMPLE_PICTURE) as path:
        photo = Image.open(path).convert("RGB").resize((1152, 768)).crop((64, 0, 1088, 768))
    photo_file = Path(os.environ["NEURAL_EASEL_HOME"]) / "lake.jpg"
    photo.save(photo_file, quality=92)
    window.open_file(photo_file)
    style.wells.add(Image.open(PAINTING).convert("RGB"), "starry_night")
    wait_until(lambda: "about" in style.output_info.text(), 600)  # the device has been timed
    estimate = style.output_info.text()
    took = run_and_time(window, style.stylize_button.click)
    preset = style.quality.currentText()
    print(f"Stylize, {preset} preset, 1024 x 768 photo: the panel said “{estimate}”; it took {took:.0f} s")
    window.compare_action.setChecked(True)
    shoot(window, out, "style-studio.png")
    window.compare_action.setChecked(False)


def colour(window: MainWindow, out: Path) -> None:
    colours = panel(window, Tool.COLOUR_TRANSFER)
    assert isinstance(colours, ColourPanel)
    took = run_and_time(window, colours.apply_button.click)
    print(f"Colour transfer: {took:.1f} s")
    window.compare_action.setChecked(True)
    shoot(window, out, "colour-studio.png")
    window.compare_action.setChecked(False)


def train_then_sample(window: MainWindow, studio: GanPanel | VaePanel | DrawPanel, family: str) -> None:
    """Train on Fashion-MNIST with the panel's default preset, saying the estimate it showed first and
    the time the run took, then sample to the canvas."""
    studio.data.set_spec(FASHION_MNIST)
    wait_until(lambda: "about" in studio.presets.estimate.text(), 600)  # the device has been timed
    estimate = studio.presets.estimate.text()
    took = run_and_time(window, studio.train_button.click)
    preset = studio.presets.combo.currentText()
    print(f"{family}, {preset} on Fashion-MNIST: the panel said “{estimate}”; it took {took:.0f} s")
    run_and_time(window, studio.sample_button.click)


def gan(window: MainWindow, out: Path) -> None:
    studio = panel(window, Tool.TRAIN_GAN)
    assert isinstance(studio, GanPanel)
    train_then_sample(window, studio, "GAN")
    shoot(window, out, "gan-studio.png")


def vae(window: MainWindow, out: Path) -> None:
    studio = panel(window, Tool.TRAIN_VAE)
    assert isinstance(studio, VaePanel)
    train_then_sample(window, studio, "VAE")
    window.tools_scroll.ensureWidgetVisible(studio.sliders[-1])  # the latent directions
    shoot(window, out, "vae-studio.png")


def sequence(window: MainWindow, out: Path) -> None:
    """DRAW's Quick look, 16 samples, the Glimpse slider halfway through the drawing."""
    studio = panel(window, Tool.TRAIN_DRAW)
    assert isinstance(studio, DrawPanel)
    train_then_sample(window, studio, "DRAW")
    studio.player.slider.setValue(studio.player.slider.maximum() // 2)
    window.tools_scroll.ensureWidgetVisible(studio.player.slider)
    shoot(window, out, "sequence-studio.png")


def forecast(window: MainWindow, out: Path) -> None:
    """The ConvLSTM's Quick look on Moving Fashion-MNIST, then a held-out sequence continued by 10 frames:
    the strip of the frames read over the predicted ones."""
    studio = panel(window, Tool.CONTINUE_SEQUENCE)
    assert isinstance(studio, ForecastPanel)
    studio.data.set_spec(MOVING_FASHION_MNIST)
    wait_until(lambda: "about" in studio.presets.estimate.text(), 600)  # the device has been timed
    estimate = studio.presets.estimate.text()
    took = run_and_time(window, studio.train_button.click)
    preset = studio.presets.combo.currentText()
    print(f"ConvLSTM, {preset} on Moving Fashion-MNIST: the panel said “{estimate}”; it took {took:.0f} s")
    studio.source.set_spec(MOVING_FASHION_MNIST)
    studio.held_out.setValue(3)
    run_and_time(window, studio.continue_button.click)
    window.tools_scroll.ensureWidgetVisible(studio.player.slider)
    shoot(window, out, "forecast-studio.png")


def classifier(window: MainWindow, out: Path) -> None:
    from core.data import open_data_set

    studio = panel(window, Tool.TRAIN_CLASSIFIER)
    assert isinstance(studio, ClassifierPanel)
    studio.data.set_spec(FASHION_MNIST)
    studio.epochs.setValue(2)
    took = run_and_time(window, studio.train_button.click)
    print(f"Classifier, 2 epochs on Fashion-MNIST: trained in {took:.0f} s")
    images = open_data_set(FASHION_MNIST, 28, grey=True)
    assert images.labels is not None
    pixels = images.images[images.labels.tolist().index(9)][0].numpy()  # an ankle boot
    boot = Path(os.environ["NEURAL_EASEL_HOME"]) / "boot.png"
    Image.fromarray(pixels, "L").resize((336, 336), Image.Resampling.NEAREST).save(boot)
    started = time.monotonic()
    window.open_file(boot)  # a classifier classifies what is opened, with its Grad-CAM
    wait_until(lambda: window.worker is None and bool(studio.top_labels.text()))
    print(f"Classify a dropped picture: {time.monotonic() - started:.1f} s")
    shoot(window, out, "classifier-studio.png")


def dark(window: MainWindow, out: Path) -> None:
    """The window as it stands, in View > Theme > Dark (the theme menu's own action)."""
    (action,) = [a for a in window.theme_menu.actions() if a.text() == "&Dark"]
    action.trigger()
    shoot(window, out, "dark-theme.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--only",
        nargs="*",
        default=["stylize", "colour", "gan", "vae", "sequence", "forecast", "classifier", "dark"],
    )
    args = parser.parse_args()
    app = create_app(sys.argv[:1])
    settings = QSettings(
        str(Path(os.environ["NEURAL_EASEL_HOME"]) / "settings.ini"), QSettings.Format.IniFormat
    )
    window = MainWindow(settings)
    window.resize(*SIZE)
    window.show()
    window.open_sample()
    window.warm_up()
    wait_until(lambda: window.device is not None, 300)
    print(f"Device: {window.device}")
    studios = {
        "stylize": stylize, "colour": colour, "gan": gan, "vae": vae, "sequence": sequence,
        "forecast": forecast, "classifier": classifier, "dark": dark,
    }  # fmt: skip
    for name in args.only:
        studios[name](window, args.out)
    window.close()
    app.quit()


if __name__ == "__main__":
    main()
