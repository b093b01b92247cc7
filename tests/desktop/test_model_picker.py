"""The model picker and the menus around it, driven in the real window: long names, a trained model's
context menu (Rename, Show in File Manager, Delete), the Studios menu and View > Theme."""

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QInputDialog,
    QMenu,
    QMessageBox,
    QStyle,
    QStyleOptionViewItem,
    QTreeWidgetItem,
    QWidget,
)
from pytestqt.qtbot import QtBot

from core import paths
from core.catalog import BUILT_IN_TOOLS, TOOL_LABELS, Family, Tool
from core.checkpoints import ModelKind, save_checkpoint
from desktop import theme
from desktop.main_window import MainWindow
from desktop.model_picker import REVEAL_LABEL, ModelPicker
from desktop.panels.gan import GanPanel
from desktop.panels.style import StylePanel
from tests.desktop.conftest import panel_of

LONG_NAME = "fashion-mnist-32px-20260412-101500"


def train_run(name: str, kind: ModelKind = ModelKind.GAN) -> Path:
    """A training run's folder as a run leaves it: <models>/<name>/<kind>.safetensors."""
    path = paths.models_dir() / name / f"{kind}.safetensors"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, {"w": torch.zeros(2)}, kind=kind, arch="dcgan-sn-v1", config={"size": 32})
    return path


def style_network(name: str) -> Path:
    path = paths.models_dir() / f"{name}.safetensors"
    save_checkpoint(path, {"w": torch.zeros(2)}, kind=ModelKind.FAST_STYLE, arch="transformer-net-v1")
    return path


def item_named(picker: ModelPicker, text: str) -> QTreeWidgetItem:
    (item,) = picker.findItems(text, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    return item


def listed(picker: ModelPicker) -> list[str]:
    everything = picker.findItems("*", Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive)
    return [item.text(0) for item in everything]


def displayed_text(picker: ModelPicker, item: QTreeWidgetItem) -> str:
    """What the view paints for `item`: its text elided as the style elides it (with the view's elide
    mode, in the item's text rectangle less the style's text margins)."""
    option = QStyleOptionViewItem()
    picker.initViewItemOption(option)
    option.rect = picker.visualItemRect(item)
    option.text = item.text(0)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasDisplay
    style = picker.style()
    text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, picker)
    margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, picker) + 1
    return option.fontMetrics.elidedText(option.text, option.textElideMode, text_rect.width() - 2 * margin)


class Answers:
    """Answers the modal dialogs the code under test opens, one responder per dialog, in order, as a
    person would (typing, clicking a button); `seen` keeps each dialog's text. A dialog beyond those is
    recorded and rejected (Cancel), so a surprise question fails the test instead of hanging it."""

    latest: "Answers | None" = None

    def __init__(self, *responders: Callable[[QWidget], None]) -> None:
        self.responders = list(responders)
        self.seen: list[str] = []
        self._answered: set[int] = set()
        self._polls = 0
        Answers.latest = self
        QTimer.singleShot(0, self._poll)

    def _poll(self) -> None:
        if Answers.latest is not self:
            return  # a later Answers takes over
        self._polls += 1
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog) and id(dialog) not in self._answered:
            self._answered.add(id(dialog))
            self.seen.append(
                f"{dialog.text()} {dialog.informativeText()}"
                if isinstance(dialog, QMessageBox)
                else dialog.labelText()
                if isinstance(dialog, QInputDialog)
                else dialog.windowTitle()
            )
            if self.responders:
                self.responders.pop(0)(dialog)
            else:
                dialog.reject()
        if self._polls < 1000:
            QTimer.singleShot(10, self._poll)


def click_button(text: str) -> Callable[[QWidget], None]:
    def respond(dialog: QWidget) -> None:
        assert isinstance(dialog, QMessageBox)
        (button,) = [b for b in dialog.buttons() if b.text() == text]
        button.click()

    return respond


def type_name(name: str) -> Callable[[QWidget], None]:
    def respond(dialog: QWidget) -> None:
        assert isinstance(dialog, QInputDialog)
        dialog.setTextValue(name)
        dialog.accept()

    return respond


@pytest.fixture
def own_trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The freedesktop trash Qt moves files to, inside this test's folder, never the user's own."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    (tmp_path / "xdg-data").mkdir()  # as ~/.local/share exists in a home
    return tmp_path / "xdg-data" / "Trash"


