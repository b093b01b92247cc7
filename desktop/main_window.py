"""The main window: canvas in the middle, model picker, tools and progress in docks, menus around."""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QWidget,
)

import resources
from core import __version__, paths
from core.catalog import Tool, TrainedModel
from core.checkpoints import ModelKind
from core.errors import ImageError, UserError
from core.history import Entry
from core.images import list_images, load_image, save_image
from core.jobs import ImageResult, Job, Resumable
from core.warmup import WarmUpJob
from desktop.canvas import Canvas
from desktop.history_strip import HistoryStrip
from desktop.image_well import IMAGE_FILTER
from desktop.model_picker import ModelPicker
from desktop.panels import PANELS, ModelPanel
from desktop.progress_panel import ProgressPanel
from desktop.qimage import to_qimage
from desktop.theme import theme_menu
from desktop.widgets import WheelGuard
from desktop.workers import JobWorker

log = logging.getLogger(__name__)

MAX_RECENT = 10
UNDO_LIMIT = 30  # each step holds up to two full pictures: bounded memory on 4K work
SAVE_FILTER = "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;WebP image (*.webp)"
CLOSE_WAIT_MS = 10_000


@dataclass(frozen=True)
class Picture:
    """What the canvas shows: the picture (for jobs and saving, and as displayed), the one it was made
    from (for compare) and the settings that made it."""

    pil: Image.Image
    image: QImage
    before: QImage | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    name: str = "untitled"

    @classmethod
    def of(cls, pil: Image.Image, name: str) -> "Picture":
        return cls(pil, to_qimage(pil), name=name)


class CanvasChange(QUndoCommand):
    def __init__(self, window: "MainWindow", old: Picture | None, new: Picture, text: str) -> None:
        super().__init__(text)
        self._window, self._old, self._new = window, old, new

    def redo(self) -> None:
        self._window.show_picture(self._new)

    def undo(self) -> None:
        self._window.show_picture(self._old)


