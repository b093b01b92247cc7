"""The window's colours: the system's light or dark look, or a chosen Light or Dark theme.

View > Theme offers Light, Dark and System, remembered in QSettings under `THEME_KEY`.

- System (the default) keeps the platform's own style and palette, which follow the desktop's light or
  dark setting (macOS, Windows 11, KDE); where the style is Fusion (most Linux desktops) and the system
  reports a dark scheme, it gets the dark palette below. It follows the system when that changes.
- Light and Dark are Fusion with a palette of our own, as painting programs do (Krita, Blender): the same
  look on every system, and a dark one that keeps the artist's eye on the picture.

The theme is application-wide: `apply_theme` is cheap when nothing changes, so `desktop.app` applies the
saved theme before the first window paints and each window's menu applies it again for free.
"""

from enum import StrEnum

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QActionGroup, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QToolTip, QWidget

THEME_KEY = "view/theme"
FUSION = "fusion"

Role, Group = QPalette.ColorRole, QPalette.ColorGroup


class Theme(StrEnum):
    LIGHT = "light"
    DARK = "dark"
    SYSTEM = "system"

    @property
    def label(self) -> str:
        return {"light": "&Light", "dark": "&Dark", "system": "&System"}[self.value]


def saved_theme(settings: QSettings) -> Theme:
    try:
        return Theme(str(settings.value(THEME_KEY, Theme.SYSTEM.value)))
    except ValueError:
        return Theme.SYSTEM


def _palette(
    colours: dict[QPalette.ColorRole, QColor], disabled: dict[QPalette.ColorRole, QColor]
) -> QPalette:
    palette = QPalette()
    for role, colour in colours.items():
        palette.setColor(role, colour)
    for role, colour in disabled.items():
        palette.setColor(Group.Disabled, role, colour)
    return palette


def dark_palette() -> QPalette:
    """Neutral greys (no colour cast next to the picture), blue selection, dimmed disabled text."""
    text, grey, blue = QColor(224, 224, 224), QColor(128, 128, 128), QColor(42, 130, 218)
    return _palette(
        {
            Role.Window: QColor(50, 50, 52),
            Role.WindowText: text,
            Role.Base: QColor(32, 32, 34),
            Role.AlternateBase: QColor(44, 44, 46),
            Role.ToolTipBase: QColor(28, 28, 30),
            Role.ToolTipText: text,
            Role.PlaceholderText: grey,
            Role.Text: text,
            Role.Button: QColor(56, 56, 58),
            Role.ButtonText: text,
            Role.BrightText: QColor(255, 96, 96),
            Role.Light: QColor(80, 80, 84),
            Role.Midlight: QColor(66, 66, 70),
            Role.Mid: QColor(40, 40, 42),
            Role.Dark: QColor(30, 30, 32),
            Role.Shadow: QColor(16, 16, 16),
            Role.Highlight: blue,
            Role.HighlightedText: QColor(255, 255, 255),
            Role.Link: QColor(100, 168, 240),
            Role.LinkVisited: QColor(170, 130, 235),
            Role.Accent: blue,
        },
        {
            Role.WindowText: grey,
            Role.Text: grey,
            Role.ButtonText: grey,
            Role.Highlight: QColor(72, 72, 76),
            Role.HighlightedText: QColor(176, 176, 176),
        },
    )


