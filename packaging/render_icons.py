"""Render the app's icon (resources/icons/neural-easel.svg) to the sizes installers need.

    python packaging/render_icons.py OUT_DIR

writes OUT_DIR/neural-easel-48.png and -256.png (the hicolor theme's sizes) and neural-easel.ico
(Windows). Qt draws them, so no SVG tool is needed beyond the app's own dependencies.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SVG = Path(__file__).resolve().parents[1] / "resources" / "icons" / "neural-easel.svg"
SIZES = (48, 256)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    return image


def main(out: Path) -> None:
    _app = QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        sys.exit(f"cannot read {SVG}")
    out.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        render(renderer, size).save(str(out / f"neural-easel-{size}.png"))
    render(renderer, 256).save(str(out / "neural-easel.ico"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
