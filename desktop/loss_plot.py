"""A light live plot of training losses (one line per loss), drawn with QPainter.

Small on purpose: it only has to follow a handful of curves while a job runs, and importing a plotting
library would cost start-up time (pyqtgraph: ~0.4 s here).

The jobs report their losses under short keys (`core.gan.training.LOSS_NAMES` and the like); the plot shows
them under the names a person reads (`LOSS_LABELS`, the one place that maps them), with named axes, and on
a log scale when the values span more than `LOG_SPAN`.
"""

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

COLOURS = ["#4e9af1", "#f1a14e", "#5fcf80", "#e2637a", "#b48ef0", "#d8d06a"]
MAX_POINTS = 2000  # per curve; older points are thinned so drawing stays cheap on long runs
LOG_SPAN = 100.0  # max / min of the values above which the y axis is logarithmic

# The jobs' loss keys -> what the legend says. A key not listed is shown as it is.
LOSS_LABELS = {
    # GAN (core.gan.training): the hinge losses, and D's mean scores on real and generated images
    "d": "discriminator",
    "g": "generator",
    "d_real": "D on real",
    "d_fake": "D on fake",
    # VAE (core.vae.training): nats per picture
    "elbo": "negative ELBO",
    "reconstruction": "reconstruction",
    "kl": "KL divergence",
    # style transfer (core.style.training, core.style.gatys)
    "style": "style",
    "content": "content",
    "tv": "smoothness",
    "total": "total",
    # classifier (core.classifier.training)
    "val_loss": "validation loss",
    "val_accuracy": "validation accuracy",
}
NATS = frozenset({"elbo", "reconstruction", "kl"})  # keys measured in nats
QUANTITY = {"d_real": "score", "d_fake": "score", "val_accuracy": "accuracy"}  # the rest are losses
X_LABEL = "step"

# Spacing, px
PAD = 4.0
SWATCH = 12.0  # the legend's colour line
LEGEND_GAP = 14.0  # between legend entries


def display_name(key: str) -> str:
    return LOSS_LABELS.get(key, key)


def y_label(keys: list[str]) -> str:
    """'loss (nats)' for the VAE's curves, 'loss / score' for the GAN's, 'loss' for style transfer."""
    quantities = list(dict.fromkeys(QUANTITY.get(key, "loss") for key in keys)) or ["loss"]
    unit = " (nats)" if keys and all(key in NATS for key in keys) else ""
    return " / ".join(quantities) + unit


