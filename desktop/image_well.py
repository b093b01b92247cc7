"""A drop target that holds one image: drop a file on it, or click to choose one."""

from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent, QPixmap
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from core.errors import ImageError
from core.images import load_image
from desktop.qimage import to_qimage

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif)"


class ImageWell(QLabel):
    """Emits `changed()` when it holds a new image and `error(text)` when a dropped file is unusable
    (the image it held is kept)."""

    changed = Signal()
    error = Signal(str)

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = placeholder
        self.image: Image.Image | None = None
        self.source = ""  # a path or the name of a built-in image: shown as tooltip, saved in settings
        self.setAcceptDrops(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(160, 120))
        self.setMaximumHeight(200)
        self.setWordWrap(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(placeholder)
        self._show()

    def set_image(self, image: Image.Image, source: str) -> None:
        self.image, self.source = image, source
        self._show()
        self.changed.emit()

    def load(self, path: Path) -> bool:
        """Load `path` into the well; on a bad file emit `error` and keep the current image."""
        try:
            image = load_image(path)
        except ImageError as exc:
            self.error.emit(str(exc))
            return False
        self.set_image(image, str(path))
        return True

    def _show(self) -> None:
        if self.image is None:
            self.setText(self._placeholder)
            self.setStyleSheet(
                "QLabel { border: 2px dashed palette(mid); border-radius: 6px; padding: 8px; }"
            )
            self.setToolTip("")
            return
        box = (self.width() - 8, self.height() - 8)
        if self.image.width * 2 <= box[0] and self.image.height * 2 <= box[1]:
            thumb = ImageOps.contain(self.image, box, Image.Resampling.NEAREST)  # a 28 px sample, enlarged
        else:
            thumb = self.image.copy()
            thumb.thumbnail(box)
        self.setPixmap(QPixmap.fromImage(to_qimage(thumb)))
        self.setStyleSheet("QLabel { border: 1px solid palette(mid); border-radius: 6px; }")
        self.setToolTip(self.source)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            name, _ = QFileDialog.getOpenFileName(self, "Choose an image", "", IMAGE_FILTER)
            if name:
                self.load(Path(name))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.load(Path(urls[0].toLocalFile()))
