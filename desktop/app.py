"""Entry point of the `neural-easel` window.

Start-up imports only Qt, PIL and numpy: torch is imported by the first job that needs it, on a worker
thread, so the window appears in well under a second.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from core import __version__
from core.logs import setup_logging
from desktop.main_window import MainWindow


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
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
