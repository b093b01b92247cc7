"""The Tools dock's panels, one per model family or tool, in the order the window stacks them.

Each is a `desktop.panels.base.ModelPanel`: it builds its own core jobs, and says which tools and trained
models of the model picker show it. A new model family adds its panel here (as `core.cli` lists each
family's commands), and the window needs no code of its own for it.
"""

from collections.abc import Callable

from PySide6.QtCore import QSettings

from desktop.panels.base import ModelPanel
from desktop.panels.classifier import ClassifierPanel
from desktop.panels.colour import ColourPanel
from desktop.panels.draw import DrawPanel
from desktop.panels.forecast import ForecastPanel
from desktop.panels.gan import GanPanel
from desktop.panels.style import StylePanel
from desktop.panels.vae import VaePanel

PANELS: tuple[Callable[[QSettings], ModelPanel], ...] = (
    StylePanel,
    ColourPanel,
    GanPanel,
    VaePanel,
    ClassifierPanel,
    DrawPanel,
    ForecastPanel,
)

__all__ = ["PANELS", "ModelPanel"]
