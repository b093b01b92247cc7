"""PIL -> Qt image conversion (the one place pixels cross from core into Qt)."""

from PIL import Image
from PySide6.QtGui import QImage


def to_qimage(image: Image.Image) -> QImage:
    """RGB PIL image -> QImage that owns its pixels. Safe off the GUI thread (QImage, not QPixmap).

    Format_RGB32 (bytes B, G, R, 0xFF on little-endian machines) is the raster engine's native
    layout, so QPixmap.fromImage on the GUI thread is a plain copy rather than a per-pixel conversion.
    The fourth byte must really be 0xFF: PIL's "BGRX" writes 0, which Qt reads as transparent wherever
    it reinterprets the bytes (a painter compositing it onto a transparent surface: a thumbnail, an icon).
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.convert("RGBA").tobytes("raw", "BGRA")
    return QImage(data, rgb.width, rgb.height, 4 * rgb.width, QImage.Format.Format_RGB32).copy()
