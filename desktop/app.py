"""Entry point of the `neural-easel` window.

Start-up imports only Qt, PIL and numpy, so the window appears in well under a second; torch is then
imported on a worker thread (core.warmup) while the artist looks at the first picture.

`--smoke-test` is for installers and CI: it builds the window with the bundled sample picture, lets torch
load and pick a device as at every start, prints what it found and exits (0 when all of it worked).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import QApplication

import resources
from core import __version__
from core.logs import setup_logging
from desktop.main_window import MainWindow

WARM_UP_DELAY_MS = 300  # let the first frames paint before torch loads
SMOKE_TEST_TIMEOUT_MS = 120_000  # a cold start of a frozen bundle on a slow disk loads torch in ~10 s


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our own options; everything else (pictures to open, Qt's -platform and the like) goes to Qt."""
    parser = argparse.ArgumentParser(prog="neural-easel", description="Neural Easel's window.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--smoke-test", action="store_true", help="build the window, load torch, report and exit"
    )
    return parser.parse_known_args(argv[1:])


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
    icon = QPixmap()
    icon.loadFromData(resources.icon_bytes(), "SVG")
    app.setWindowIcon(QIcon(icon))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    args, qt_args = parse_args(argv)
    setup_logging()
    app = create_app([argv[0], *qt_args])
    window = MainWindow()
    window.show()
    files = [Path(a) for a in app.arguments()[1:] if not a.startswith("-")]
    if files:
        window.open_paths(files)
    else:
        window.open_sample()
    if args.smoke_test:
        return smoke_test(window)
    QTimer.singleShot(WARM_UP_DELAY_MS, window.warm_up)
    return app.exec()


def smoke_test(window: MainWindow) -> int:
    """Say when the window has painted (launch timers read that line), then warm up torch as a normal
    start does and say what it found; 0 when both worked."""
    loop = QEventLoop()

    def shown() -> None:
        size = window.picture.pil.size if window.picture else None
        print(f"neural-easel {__version__}: window shown, picture {size}", flush=True)
        window.warm_up()

    QTimer.singleShot(0, shown)  # runs once the first frame has been drawn
    QTimer.singleShot(SMOKE_TEST_TIMEOUT_MS, loop.quit)
    window.device_ready.connect(loop.quit)
    loop.exec()
    print(f"neural-easel {__version__}: {window.device_label.text()}", flush=True)
    window.close()
    return 0 if window.picture is not None and window.device is not None else 1


if __name__ == "__main__":
    sys.exit(main())