def light_palette() -> QPalette:
    """Fusion's classic light greys, fixed: the same on a system set to dark."""
    black, grey, blue = QColor(20, 20, 20), QColor(150, 150, 150), QColor(48, 140, 198)
    return _palette(
        {
            Role.Window: QColor(239, 239, 239),
            Role.WindowText: black,
            Role.Base: QColor(255, 255, 255),
            Role.AlternateBase: QColor(246, 246, 246),
            Role.ToolTipBase: QColor(255, 255, 225),
            Role.ToolTipText: black,
            Role.PlaceholderText: grey,
            Role.Text: black,
            Role.Button: QColor(239, 239, 239),
            Role.ButtonText: black,
            Role.BrightText: QColor(255, 255, 255),
            Role.Light: QColor(255, 255, 255),
            Role.Midlight: QColor(227, 227, 227),
            Role.Mid: QColor(160, 160, 160),
            Role.Dark: QColor(160, 160, 160),
            Role.Shadow: QColor(105, 105, 105),
            Role.Highlight: blue,
            Role.HighlightedText: QColor(255, 255, 255),
            Role.Link: QColor(0, 90, 200),
            Role.LinkVisited: QColor(110, 40, 180),
            Role.Accent: blue,
        },
        {
            Role.WindowText: grey,
            Role.Text: grey,
            Role.ButtonText: grey,
            Role.Highlight: QColor(145, 145, 145),
            Role.HighlightedText: QColor(255, 255, 255),
        },
    )


class _State:
    """What `apply_theme` found at its first call (the platform's look) and what it set up since."""

    native_style = ""  # the platform's default style, as at start-up
    native_tooltips: QPalette | None = None
    look = ""  # "native", "light" or "dark": what the application shows now
    theme = Theme.SYSTEM  # what the user chose
    following = False  # listening for the system's light/dark changes


def system_is_dark() -> bool:
    """Whether the desktop asks for dark colours (Unknown, where a platform cannot tell, is light)."""
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def _look(theme: Theme) -> str:
    if theme is not Theme.SYSTEM:
        return theme.value
    return "dark" if system_is_dark() and _State.native_style == FUSION else "native"


def apply_theme(theme: Theme) -> None:
    """Show `theme` in the whole application (nothing happens when it already shows)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication), "a QApplication comes first"
    hints = app.styleHints()
    if not _State.look:  # the first call: the application shows the platform's look
        _State.native_style, _State.look = app.style().name().lower(), "native"
        _State.native_tooltips = QToolTip.palette()
    if not _State.following:
        hints.colorSchemeChanged.connect(_system_scheme_changed)
        _State.following = True
    _State.theme = theme
    # Ask the platform for the chosen scheme too, so what Qt does not paint (title bars, native file
    # dialogs) matches where the platform allows it; System gives the choice back to the desktop.
    if theme is Theme.SYSTEM:
        hints.unsetColorScheme()
    else:
        hints.setColorScheme(Qt.ColorScheme.Dark if theme is Theme.DARK else Qt.ColorScheme.Light)
    look = _look(theme)
    if look == _State.look:
        return
    if look == "native":
        if app.style().name().lower() != _State.native_style:
            app.setStyle(_State.native_style)
        app.setPalette(QPalette())  # an empty palette hands every colour back to the platform
        if _State.native_tooltips is not None:
            QToolTip.setPalette(_State.native_tooltips)
    else:
        palette = dark_palette() if look == "dark" else light_palette()
        if app.style().name().lower() != FUSION:
            app.setStyle(FUSION)
        app.setPalette(palette)
        QToolTip.setPalette(palette)
    _State.look = look


def _system_scheme_changed(_scheme: Qt.ColorScheme) -> None:
    if _State.theme is Theme.SYSTEM:
        apply_theme(Theme.SYSTEM)


def current_look() -> str:
    """What the application shows now: "native" (the platform's look), "light" or "dark"."""
    return _State.look or "native"


def theme_menu(parent: QWidget, settings: QSettings) -> QMenu:
    """View > Theme: Light, Dark or System, applied at once and remembered in `settings`. Building it
    applies the saved theme."""
    menu = QMenu("&Theme", parent)
    group = QActionGroup(menu)
    group.setExclusive(True)
    saved = saved_theme(settings)

    def choose(theme: Theme) -> None:
        settings.setValue(THEME_KEY, theme.value)
        apply_theme(theme)

    for theme in Theme:
        action = menu.addAction(theme.label)
        action.setCheckable(True)
        action.setChecked(theme is saved)
        action.setData(theme.value)
        group.addAction(action)
        action.triggered.connect(lambda _=False, t=theme: choose(t))
    apply_theme(saved)
    return menu
