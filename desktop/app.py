"""Entry point of the `neural-easel` window.

Start-up imports only Qt, PIL and numpy, so the window appears in well under a second; torch is then
imported on a worker thread (core.warmup) while the artist looks at the first picture.

At the first start (no picture ever opened) a hint over the sample picture says where a photo goes, until
the artist opens one of their own.

`--smoke-test` is for installers and CI: it builds the window with the bundled sample picture, lets torch
load and pick a device as at every start, prints what it found and exits (0 when all of it worked).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import QApplication, QLabel

import resources
from core import __version__
from core.allocator import keep_freed_memory
from core.logs import setup_logging
from desktop.main_window import MainWindow
from desktop.theme import apply_theme, saved_theme

WARM_UP_DELAY_MS = 300  # let the first frames paint before torch loads
SMOKE_TEST_TIMEOUT_MS = 120_000  # a cold start of a frozen bundle on a slow disk loads torch in ~10 s
FIRST_START_HINT = (
    "This is a sample picture. Drop one of your photos (or a folder) here, or use"
    " File\u00a0\u203a\u00a0Open\u00a0({open}).\nThen pick a studio in the Models list or the Studios menu."
)


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
    keep_freed_memory()  # before any thread exists: one heap for the jobs' tensors
    argv = sys.argv if argv is None else argv
    args, qt_args = parse_args(argv)
    setup_logging()
    app = create_app([argv[0], *qt_args])
    apply_theme(saved_theme(QSettings()))  # before the window is built: it is polished once, in its colours
    window = MainWindow()
    window.show()
    show_first_picture(window, [Path(a) for a in app.arguments()[1:] if not a.startswith("-")])
    if args.smoke_test:
        return smoke_test(window)
    QTimer.singleShot(WARM_UP_DELAY_MS, window.warm_up)
    return app.exec()


def show_first_picture(window: MainWindow, files: list[Path]) -> "CanvasHint | None":
    """Open the pictures named on the command line, or show the sample; with the hint if the artist has
    never opened a picture (their recent files are empty)."""
    if files:
        window.open_paths(files)
        return None
    window.open_sample()
    return None if window.recent_files() else CanvasHint(window)


class CanvasHint(QLabel):
    """A note over the bottom of the canvas while it shows the picture it showed at start (the sample,
    or a result made from it); gone for good once the artist opens a picture of their own. It lets the
    mouse through, so a drop lands on the canvas below it."""

    def __init__(self, window: MainWindow, text: str | None = None) -> None:
        open_keys = QKeySequence(QKeySequence.StandardKey.Open).toString(
            QKeySequence.SequenceFormat.NativeText
        )
        super().__init__(text or FIRST_START_HINT.format(open=open_keys), window.canvas)
        self.setObjectName("canvas-hint")
        self.setAccessibleName("Hint")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet(  # over the canvas, whose background is dark in every theme
            "QLabel { background: rgba(16, 16, 18, 210); color: #f2f2f2; border-radius: 8px;"
            " padding: 10px 16px; }"
        )
        self._window = window
        self._start_name = window.picture.name if window.picture else None
        window.canvas.installEventFilter(self)
        window.undo_stack.indexChanged.connect(self._on_canvas_changed)
        self._place()
        self.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        self.ensurePolished()  # the style sheet's padding counts in the height
        canvas = self._window.canvas
        self.setFixedWidth(max(160, min(620, canvas.width() - 40)))
        self.setFixedHeight(self.heightForWidth(self.width()))
        self.move((canvas.width() - self.width()) // 2, max(0, canvas.height() - self.height() - 24))

    def _on_canvas_changed(self) -> None:
        picture = self._window.picture
        if picture is not None and picture.name != self._start_name:  # a picture the artist opened
            self._window.canvas.removeEventFilter(self)
            self.hide()
            self.deleteLater()


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
