"""PIL <-> Qt image conversion (the only place pixels cross between the two)."""

from PIL import Image
from PySide6.QtGui import QImage


def to_qimage(image: Image.Image) -> QImage:
    """RGB PIL image -> QImage that owns its pixels. Safe to call off the GUI thread (QImage, not QPixmap)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def to_pil(image: QImage) -> Image.Image:
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    stride = rgb.bytesPerLine()
    raw = bytes(rgb.constBits())[: stride * rgb.height()]
    return Image.frombuffer("RGB", (rgb.width(), rgb.height()), raw, "raw", "RGB", stride, 1).copy()
