"""Files the app ships: built-in pictures (the project's own procedural work, made by
`python -m resources.generate_images`). Always reached through importlib.resources, never the
current directory, so a frozen installer finds them too."""

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path

SAMPLE_PICTURE = "sample.jpg"
APP_ICON = "neural-easel.svg"  # the project's own drawing; installers render it to PNG (packaging/)
BUILTIN_PALETTES = {"Dusk": "dusk.jpg", "Ocean": "ocean.jpg"}


@contextmanager
def image_path(name: str) -> Iterator[Path]:
    """A real file path for the bundled image `name`, valid inside the `with` block."""
    with as_file(files(__name__).joinpath("images", name)) as path:
        yield path


def icon_bytes(name: str = APP_ICON) -> bytes:
    return files(__name__).joinpath("icons", name).read_bytes()
