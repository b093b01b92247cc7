"""The canvas as the artist sees it: its pixels rendered offscreen (`canvas.grab()`)."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from pytestqt.qtbot import QtBot

from desktop.canvas import Canvas
from desktop.qimage import to_qimage

RED, BLUE, YELLOW, GREEN = (230, 20, 20), (20, 20, 230), (230, 230, 20), (20, 200, 20)


def before_picture(width: int, height: int) -> QImage:
    """Left half red, right half blue, and a yellow bottom quarter across the whole width."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(*RED))
    painter = QPainter(image)
    painter.fillRect(width // 2, 0, width - width // 2, height, QColor(*BLUE))
    painter.fillRect(0, height * 3 // 4, width, height - height * 3 // 4, QColor(*YELLOW))
    painter.end()
    return image


def plain(width: int, height: int, rgb: tuple[int, int, int]) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(*rgb))
    return image


@pytest.fixture
def canvas(qtbot: QtBot) -> Canvas:
    view = Canvas()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    return view


def picture_rect(canvas: Canvas) -> QRect:
    """Where the picture lies in the canvas widget, in its pixels."""
    in_viewport = canvas.mapFromScene(canvas.sceneRect()).boundingRect()
    return in_viewport.translated(canvas.viewport().pos())


def shown_colour(canvas: Canvas, x: float, y: float) -> tuple[int, int, int]:
    """The rendered colour at fractions (x, y) of the picture's displayed rectangle."""
    shot = canvas.grab().toImage()
    assert shot.devicePixelRatio() == 1
    rect = picture_rect(canvas)
    colour = shot.pixelColor(round(rect.left() + x * rect.width()), round(rect.top() + y * rect.height()))
    return colour.red(), colour.green(), colour.blue()


def assert_near(actual: tuple[int, int, int], expected: tuple[int, int, int]) -> None:
    assert np.abs(np.subtract(actual, expected)).max() <= 30, f"{actual} is not {expected}"


@pytest.mark.parametrize("result_size", [(256, 192), (1024, 768), (2048, 1536)])
def test_compare_shows_the_same_scene_region_on_both_sides(
    canvas: Canvas, result_size: tuple[int, int]
) -> None:
    """A Draft or Good stylization is smaller than its photo: left of the divider the canvas shows the
    photo's region under it, scaled onto the result's rectangle, not a strip of the photo's left edge."""
    canvas.set_images(plain(*result_size, GREEN), before_picture(1024, 768))
    canvas.set_compare(True)
    canvas.set_split(0.75)
    assert canvas.comparing()
    rect = picture_rect(canvas)
    assert rect.width() / rect.height() == pytest.approx(4 / 3, abs=0.02)
    assert_near(shown_colour(canvas, 0.25, 0.4), RED)
    assert_near(shown_colour(canvas, 0.60, 0.4), BLUE)  # the photo's right half, still left of the divider
    assert_near(shown_colour(canvas, 0.60, 0.9), YELLOW)  # its bottom quarter, at the bottom
    assert_near(shown_colour(canvas, 0.25, 0.9), YELLOW)
    assert_near(shown_colour(canvas, 0.90, 0.4), GREEN)  # right of the divider: the result
    assert_near(shown_colour(canvas, 0.90, 0.9), GREEN)


def test_dragging_the_divider_shows_more_of_the_result(canvas: Canvas, qtbot: QtBot) -> None:
    canvas.set_images(plain(256, 192, GREEN), before_picture(1024, 768))
    canvas.set_compare(True)
    rect = picture_rect(canvas).translated(-canvas.viewport().pos())
    at_30_percent = QPoint(round(rect.left() + 0.3 * rect.width()), rect.center().y())
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at_30_percent)
    assert canvas.split() == pytest.approx(0.3, abs=0.01)
    assert_near(shown_colour(canvas, 0.15, 0.4), RED)
    assert_near(shown_colour(canvas, 0.60, 0.4), GREEN)
    canvas.set_compare(False)
    assert_near(shown_colour(canvas, 0.15, 0.4), GREEN)  # compare off: the result alone


def test_pictures_reach_qt_opaque_with_their_colours() -> None:
    """The fourth byte of Format_RGB32 is alpha to a painter compositing the picture onto a transparent
    surface (a thumbnail, an icon): it must be 0xFF, or the picture comes out transparent."""
    picture = to_qimage(Image.new("RGB", (3, 2), (200, 100, 50)))
    surface = QImage(3, 2, QImage.Format.Format_ARGB32_Premultiplied)
    surface.fill(0)
    painter = QPainter(surface)
    painter.drawImage(0, 0, picture)
    painter.end()
    colour = surface.pixelColor(2, 1)
    assert (colour.red(), colour.green(), colour.blue(), colour.alpha()) == (200, 100, 50, 255)