class MainWindow(QMainWindow):
    """Knows no model family: it hosts the panels (`desktop.panels.PANELS`), runs the jobs they request
    through the one JobWorker, puts ImageResults on the canvas, hands each result back to the panel that
    asked, and refreshes the model picker when a training run leaves a checkpoint."""

    device_ready = Signal()  # the start-up warm-up ended: torch is loaded (or could not be)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.picture: Picture | None = None
        self.device: str | None = None  # what the warm-up picked, as the status bar shows it
        self.worker: JobWorker | None = None
        self._job_source: Picture | None = None  # the picture a running job started from
        self._job_title = ""
        self._job_owner: ModelPanel | None = None  # the panel whose job is running, if one built it
        self._showing_preview = False  # the canvas shows a job's preview, not `picture`
        self.error_box: QMessageBox | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)

        self.canvas = Canvas()
        self.canvas.files_dropped.connect(self.open_paths)
        self.canvas.zoom_changed.connect(self._show_zoom)
        self.setCentralWidget(self.canvas)

        self.model_picker = ModelPicker(paths.models_dir())
        self.tools = QStackedWidget()
        self.panels: list[ModelPanel] = []
        self.tool_panels: dict[Tool, ModelPanel] = {}  # the panel each built-in tool shows
        self.model_panels: dict[ModelKind, ModelPanel] = {}  # the panel that uses each kind of model
        for make_panel in PANELS:
            self._add_panel(make_panel(self.settings))
        self.model_picker.tool_selected.connect(self._on_tool_selected)
        self.model_picker.model_selected.connect(self._on_model_selected)
        self.model_picker.models_changed.connect(self._on_models_renamed_or_deleted)
        self.model_picker.problem.connect(self.show_error)
        self.progress_panel = ProgressPanel()

        self._add_dock("Models", self.model_picker, Qt.DockWidgetArea.LeftDockWidgetArea)
        for combo in self.tools.findChildren(QComboBox):  # long entries must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        tools_scroll = QScrollArea()  # panels taller than a small screen scroll instead of growing the window
        tools_scroll.setWidget(self.tools)
        tools_scroll.setWidgetResizable(True)
        tools_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tools_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scrollbar = tools_scroll.verticalScrollBar().sizeHint().width()
        tools_scroll.setMinimumWidth(self.tools.minimumSizeHint().width() + scrollbar)  # never clip a panel
        self.tools_scroll = tools_scroll
        self.tools.currentChanged.connect(self._scroll_tools_to_top)
        self._wheel_guard = WheelGuard(self.tools)  # the wheel scrolls the dock, not the values it passes
        self._add_dock("Tools", tools_scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("Progress", self.progress_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.history_strip = HistoryStrip()  # beside Progress: a second dock in the bottom area goes right
        self.history_strip.chosen.connect(self._return_to_history)
        self.history_strip.compare_requested.connect(self._compare_history)
        self.history_strip.problem.connect(self.show_error)
        self._add_dock("History", self.history_strip, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.zoom_label = QLabel()
        self.device_label = QLabel("Device: …")
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self._warm_up: JobWorker | None = None
        self._build_menus()
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.model_picker.select_tool(Tool.STYLIZE)
        self._restore_window()
        self._update_title()

    # --- pictures ------------------------------------------------------------------------------------

    def show_picture(self, picture: Picture | None) -> None:
        """Put `picture` on the canvas (undo/redo and every new result come through here)."""
        self.picture = picture
        if picture is None:
            self.canvas.set_images(None)
        else:
            self.canvas.set_images(picture.image, picture.before)
        self._show_zoom(self.canvas.zoom())  # the canvas refits (and reports) only when the size changes
        self.compare_action.setEnabled(self.canvas.can_compare())
        self.compare_action.setChecked(self.compare_action.isChecked() and self.canvas.can_compare())
        self.save_action.setEnabled(picture is not None)
        self._update_title()

    def set_picture(self, picture: Picture, action: str) -> None:
        """A new picture, undoable as `action`."""
        self.undo_stack.push(CanvasChange(self, self.picture, picture, action))

    def open_file(self, path: Path) -> bool:
        """Open an image file; on a bad file show why and leave the canvas as it was."""
        try:
            image = load_image(path)
        except ImageError as exc:
            self.show_error("Cannot open this file", str(exc))
            return False
        self.set_picture(Picture.of(image, path.name), f"Open {path.name}")
        self._add_recent(path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        if isinstance(panel := self.tools.currentWidget(), ModelPanel):
            panel.picture_opened()
        return True

    def open_paths(self, paths_: list[Path]) -> None:
        """Dropped files or folders: open the first image found (a folder opens its first image)."""
        path = paths_[0]
        if path.is_dir():
            try:
                images = list_images(path)
            except ImageError as exc:
                self.show_error("Cannot open this folder", str(exc))
                return
            if not images:
                self.show_error("No pictures here", f"{path.name} holds no image files this app can read.")
                return
            if self.open_file(images[0]):
                self.statusBar().showMessage(f"Opened {images[0].name}, the first of {len(images)} images")
        else:
            self.open_file(path)

    def open_sample(self) -> None:
        with resources.image_path(resources.SAMPLE_PICTURE) as path:
            image = load_image(path)
        self.show_picture(Picture.of(image, "sample"))

    def save_as(self) -> None:
        if self.picture is None:
            return
        start = str(Path(str(self.settings.value("paths/save", ""))) / f"{Path(self.picture.name).stem}.png")
        name, _ = QFileDialog.getSaveFileName(self, "Save picture as", start, SAVE_FILTER)
        if name:
            self.save_to(Path(name))

    def save_to(self, path: Path) -> bool:
        assert self.picture is not None
        if not path.suffix:
            path = path.with_suffix(".png")
        try:
            save_image(self.picture.pil, path, {**self.picture.settings, "source": self.picture.name})
        except UserError as exc:  # a bad suffix, or the disk's (full, read-only, ...)
            self.show_error("Cannot save the picture", str(exc))
            return False
        self.settings.setValue("paths/save", str(path.parent))
        self.undo_stack.setClean()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    # --- jobs ----------------------------------------------------------------------------------------

    def run_job(self, job: Job[Any], edits_canvas: bool = True, owner: ModelPanel | None = None) -> None:
        """Run `job` in the background; an ImageResult lands on the canvas as an undoable change, compared
        with the canvas picture it started from when the job `edits_canvas` (not for new images). The
        `owner` panel gets the result too."""
        if self.worker is not None:
            self.show_error("Busy", f"Wait for “{self.worker.title}” to finish, or cancel it.")
            return
        worker = JobWorker(job, self)
        worker.finished.connect(self._on_job_finished)
        worker.cancelled.connect(self._on_job_cancelled)
        worker.failed.connect(self._on_job_failed)
        worker.preview.connect(self._on_job_preview)
        worker.released.connect(self._on_worker_released)
        self.progress_panel.attach(worker)
        self._set_busy(True)
        self._job_source = self.picture if edits_canvas else None
        self.worker, self._job_title, self._job_owner = worker, job.title, owner
        worker.start()

    def _on_job_finished(self, result: object, image: QImage | None) -> None:
        self._end_live_preview()
        if image is not None and isinstance(result, ImageResult):
            self._keep_result(result, image)
        elif isinstance(result, Path) and result.suffix == ".onnx":
            self.statusBar().showMessage(f"Exported {result}", 10_000)
        elif isinstance(result, Path):  # a trained model
            self._refresh_models(result)
        if self._job_owner is not None:
            self._job_owner.job_finished(result)
        if self.worker is not None:
            self.statusBar().showMessage(f"{self.worker.title}: done", 5000)

    def _on_job_cancelled(self, result: object, image: QImage | None) -> None:
        self._end_live_preview()
        if image is not None and isinstance(result, ImageResult):
            self._keep_result(result, image)  # the latest stylization is worth keeping
        if isinstance(result, Path):
            self._refresh_models(result)  # a cancelled training run leaves a resumable checkpoint
        self.statusBar().showMessage("Cancelled", 5000)

    def _on_models_renamed_or_deleted(self) -> None:
        for panel in self.panels:
            panel.models_changed()

    def _refresh_models(self, trained: Path) -> None:
        self.model_picker.refresh()
        for panel in self.panels:
            panel.models_changed()
        self.model_picker.select_model(trained)

    def _keep_result(self, result: ImageResult, image: QImage) -> None:
        source = self._job_source
        settings = {**(source.settings if source else {}), **result.settings}
        before = source.image if source else None
        # A new picture (samples, mistakes) is named by its caption, which the title bar shows.
        name = (
            source.name
            if source
            else str(result.settings.get("caption", result.settings.get("operation", "untitled")))
        )
        self.set_picture(Picture(result.image, image, before, settings, name), self._job_title)
        self.history_strip.add(result.image, settings, name)  # written in the background

    def _return_to_history(self, entry: Entry) -> None:
        """A history item back on the canvas, undoably, with its settings (Save As writes them)."""
        image = self.history_strip.load(entry)
        if image is not None:
            picture = Picture(image, to_qimage(image), None, entry.settings, entry.name)
            self.set_picture(picture, "Return to history item")

    def _compare_history(self, older: Entry, newer: Entry) -> None:
        before, after = self.history_strip.load(older), self.history_strip.load(newer)
        if before is not None and after is not None:
            picture = Picture(after, to_qimage(after), to_qimage(before), newer.settings, newer.name)
            self.set_picture(picture, "Compare history items")
            self.compare_action.setChecked(True)

    def _on_job_preview(self, image: QImage, caption: str, on_canvas: bool) -> None:
        """A job's work in progress: on the canvas when the job asks (a stylization), or when it is a
        training run's sample grid and View > Training Previews on Canvas is on; the progress dock shows
        it anyway. The canvas goes back to the picture when the job ends (`_end_live_preview`)."""
        training = self.worker is not None and isinstance(self.worker.job, Resumable)
        if on_canvas or (training and self.training_on_canvas_action.isChecked()):
            self._show_preview(image, caption)

    def _show_preview(self, image: QImage, caption: str) -> None:
        """A passing picture on the canvas (a job's or a panel's preview), not a result: no undo step."""
        self.canvas.set_images(image)
        self._showing_preview = True
        self.statusBar().showMessage(caption)

    def _end_live_preview(self) -> None:
        """Put the picture back where a job's preview stood (the result, if any, lands after this)."""
        if self._showing_preview:
            self._showing_preview = False
            self.show_picture(self.picture)

    def _show_training_on_canvas(self, shown: bool) -> None:
        self.settings.setValue("view/training_on_canvas", shown)
        if not shown:
            self._end_live_preview()

    def _on_job_failed(self, message: str) -> None:
        self._end_live_preview()
        self.show_error("The job failed", message)

    def _set_busy(self, busy: bool) -> None:
        for panel in self.panels:
            panel.set_busy(busy)
        self.model_picker.set_busy(busy)  # no renaming or deleting a run folder a job may write into

    def _on_worker_released(self) -> None:
        """The job's thread has stopped (the worker deletes itself next): the job slot is free."""
        self.worker, self._job_owner = None, None
        self._set_busy(False)

    def warm_up(self) -> None:
        """Import torch and pick the device in the background (separate from the job slot)."""
        worker = JobWorker(WarmUpJob(), self)
        worker.finished.connect(self._on_warmed_up)
        worker.failed.connect(self._on_warm_up_failed)
        worker.released.connect(self._on_warm_up_released)
        self._warm_up = worker
        worker.start()

    def _on_warmed_up(self, device: object, _image: object) -> None:
        self.device = str(device)
        self.device_label.setText(f"Device: {device}")
        for panel in self.panels:
            panel.device_ready()
        self.device_ready.emit()

    def _on_warm_up_failed(self, message: str) -> None:
        self.device_label.setText("Device: unavailable")
        self.device_label.setToolTip(message)
        self.device_ready.emit()

    def _on_warm_up_released(self) -> None:
        self._warm_up = None

    # --- messages ------------------------------------------------------------------------------------

    def show_error(self, title: str, text: str) -> None:
        """A non-modal message: it never blocks the event loop, and jobs keep reporting behind it."""
        log.info("%s: %s", title, text)
        self.statusBar().showMessage(text, 10_000)
        if self.error_box is not None:
            self.error_box.close()
        self.error_box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        self.error_box.open()

    def _on_panel_error(self, text: str) -> None:
        self.show_error("Cannot use this image", text)

    # --- menus ---------------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open…", self._choose_file, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._rebuild_recent()
        self.save_action = self._action(file_menu, "Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = self.menuBar().addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        edit_menu.addActions([undo, redo])
        edit_menu.addSeparator()
        for panel in self.panels:
            edit_menu.addActions(panel.edit_actions())

        view_menu = self.menuBar().addMenu("&View")
        self._action(
            view_menu, "Zoom &In", lambda: self.canvas.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn
        )
        self._action(
            view_menu, "Zoom &Out", lambda: self.canvas.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut
        )
        self._action(view_menu, "&Fit to Window", self.canvas.fit, QKeySequence("Ctrl+0"))
        self._action(view_menu, "&Actual Pixels", self.canvas.actual_size, QKeySequence("Ctrl+1"))
        self.compare_action = self._action(view_menu, "&Compare Before/After", None, QKeySequence("C"))
        self.compare_action.setCheckable(True)
        self.compare_action.setEnabled(False)
        self.compare_action.toggled.connect(self.canvas.set_compare)
        self.training_on_canvas_action = self._action(view_menu, "&Training Previews on Canvas", None)
        self.training_on_canvas_action.setCheckable(True)
        self.training_on_canvas_action.setChecked(
            self.settings.value("view/training_on_canvas", True, type=bool)  # type: ignore[arg-type]
        )
        self.training_on_canvas_action.setToolTip(
            "While a model trains, its latest sample grid fills the canvas"
        )
        self.training_on_canvas_action.toggled.connect(self._show_training_on_canvas)
        view_menu.addSeparator()
        for dock in self.findChildren(QDockWidget):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        self.theme_menu = theme_menu(self, self.settings)
        view_menu.addMenu(self.theme_menu)

        # Every built-in tool of the model picker (so every family's, from the catalog), with Alt+1...
        self.studios_menu = self.menuBar().addMenu("&Studios")
        tools_dock = next(d for d in self.findChildren(QDockWidget) if d.objectName() == "dock-tools")
        for action in self.model_picker.tool_actions(self):
            action.triggered.connect(tools_dock.show)  # the studio's panel shows even if the dock was closed
            action.triggered.connect(tools_dock.raise_)
            self.studios_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About Neural Easel", self._about)

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if slot is not None:
            action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(shortcut)
        menu.addAction(action)
        return action

    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")  # restoreState finds docks by object name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)

    def _choose_file(self) -> None:
        start = str(self.settings.value("paths/open", ""))
        name, _ = QFileDialog.getOpenFileName(self, "Open a picture", start, IMAGE_FILTER)
        if name:
            self.settings.setValue("paths/open", str(Path(name).parent))
            self.open_file(Path(name))

    def about_text(self) -> str:
        device = self.device or "still starting up"
        return (
            f"<b>Neural Easel {__version__}</b><p>Style transfer, GANs, VAEs and classifiers for artists.</p>"
            f"<p>Computing on: {device}</p>"
            f"<p>Your files live in {paths.data_dir()}:<br>trained models in {paths.models_dir()},"
            f"<br>converted weights in {paths.cache_dir()},<br>logs in {paths.log_dir()}.</p>"
        )

    def _about(self) -> None:
        QMessageBox.about(self, "About Neural Easel", self.about_text())

    # --- recent files --------------------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])  # type: ignore[call-overload]

    def _add_recent(self, path: Path) -> None:
        entry = str(path.resolve())
        recent = [entry, *(p for p in self.recent_files() if p != entry)][:MAX_RECENT]
        self.settings.setValue("recent", recent)
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for entry in self.recent_files():
            action = self.recent_menu.addAction(Path(entry).name)
            action.setToolTip(entry)
            action.triggered.connect(lambda _=False, p=entry: self.open_file(Path(p)))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # --- panels --------------------------------------------------------------------------------------

    def _add_panel(self, panel: ModelPanel) -> None:
        """A panel that builds its own jobs: shown for its built-in tools and its kinds of trained model."""
        self.panels.append(panel)
        self.tool_panels.update(dict.fromkeys(panel.tools, panel))
        self.model_panels.update(dict.fromkeys(panel.kinds, panel))
        self.tools.addWidget(panel)
        panel.canvas_picture = lambda: self.picture.pil if self.picture else None
        panel.job_requested.connect(lambda job, edits: self.run_job(job, edits, owner=panel))
        panel.error.connect(self._on_panel_error)
        panel.problem.connect(self.show_error)
        panel.status.connect(self.statusBar().showMessage)
        panel.cancel_requested.connect(lambda: self.progress_panel.cancel())
        panel.preview.connect(self._show_preview)

    def _scroll_tools_to_top(self) -> None:
        """A new panel in the Tools dock is shown from its top, wherever the last one was scrolled to."""
        self.tools_scroll.verticalScrollBar().setValue(0)

    def _on_tool_selected(self, tool: Tool) -> None:
        self.tools.setCurrentWidget(self.tool_panels[tool])

    def _on_model_selected(self, model: TrainedModel) -> None:
        panel = self.model_panels[model.info.kind]
        panel.set_model(model)
        self.tools.setCurrentWidget(panel)

    def _may_stop_running_job(self) -> bool:
        """Closing during a training run asks first; stopping it then saves a resumable checkpoint."""
        if self.worker is None or not isinstance(self.worker.job, Resumable) or not self.worker.is_running():
            return True
        answer = QMessageBox.question(
            self,
            "Training is running",
            f"“{self.worker.title}” is running. Stop it and save a checkpoint to resume from later, then "
            "quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    # --- window state --------------------------------------------------------------------------------

    def _show_zoom(self, zoom: float) -> None:
        """The size of the picture the canvas shows (a result, a live preview) and the zoom."""
        image = self.canvas.image()
        size = f"{image.width()} x {image.height()} px · " if image is not None else ""
        self.zoom_label.setText(f"{size}{zoom * self.canvas.devicePixelRatioF() * 100:.0f}%")

    def _update_title(self) -> None:
        name = self.picture.name if self.picture else "Neural Easel"
        modified = "" if self.undo_stack.isClean() or self.picture is None else " •"
        self.setWindowTitle(f"{name}{modified} — Neural Easel" if self.picture else name)

    def _restore_window(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            state = self.settings.value("window/state")
            if isinstance(state, QByteArray):
                self.restoreState(state)
        else:  # first run: a canvas-first layout
            self.resize(1280, 820)
            docks = {d.objectName(): d for d in self.findChildren(QDockWidget)}
            self.resizeDocks(
                [docks["dock-models"], docks["dock-tools"]], [220, 300], Qt.Orientation.Horizontal
            )
            self.resizeDocks([docks["dock-progress"]], [150], Qt.Orientation.Vertical)
            bottom = [docks["dock-progress"], docks["dock-history"]]
            self.resizeDocks(bottom, [560, 720], Qt.Orientation.Horizontal)  # room for the loss plot

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_stop_running_job():
            event.ignore()
            return
        if self._warm_up is not None:
            self._warm_up.wait(CLOSE_WAIT_MS)  # an import cannot be interrupted; it ends by itself
        for panel in self.panels:
            panel.close_down()
        self.history_strip.close_down()  # waits for the history's writes: none left half-written
        if self.worker is not None:
            # Jobs check their cancel flag every step, so this wait is one step long (and a training
            # job's save of the step reached).
            self.worker.cancel()
            if not self.worker.wait(CLOSE_WAIT_MS):
                log.warning("job %r did not stop within %d ms", self.worker.title, CLOSE_WAIT_MS)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        super().closeEvent(event)