@pytest.fixture(autouse=True)
def platform_theme_afterwards() -> Iterator[None]:
    yield
    theme.apply_theme(theme.Theme.SYSTEM)  # the theme is application-wide: other tests see the default


# --- names ---------------------------------------------------------------------------------------------


def test_a_long_name_keeps_its_start_and_its_date_and_the_tooltip_holds_all_of_it(qtbot: QtBot) -> None:
    path = train_run(LONG_NAME)
    train_run("fashion-mnist-32px-20260413-090000")
    picker = ModelPicker(paths.models_dir())
    qtbot.addWidget(picker)
    picker.resize(170, 400)  # as narrow as the Models dock can get
    picker.show()
    qtbot.waitExposed(picker)
    item = item_named(picker, LONG_NAME)
    shown = displayed_text(picker, item)
    assert shown != LONG_NAME  # it does not fit ...
    assert "…" in shown
    assert shown.startswith("fashion")  # ... yet both its start
    assert shown.endswith("1500")  # and its date and time show, so two runs tell apart
    assert displayed_text(picker, item_named(picker, "fashion-mnist-32px-20260413-090000")).endswith("0000")
    tooltip = item.toolTip(0)
    assert tooltip.splitlines()[0] == LONG_NAME
    assert str(path) in tooltip


# --- the context menu ----------------------------------------------------------------------------------


def test_the_context_menu_of_a_trained_model_and_of_nothing_else(window: MainWindow) -> None:
    train_run("portraits")
    picker = window.model_picker
    picker.refresh()
    assert picker.context_menu(item_named(picker, "Train a GAN")) is None
    assert picker.context_menu(item_named(picker, "GAN")) is None
    menu = picker.context_menu(item_named(picker, "portraits"))
    assert menu is not None
    assert [a.text() for a in menu.actions()] == ["&Rename…", REVEAL_LABEL, "", "&Delete…"]
    assert all(a.isEnabled() for a in menu.actions())
    current = picker.current_model()
    assert current is not None
    assert current.name == "portraits"
    assert window.tools.currentWidget() is window.model_panels[ModelKind.GAN]
    # while a job runs (it may be writing into a run's folder) renaming and deleting wait
    window._set_busy(True)
    assert not picker.rename_action.isEnabled()
    assert not picker.delete_action.isEnabled()
    assert picker.reveal_action.isEnabled()
    window._set_busy(False)
    assert picker.rename_action.isEnabled()
    assert picker.delete_action.isEnabled()


def test_rename_renames_the_file_and_the_panels_hear_of_it(window: MainWindow, qtbot: QtBot) -> None:
    old = style_network("mosaic")
    picker = window.model_picker
    picker.refresh()
    window._on_models_renamed_or_deleted()
    style = panel_of(window, StylePanel)
    assert [style.model.itemText(i) for i in range(style.model.count())] == ["mosaic"]
    picker.context_menu(item_named(picker, "mosaic"))
    answers = Answers(type_name("stained glass"))
    with qtbot.waitSignal(picker.models_changed):
        picker.rename_action.trigger()
    assert answers.seen == ["New name for “mosaic”:"]
    new = paths.models_dir() / "stained glass.safetensors"
    assert new.is_file()
    assert not old.exists()
    assert "stained glass" in listed(picker)
    assert "mosaic" not in listed(picker)
    assert [style.model.itemText(i) for i in range(style.model.count())] == ["stained glass"]
    current = picker.current_model()
    assert current is not None
    assert current.path == new


def test_rename_refuses_a_name_in_use_and_replaces_nothing(window: MainWindow) -> None:
    run = train_run(LONG_NAME)
    other = train_run("keep")
    picker = window.model_picker
    picker.refresh()
    picker.context_menu(item_named(picker, LONG_NAME))
    answers = Answers(type_name("keep"))
    picker.rename_action.trigger()
    assert answers.seen == [f"New name for “{LONG_NAME}”:"]
    assert run.is_file()
    assert other.is_file()
    assert sorted(p.parent.name for p in paths.models_dir().rglob("*.safetensors")) == [LONG_NAME, "keep"]
    assert window.error_box is not None
    assert window.error_box.windowTitle() == "Cannot rename the model"
    assert "already there" in window.error_box.text()


