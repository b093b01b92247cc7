"""Frames to step through on the canvas: a slider, Play and Save as GIF, for the Sequence studio's panels
(a DRAW drawing's glimpses, a sequence and the frames a ConvLSTM predicts after it)."""

from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from core.errors import UserError
from core.images import PICTURE_OR_GIF, save_gif
from core.safety import check_output
from desktop.qimage import to_qimage
from desktop.widgets import save_file_name

FRAME_MS = 125  # 8 frames a second: playing and the saved GIF both


class FramePlayer(QWidget):
    """The latest frames a panel made: the slider shows frame k on the canvas (through `preview`, like a
    job's preview: no undo step, no history entry), Play runs through them, Save as GIF writes them.
    `describe(k, n)` names frame k of n ("Glimpse 3 of 16"); `empty` is said when there are none."""

    preview = Signal(QImage, str)  # (frame, caption) for the canvas
    problem = Signal(str, str)  # (title, message)
    status = Signal(str)

    def __init__(
        self,
        noun: str,
        describe: Callable[[int, int], str],
        empty: str,
        inputs: Callable[[], list[Path | None]],  # files a GIF must not replace (the model)
    ) -> None:
        super().__init__()
        self._describe, self._empty, self._inputs = describe, empty, inputs
        self.frames: list[Image.Image] = []  # the last one is the result the window shows
        self.shown: list[QImage] = []  # the same, as the canvas shows them
        self.caption = ""  # what the frames are, for the status bar and the GIF's name
        self._enabled = True

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 1)
        self.slider.setPageStep(1)
        self.slider.setAccessibleName(noun)
        self.slider.setToolTip(f"Which {noun.lower()} the canvas shows: the last one is the result")
        self.slider.valueChanged.connect(self._show_frame)
        self.label = QLabel(empty)
        self.label.setWordWrap(True)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip(f"Play the {noun.lower()}s on the canvas (press again to stop)")
        self.play_button.clicked.connect(self._toggle_play)
        self.gif_button = QPushButton("Save as GIF…")
        self.gif_button.setToolTip(f"Save the {noun.lower()}s as an animated GIF")
        self.gif_button.clicked.connect(self._choose_gif)
        self._player = QTimer(self)
        self._player.setInterval(FRAME_MS)
        self._player.timeout.connect(self._next_frame)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.label)
        form.addRow(noun, self.slider)
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.gif_button)
        form.addRow(buttons)
        self._update()

    def set_frames(self, frames: list[Image.Image], caption: str) -> None:
        """New frames: the slider spans them and starts at the last, the result (which the window has just
        put on the canvas)."""
        self.stop()
        self.frames, self.caption = list(frames), caption
        # Converted once here, not per move: frames are small (a 64 px frame is a 16 kB QImage).
        self.shown = [to_qimage(frame) for frame in self.frames]
        self.slider.blockSignals(True)  # the canvas already shows the last frame
        self.slider.setRange(1, max(1, len(frames)))
        self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self._label()
        self._update()

    def set_enabled(self, enabled: bool) -> None:
        """Off while a job runs: the canvas shows that job's previews and result."""
        self._enabled = enabled
        if not enabled:
            self.stop()
        self._update()

    def stop(self) -> None:
        self._player.stop()
        self.play_button.setText("Play")

    def _label(self) -> None:
        text = self._describe(self.slider.value(), len(self.frames)) if self.frames else self._empty
        self.label.setText(text)
        self.slider.setAccessibleDescription(text)

    def _show_frame(self, index: int) -> None:
        self._label()
        if self.shown:
            self.preview.emit(self.shown[index - 1], f"{self.caption}: {self.label.text()}")

    def _toggle_play(self) -> None:
        if self._player.isActive():
            self.stop()
            return
        if self.slider.value() == self.slider.maximum():  # from the first frame again
            self.slider.setValue(1)
        self._player.start()
        self.play_button.setText("Stop")

    def _next_frame(self) -> None:
        if self.slider.value() < self.slider.maximum():
            self.slider.setValue(self.slider.value() + 1)
        if self.slider.value() == self.slider.maximum():
            self.stop()

    def _choose_gif(self) -> None:
        path = save_file_name(self, "Save as", Path(f"{self.caption}.gif"), "GIF (*.gif)", ".gif")
        if path is None:
            return
        try:
            check_output(path, self._inputs(), PICTURE_OR_GIF)
            save_gif(self.frames, path, ms_per_frame=FRAME_MS)
        except UserError as exc:  # the model itself chosen, a full or read-only disk
            self.problem.emit("Cannot save the GIF", str(exc))
            return
        self.status.emit(f"Saved {len(self.frames)} frames to {path}")

    def _update(self) -> None:
        scrub = self._enabled and len(self.frames) > 1
        self.slider.setEnabled(scrub)
        self.play_button.setEnabled(scrub)
        self.gif_button.setEnabled(bool(self.frames))
