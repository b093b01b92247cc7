"""A light live plot of training losses (one line per loss), drawn with QPainter.

Small on purpose: it only has to follow a handful of curves while a job runs, and importing a plotting
library would cost start-up time (pyqtgraph: ~0.4 s here).
"""

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

COLOURS = ["#4e9af1", "#f1a14e", "#5fcf80", "#e2637a", "#b48ef0", "#d8d06a"]
MAX_POINTS = 2000  # per curve; older points are thinned so drawing stays cheap on long runs


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def clear(self) -> None:
        self.series.clear()
        self.update()

    def add(self, step: float, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if value != value or abs(value) == float("inf"):  # NaN / inf would wreck the axis range
                continue
            points = self.series.setdefault(name, [])
            points.append((step, value))
            if len(points) > MAX_POINTS:
                del points[1::2]
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = QRectF(self.rect()).adjusted(44, 8, -8, -18)
        painter.setPen(self.palette().mid().color())
        painter.drawRect(frame)
        points = [p for curve in self.series.values() for p in curve]
        if not points:
            return
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, x1 = min(xs), max(max(xs), min(xs) + 1)
        y0, y1 = min(ys), max(ys)
        if y1 - y0 < 1e-12:
            y0, y1 = y0 - 0.5, y1 + 0.5

        def to_screen(x: float, y: float) -> QPointF:
            return QPointF(
                frame.left() + (x - x0) / (x1 - x0) * frame.width(),
                frame.bottom() - (y - y0) / (y1 - y0) * frame.height(),
            )

        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(0, frame.top() - 6, 40, 14), Qt.AlignmentFlag.AlignRight, f"{y1:.3g}")
        painter.drawText(QRectF(0, frame.bottom() - 8, 40, 14), Qt.AlignmentFlag.AlignRight, f"{y0:.3g}")
        painter.drawText(
            QRectF(frame.left(), frame.bottom() + 2, 80, 14), Qt.AlignmentFlag.AlignLeft, f"{x0:g}"
        )
        painter.drawText(
            QRectF(frame.right() - 80, frame.bottom() + 2, 80, 14), Qt.AlignmentFlag.AlignRight, f"{x1:g}"
        )
        for i, (name, curve) in enumerate(self.series.items()):
            colour = QColor(COLOURS[i % len(COLOURS)])
            painter.setPen(QPen(colour, 1.5))
            painter.drawPolyline(QPolygonF([to_screen(x, y) for x, y in curve]))
            painter.drawText(QPointF(frame.left() + 6 + 90 * i, frame.top() + 14), name)
