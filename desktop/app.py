"""Entry point of the `neural-easel` window.

Start-up imports only Qt, PIL and numpy, so the window appears in well under a second; torch is then
imported on a worker thread (core.warmup) while the artist looks at the first picture.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from core import __version__
from core.logs import setup_logging
from desktop.main_window import MainWindow

WARM_UP_DELAY_MS = 300  # let the first frames paint before torch loads


def create_app(argv: Sequence[str]) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    # Fractional scale factors (125 %, 150 %) stay exact instead of being rounded to whole numbers.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName("Neural Easel")
    QCoreApplication.setApplicationName("Neural Easel")
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication(list(argv))
    app.setDesktopFileName("neural-easel")
    return app


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging()
    app = create_app(sys.argv if argv is None else argv)
    window = MainWindow()
    window.show()
    files = [Path(a) for a in app.arguments()[1:] if not a.startswith("-")]
    if files:
        window.open_paths(files)
    else:
        window.open_sample()
    QTimer.singleShot(WARM_UP_DELAY_MS, window.warm_up)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
