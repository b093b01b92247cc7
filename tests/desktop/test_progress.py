"""The progress dock's loss plot: names a person reads, named axes, a log axis when losses span decades, a
legend whose entries do not overlap."""

import itertools
import re
import time
from collections.abc import Mapping, Sequence

import pytest
from PySide6.QtGui import QColor, QFontMetricsF
from pytestqt.qtbot import QtBot

from core.gan.training import LOSS_NAMES as GAN_LOSSES
from core.jobs import JobContext
from core.style.training import LOSS_NAMES as STYLE_LOSSES
from core.vae.training import LOSS_NAMES as VAE_LOSSES
from desktop.loss_plot import COLOURS, LossPlot, PlotLayout
from desktop.main_window import MainWindow


class LossesJob:
    """Reports `rows` of losses as a training job does, one step apart (over the 50 ms rate limit)."""

    title = "Losses"

    def __init__(self, rows: Sequence[Mapping[str, float]]) -> None:
        self.rows = rows

    def run(self, ctx: JobContext) -> None:
        for step, losses in enumerate(self.rows, 1):
            ctx.check()
            ctx.progress(step, len(self.rows), dict(losses))
            time.sleep(0.06)


def plot_after(window: MainWindow, qtbot: QtBot, rows: Sequence[Mapping[str, float]]) -> LossPlot:
    window.run_job(LossesJob(rows))
    qtbot.waitUntil(lambda: window.worker is None, timeout=20_000)
    plot = window.progress_panel.plot
    assert plot.isVisible()
    assert len(next(iter(plot.series.values()))) >= len(rows) - 1  # the events reached the plot
    return plot


def gan_rows(steps: int = 8) -> list[dict[str, float]]:
    return [
        {"d": 2.0 - 0.1 * k, "g": 0.5 + 0.05 * k, "d_real": 0.2 + 0.05 * k, "d_fake": -0.1 - 0.05 * k}
        for k in range(steps)
    ]


def assert_laid_out(plot: LossPlot, layout: PlotLayout) -> None:
    """Everything inside the widget; legend entries apart from each other and from the curves."""
    bounds = plot.rect().toRectF()
    for box in (layout.frame, layout.y_label, layout.x_label, *(entry for _, entry in layout.legend)):
        assert bounds.contains(box), box
    for (_, a), (_, b) in itertools.combinations(layout.legend, 2):
        assert not a.intersects(b), (a, b)
    for _, entry in layout.legend:
        assert not entry.intersects(layout.frame)
    # The rotated y label is not cut: the axis is long enough for the whole name.
    assert layout.y_label.height() >= QFontMetricsF(plot.font()).horizontalAdvance(plot.y_label())
    assert not layout.y_label.intersects(layout.frame)
    assert not any(layout.y_label.intersects(entry) for _, entry in layout.legend)


def test_gan_losses_have_readable_names_and_named_axes(window: MainWindow, qtbot: QtBot) -> None:
    plot = plot_after(window, qtbot, gan_rows())
    assert list(plot.series) == list(GAN_LOSSES)  # the core keys are kept...
    assert plot.legend_texts() == ["discriminator", "generator", "D on real", "D on fake"]  # ...and named
    assert plot.x_label() == "step"
    assert plot.y_label() == "loss / score"  # D's mean scores share the axis with the two losses
    assert not plot.log_scale()  # D's score on fakes is negative: a log axis cannot show it
    layout = plot.plot_layout()
    assert_laid_out(plot, layout)
    assert layout.x_ticks[0] >= 1
    assert layout.x_ticks[-1] <= 8
    assert all(float(t).is_integer() for t in layout.x_ticks)  # steps are whole

    # Each legend entry is drawn in its curve's colour, where the layout puts it.
    image = plot.grab().toImage()
    ratio = image.devicePixelRatio()
    for i, (_, entry) in enumerate(layout.legend):
        want = QColor(COLOURS[i])
        y = round(entry.center().y() * ratio)
        left = int(entry.left())
        row = [image.pixelColor(round(x * ratio), y) for x in range(left, left + 10)]
        assert any(
            abs(c.red() - want.red()) + abs(c.green() - want.green()) + abs(c.blue() - want.blue()) < 60
            for c in row
        ), f"no {want.name()} swatch for entry {i}"