def test_rename_renames_a_runs_folder_from_the_keyboard(window: MainWindow, qtbot: QtBot) -> None:
    run = train_run(LONG_NAME)
    (run.parent / "preview.png").write_bytes(b"png")
    picker = window.model_picker
    picker.refresh()
    picker.setCurrentItem(item_named(picker, LONG_NAME))
    picker.setFocus()
    qtbot.waitUntil(picker.hasFocus)
    Answers(type_name("coats"))
    with qtbot.waitSignal(picker.models_changed):
        qtbot.keyClick(picker, Qt.Key.Key_F2)
    renamed = paths.models_dir() / "coats"
    assert (renamed / "gan.safetensors").is_file()
    assert (renamed / "preview.png").is_file()
    assert not run.parent.exists()
    gan = panel_of(window, GanPanel)
    assert window.tools.currentWidget() is gan
    assert gan.model_label.text().startswith("coats:")  # the panel holds the model's new path


def test_show_in_file_manager_opens_the_runs_folder(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = train_run("portraits")
    network = style_network("mosaic")
    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", open_url)
    picker = window.model_picker
    picker.refresh()
    for name in ("portraits", "mosaic"):
        picker.context_menu(item_named(picker, name))
        picker.reveal_action.trigger()
    assert opened == [QUrl.fromLocalFile(str(run.parent)), QUrl.fromLocalFile(str(network.parent))]
    assert all(url.isLocalFile() for url in opened)


def test_delete_asks_then_moves_the_run_to_the_trash(
    window: MainWindow, qtbot: QtBot, own_trash: Path
) -> None:
    run = train_run(LONG_NAME)
    picker = window.model_picker
    picker.refresh()
    picker.context_menu(item_named(picker, LONG_NAME))
    answers = Answers(click_button("Cancel"))
    picker.delete_action.trigger()
    assert "Move “fashion-mnist-32px-20260412-101500” to the trash?" in answers.seen[0]
    assert run.is_file()  # Cancel: nothing happened
    assert panel_of(window, GanPanel).model == run  # the model picked, shown in its panel

    answers = Answers(click_button("Move to Trash"))
    with qtbot.waitSignal(picker.models_changed):
        picker.delete_action.trigger()
    assert len(answers.seen) == 1  # one question, no second
    assert not run.parent.exists()
    assert (own_trash / "files" / LONG_NAME / "gan.safetensors").is_file()  # restorable
    assert (own_trash / "info" / f"{LONG_NAME}.trashinfo").is_file()
    assert LONG_NAME not in listed(picker)
    assert panel_of(window, GanPanel).model is None  # its panel no longer offers a model that is gone


def test_without_a_trash_delete_says_it_is_permanent_before_deleting(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk where no trash can be made (here its folder is a file): the second question says so."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    network = style_network("mosaic")
    picker = window.model_picker
    picker.refresh()
    picker.context_menu(item_named(picker, "mosaic"))
    answers = Answers(click_button("Move to Trash"), click_button("Cancel"))
    picker.delete_action.trigger()
    assert len(answers.seen) == 2
    assert "permanently" in answers.seen[1]
    assert "cannot be undone" in answers.seen[1]
    assert network.is_file()  # the second Cancel kept it

    answers = Answers(click_button("Move to Trash"), click_button("Delete Permanently"))
    with qtbot.waitSignal(picker.models_changed):
        picker.delete_action.trigger()
    assert len(answers.seen) == 2
    assert not network.exists()
    assert "mosaic" not in listed(picker)


# --- the Studios menu ----------------------------------------------------------------------------------


def menu_named(window: MainWindow, title: str) -> list[QAction]:
    (menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == title]
    assert isinstance(menu, QMenu)
    return menu.actions()


def test_the_studios_menu_reaches_every_tool_of_the_picker(window: MainWindow, qtbot: QtBot) -> None:
    assert [a.text() for a in window.menuBar().actions()] == ["&File", "&Edit", "&View", "&Studios", "&Help"]
    entries = [a for a in menu_named(window, "&Studios") if not a.isSeparator()]
    in_picker_order = [tool for family in Family for tool in BUILT_IN_TOOLS.get(family, [])]
    assert [a.text() for a in entries] == [TOOL_LABELS[t] for t in in_picker_order]
    assert {Tool(a.data()) for a in entries} == set(Tool)  # every tool, so every family's
    assert [a.shortcut().toString() for a in entries] == [f"Alt+{i}" for i in range(1, len(entries) + 1)]
    tools_dock = window.findChild(QDockWidget, "dock-tools")
    assert tools_dock is not None
    tools_dock.close()
    for action in reversed(entries):
        action.trigger()
        assert window.tools.currentWidget() is window.tool_panels[Tool(action.data())]
        assert tools_dock.isVisible()
        assert window.tools.currentWidget().isVisible()  # type: ignore[union-attr]
    # and from the keyboard
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert window.tools.currentWidget() is window.tool_panels[in_picker_order[2]]


def test_no_two_actions_share_a_shortcut(window: MainWindow) -> None:
    """A window-wide shortcut is unique, and no widget's own shortcut (Delete in the model picker and in
    the history strip, each for its own selection) takes a window-wide key: Qt would find either
    ambiguous and run neither."""
    actions = [a for a in window.findChildren(QAction) if any(not k.isEmpty() for k in a.shortcuts())]
    own = (Qt.ShortcutContext.WidgetShortcut, Qt.ShortcutContext.WidgetWithChildrenShortcut)
    window_wide = Counter(
        k.toString() for a in actions if a.shortcutContext() not in own for k in a.shortcuts()
    )
    widgets = {k.toString() for a in actions if a.shortcutContext() in own for k in a.shortcuts()}
    assert window_wide, "the window has shortcuts"
    assert [key for key, count in window_wide.items() if count > 1] == []
    assert widgets & set(window_wide) == set()
    assert {"Ctrl+1", "Alt+1"} <= set(window_wide)  # Actual Pixels keeps Ctrl+1
    assert {"F2", "Del"} <= widgets


# --- the theme -----------------------------------------------------------------------------------------


def test_dark_theme_is_a_dark_fusion_palette_and_is_remembered(
    window: MainWindow, qtbot: QtBot, settings: QSettings
) -> None:
    base = QPalette.ColorRole.Base
    platform_base = window.palette().color(base)
    assert platform_base.lightness() > 200  # the offscreen platform's palette is light
    (dark,) = [a for a in window.theme_menu.actions() if a.text() == "&Dark"]
    dark.trigger()
    qtbot.waitUntil(lambda: window.palette().color(base).lightness() < 50)  # Qt posts palette changes
    assert window.palette().color(QPalette.ColorRole.Window).lightness() < 80
    assert window.palette().color(QPalette.ColorRole.Text).lightness() > 200  # readable on it
    assert window.model_picker.palette().color(base).lightness() < 50  # every widget, not only the window
    assert QApplication.style().name().lower() == "fusion"
    assert settings.value(theme.THEME_KEY) == "dark"

    theme.apply_theme(theme.Theme.LIGHT)  # as the next start would be, before reading the settings
    qtbot.waitUntil(lambda: window.palette().color(base).lightness() > 200)
    second = MainWindow(settings)
    qtbot.addWidget(second)
    qtbot.waitUntil(lambda: second.palette().color(base).lightness() < 50)
    assert [a.text() for a in second.theme_menu.actions() if a.isChecked()] == ["&Dark"]

    (system,) = [a for a in second.theme_menu.actions() if a.text() == "&System"]
    system.trigger()
    qtbot.waitUntil(lambda: second.palette().color(base) == platform_base)
    assert settings.value(theme.THEME_KEY) == "system"


def test_the_system_theme_follows_the_system_going_dark(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert theme.saved_theme(window.settings) is theme.Theme.SYSTEM
    assert window.palette().color(QPalette.ColorRole.Window).lightness() > 200
    hints = QGuiApplication.styleHints()
    monkeypatch.setattr(theme, "system_is_dark", lambda: True)  # what the desktop now reports
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    qtbot.waitUntil(lambda: window.palette().color(QPalette.ColorRole.Window).lightness() < 80)
    assert theme.current_look() == "dark"
    monkeypatch.setattr(theme, "system_is_dark", lambda: False)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    qtbot.waitUntil(lambda: window.palette().color(QPalette.ColorRole.Window).lightness() > 200)
    assert theme.current_look() == "native"
