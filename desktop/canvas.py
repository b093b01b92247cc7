"""The central canvas: zoom, pan, fit, drop target and a before/after split view."""

from pathlib import Path

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsView, QStyleOptionGraphicsItem, QWidget

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
WHEEL_STEP = 1.15  # zoom factor per wheel notch (120 angle units)


class _PictureItem(QGraphicsItem):
    """Draws the current picture and, in compare mode, the previous one left of a movable divider. The
    previous picture is scaled onto the current one's rectangle (a stylization is often smaller than its
    photo), so both sides of the divider show the same region of the scene."""

    def __init__(self) -> None:
        super().__init__()
        self.after = QPixmap()
        self.before: QPixmap | None = None
        self.compare = False
        self.split = 0.5  # divider position as a fraction of the width

    def boundingRect(self) -> QRectF:
        return QRectF(self.after.rect())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.drawPixmap(0, 0, self.after)
        if not (self.compare and self.before is not None):
            return
        x = self.split * self.after.width()
        height = self.after.height()
        source = QRectF(0, 0, self.split * self.before.width(), self.before.height())
        painter.drawPixmap(QRectF(0, 0, x, height), self.before, source)
        pen = QPen(QColor(255, 255, 255, 220), 0)  # cosmetic: one screen pixel at any zoom
        painter.setPen(pen)
        painter.drawLine(QPointF(x, 0), QPointF(x, height))


class Canvas(QGraphicsView):
    """Shows one picture. Emits `files_dropped` with local paths; the window decides what they mean."""

    files_dropped = Signal(list)
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = _PictureItem()
        self.scene().addItem(self._item)
        self._image: QImage | None = None
        self._before: QImage | None = None
        self._fitting = True  # keep fitting the window until the user zooms
        self._dragging_split = False
        self.setAcceptDrops(True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor(38, 38, 42))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAccessibleName("Canvas")

    # --- content -------------------------------------------------------------------------------------

    def image(self) -> QImage | None:
        return self._image

    def before_image(self) -> QImage | None:
        return self._before

    def set_images(self, image: QImage | None, before: QImage | None = None) -> None:
        """Show `image`; `before` is what the compare view shows left of the divider."""
        new_size = image.size() if image is not None else None
        old_size = self._image.size() if self._image is not None else None
        self._image, self._before = image, before
        self._item.prepareGeometryChange()
        self._item.after = QPixmap.fromImage(image) if image is not None else QPixmap()
        self._item.before = QPixmap.fromImage(before) if before is not None else None
        self.scene().setSceneRect(self._item.boundingRect())
        self._item.update()
        if new_size != old_size:
            self.fit()

    # --- zoom ----------------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        self._fitting = False
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.zoom_changed.emit(zoom)

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom() * factor)

    def actual_size(self) -> None:
        """One image pixel per device pixel (sharp on high-DPI screens too)."""
        self.set_zoom(1.0 / self.devicePixelRatioF())

    def fit(self) -> None:
        self._fitting = True
        if self._image is not None:
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fitting:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._image is not None:
            self.zoom_by(WHEEL_STEP ** (event.angleDelta().y() / 120))

    # --- before/after compare ------------------------------------------------------------------------

    def can_compare(self) -> bool:
        return self._before is not None

    def set_compare(self, on: bool) -> None:
        self._item.compare = on
        self.setDragMode(
            QGraphicsView.DragMode.NoDrag if on else QGraphicsView.DragMode.ScrollHandDrag
        )  # in compare mode a drag moves the divider instead of panning
        self._item.update()

    def comparing(self) -> bool:
        return self._item.compare and self._before is not None

    def split(self) -> float:
        return self._item.split

    def set_split(self, fraction: float) -> None:
        self._item.split = min(1.0, max(0.0, fraction))
        self._item.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.comparing() and event.button() == Qt.MouseButton.LeftButton:
            self._dragging_split = True
            self._move_split(event)
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging_split:
            self._move_split(event)
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging_split = False
        super().mouseReleaseEvent(event)

    def _move_split(self, event: QMouseEvent) -> None:
        x = self.mapToScene(event.position().toPoint()).x()
        self.set_split(x / max(1, self._item.after.width()))

    # --- drag and drop -------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragEnterEvent) -> None:  # type: ignore[override]
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _local_paths(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        if self._image is not None:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(170, 170, 176))
        painter.drawText(
            self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, "Drop a picture or a folder here"
        )
        painter.restore()


def _local_paths(event: QDropEvent | QDragEnterEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