def test_a_narrow_plot_wraps_its_legend_instead_of_overlapping(window: MainWindow, qtbot: QtBot) -> None:
    plot = plot_after(window, qtbot, gan_rows())
    wide = plot.plot_layout()
    assert len({entry.top() for _, entry in wide.legend}) == 1  # one row at the dock's width
    plot.resize(170, 200)
    narrow = plot.plot_layout()
    assert len({entry.top() for _, entry in narrow.legend}) >= 2
    assert_laid_out(plot, narrow)


def test_vae_losses_in_nats_on_a_log_axis(window: MainWindow, qtbot: QtBot) -> None:
    rows = [{"elbo": 500 - 25 * k, "reconstruction": 499 - 30 * k, "kl": 0.05 * 3**k} for k in range(8)]
    plot = plot_after(window, qtbot, rows)
    assert list(plot.series) == list(VAE_LOSSES)
    assert plot.legend_texts() == ["negative ELBO", "reconstruction", "KL divergence"]
    assert plot.y_label() == "loss (nats)"
    assert plot.log_scale()  # 0.05 to 500 nats: four decades
    layout = plot.plot_layout()
    assert layout.log
    assert layout.y_ticks == [0.1, 1.0, 10.0, 100.0]  # the decades in range, drawn as 0.1 ... 100
    assert_laid_out(plot, layout)


@pytest.mark.parametrize(
    ("rows", "log"),
    [
        ([{"style": 3 - 0.1 * k, "content": 1 + 0.1 * k, "tv": 0.5, "total": 4.5} for k in range(6)], False),
        ([{"style": 10.0**k, "content": 1, "tv": 0.5, "total": 10.0**k + 1.5} for k in range(6)], True),
    ],
)
def test_style_losses(window: MainWindow, qtbot: QtBot, rows: list[dict[str, float]], log: bool) -> None:
    plot = plot_after(window, qtbot, rows)
    assert list(plot.series) == list(STYLE_LOSSES)
    assert plot.legend_texts() == ["style", "content", "smoothness", "total"]
    assert plot.y_label() == "loss"
    assert plot.log_scale() is log
    assert_laid_out(plot, plot.plot_layout())


def test_a_new_job_starts_a_new_plot(window: MainWindow, qtbot: QtBot) -> None:
    plot_after(window, qtbot, gan_rows())
    plot = plot_after(window, qtbot, [{"loss": 1.0 / (k + 1)} for k in range(4)])
    assert plot.legend_texts() == ["loss"]  # an unknown key is shown as it is
    assert plot.y_label() == "loss"


class SteadyJob:
    """Steps of 0.3 s: the dock says "estimating…" until the ETA has timed enough of them."""

    title = "Steady"

    def run(self, ctx: JobContext) -> None:
        for step in range(1, 21):
            ctx.check()
            time.sleep(0.3)
            ctx.progress(step, 20, stage=f"Step {step} of 20")


def test_the_time_left_says_estimating_until_steps_are_timed(window: MainWindow, qtbot: QtBot) -> None:
    status = window.progress_panel.status
    window.run_job(SteadyJob())
    estimating = r"Step \d+ of 20 · estimating…"
    qtbot.waitUntil(lambda: bool(re.fullmatch(estimating, status.text())), timeout=10_000)
    qtbot.waitUntil(lambda: "left" in status.text(), timeout=20_000)
    timed = re.fullmatch(r"Step (\d+) of 20 · about \d+ s left", status.text())
    assert timed is not None
    assert int(timed[1]) >= 4  # three steps and two seconds after the first
    qtbot.waitUntil(lambda: window.worker is None, timeout=30_000)
    assert status.text().startswith("Finished")