def nice_ticks(low: float, high: float, count: int = 4, whole: bool = False) -> list[float]:
    """About `count` round values (multiples of 1, 2, 2.5 or 5 times a power of ten) in [low, high];
    `whole`: whole numbers only (steps)."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw * (1 - 1e-9))
    if whole:
        step = 1.0 if step < 1 else 2 * step if step % 1 else step  # 2.5 -> 5; 25 stays
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten in [low, high] (both > 0), with 2 and 5 times them when fewer than two fall there."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    decades = [10.0**k for k in range(first, last + 1)]
    ticks = [t for t in decades if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
    if len(ticks) < 2:
        more = [m * t for t in decades for m in (1.0, 2.0, 5.0)]
        ticks = [t for t in more if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
    return ticks


def tick_text(value: float) -> str:
    """20,000 rather than 2e+04; 0.25; 1e-05."""
    return "0" if abs(value) < 1e-12 else f"{value:,.6g}"


@dataclass(frozen=True)
class PlotLayout:
    """Where everything goes, in widget coordinates: what paintEvent draws (and the tests measure)."""

    frame: QRectF  # the plotting area
    legend: list[tuple[str, QRectF]]  # (display name, its entry: colour line and text)
    y_label: QRectF  # the rotated y axis name's box, as it lies on screen
    x_label: QRectF
    log: bool  # a logarithmic y axis
    x_range: tuple[float, float]
    y_range: tuple[float, float]  # in log10 units on a log axis
    y_ticks: list[float]  # values (not log10)
    x_ticks: list[float]


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.unit = X_LABEL
        self.setMinimumHeight(130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def clear(self) -> None:
        self.series.clear()
        self.unit = X_LABEL
        self.setToolTip("")
        self.update()

    def add(self, step: float, losses: dict[str, float], unit: str = X_LABEL) -> None:
        """The losses at `step`, counted in `unit`s (the x axis's name)."""
        self.unit = unit
        for name, value in losses.items():
            if value != value or abs(value) == float("inf"):  # NaN / inf would wreck the axis range
                continue
            points = self.series.setdefault(name, [])
            points.append((step, value))
            if len(points) > MAX_POINTS:
                del points[1::2]
        latest = [f"{display_name(k)}: {c[-1][1]:.4g}" for k, c in self.series.items() if c]
        self.setToolTip(f"At {unit} {step:g}\n" + "\n".join(latest))
        self.update()

    # --- what is shown -------------------------------------------------------------------------------

    def legend_texts(self) -> list[str]:
        return [display_name(key) for key in self.series]

    def x_label(self) -> str:
        return self.unit

    def y_label(self) -> str:
        return y_label(list(self.series))

    def log_scale(self) -> bool:
        """Log when every value is positive and they span more than LOG_SPAN (a style loss falling from
        1e4 to 10, a KL rising from 0.01): a linear axis would flatten all but the largest."""
        values = [y for curve in self.series.values() for _, y in curve]
        return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_SPAN

    def plot_layout(self) -> PlotLayout:
        metrics = QFontMetricsF(self.font())
        line = metrics.height()
        width, height = float(self.width()), float(self.height())

        legend: list[tuple[str, QRectF]] = []  # entries flow left to right, onto a new row when full
        x, row = PAD, 0
        for text in self.legend_texts():
            entry = SWATCH + PAD + metrics.horizontalAdvance(text)
            if x > PAD and x + entry > width - PAD:
                x, row = PAD, row + 1
            legend.append((text, QRectF(x, PAD + row * line, entry, line)))
            x += entry + LEGEND_GAP
        legend_bottom = PAD + (row + 1) * line if legend else PAD

        log = self.log_scale()
        points = [p for curve in self.series.values() for p in curve]
        if points:
            xs = [p[0] for p in points]
            ys = [math.log10(p[1]) if log else p[1] for p in points]
            x0, x1 = min(xs), max(max(xs), min(xs) + 1)
            y0, y1 = min(ys), max(ys)
            if y1 - y0 < 1e-12:
                y0, y1 = y0 - 0.5, y1 + 0.5
            margin = 0.05 * (y1 - y0)
            y0, y1 = y0 - margin, y1 + margin
            y_ticks = log_ticks(10**y0, 10**y1) if log else nice_ticks(y0, y1)
            x_ticks = nice_ticks(x0, x1, whole=True)
        else:
            x0, x1, y0, y1 = 0.0, 1.0, 0.0, 1.0
            y_ticks, x_ticks = [], []

        tick_width = max((metrics.horizontalAdvance(tick_text(t)) for t in y_ticks), default=0.0)
        left = PAD + line + PAD + tick_width + PAD  # the rotated y label, the tick labels, a gap
        bottom = height - PAD - 2 * line  # x tick labels, then the x label
        frame = QRectF(left, legend_bottom + PAD + line / 2, width - PAD - left, 0)
        frame.setBottom(max(frame.top() + 1, bottom))

        # The y label runs along the axis, centred on it; a name longer than the axis may use the column
        # from under the legend down to the frame's bottom (beyond that it is elided).
        top, end = legend_bottom + PAD, frame.bottom()
        along = min(metrics.horizontalAdvance(self.y_label()), end - top)
        y_label_box = QRectF(PAD, frame.center().y() - along / 2, line, along)
        y_label_box.moveTop(max(top, min(y_label_box.top(), end - along)))
        x_label_box = QRectF(frame.left(), height - PAD - line, frame.width(), line)
        return PlotLayout(frame, legend, y_label_box, x_label_box, log, (x0, x1), (y0, y1), y_ticks, x_ticks)

    # --- drawing -------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        layout = self.plot_layout()
        frame = layout.frame
        text_colour = self.palette().text().color()
        grid_colour = self.palette().mid().color()
        grid_colour.setAlpha(90)
        metrics = QFontMetricsF(self.font())
        line = metrics.height()
        (x0, x1), (y0, y1) = layout.x_range, layout.y_range

        def to_x(x: float) -> float:
            return frame.left() + (x - x0) / (x1 - x0) * frame.width()

        def to_y(y: float) -> float:
            value = math.log10(y) if layout.log else y
            return frame.bottom() - (value - y0) / (y1 - y0) * frame.height()

        right_aligned = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for tick in layout.y_ticks:
            y = to_y(tick)
            painter.setPen(QPen(grid_colour, 1))
            painter.drawLine(QPointF(frame.left(), y), QPointF(frame.right(), y))
            painter.setPen(text_colour)
            box = QRectF(PAD + line, y - line / 2, frame.left() - PAD - (PAD + line), line)
            painter.drawText(box, right_aligned, tick_text(tick))
        shown_until = -math.inf  # x tick labels that would overlap the previous one are left out
        for tick in layout.x_ticks:
            x = to_x(tick)
            text = tick_text(tick)
            half = metrics.horizontalAdvance(text) / 2
            left = min(max(x - half, 0.0), self.width() - PAD - 2 * half)  # inside the widget
            if left < shown_until + PAD:
                continue
            painter.setPen(QPen(grid_colour, 1))
            painter.drawLine(QPointF(x, frame.top()), QPointF(x, frame.bottom()))
            painter.setPen(text_colour)
            box = QRectF(left, frame.bottom() + 1, 2 * half, line)
            painter.drawText(box, Qt.AlignmentFlag.AlignLeft, text)
            shown_until = left + 2 * half
        painter.setPen(self.palette().mid().color())
        painter.drawRect(frame)

        painter.setPen(text_colour)
        painter.drawText(layout.x_label, Qt.AlignmentFlag.AlignHCenter, self.x_label())
        painter.save()  # the y label reads bottom to top along the axis
        box = layout.y_label
        painter.translate(box.left(), box.bottom())
        painter.rotate(-90)
        painter.drawText(
            QRectF(0, 0, box.height(), box.width()),
            Qt.AlignmentFlag.AlignCenter,
            metrics.elidedText(self.y_label(), Qt.TextElideMode.ElideRight, box.height()),
        )
        painter.restore()

        painter.setClipRect(frame.adjusted(-1, -1, 1, 1))
        for i, curve in enumerate(self.series.values()):
            painter.setPen(QPen(QColor(COLOURS[i % len(COLOURS)]), 1.5))
            painter.drawPolyline(QPolygonF([QPointF(to_x(x), to_y(y)) for x, y in curve]))
        painter.setClipping(False)
        for i, (text, entry) in enumerate(layout.legend):
            y = entry.center().y()
            painter.setPen(QPen(QColor(COLOURS[i % len(COLOURS)]), 2.5))
            painter.drawLine(QPointF(entry.left(), y), QPointF(entry.left() + SWATCH, y))
            painter.setPen(text_colour)
            text_box = entry.adjusted(SWATCH + PAD, 0, 0, 0)
            painter.drawText(text_box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
