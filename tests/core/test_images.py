import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageError
from core.images import list_images, load_image, read_metadata, save_image, to_pil, to_tensor
from tests.conftest import gradient_image


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height but carries no pixel data (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("shopping list")
    with pytest.raises(ImageError, match="not an image"):
        load_image(path)


def test_truncated_image(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    gradient_image(256, 256).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageError, match="damaged or incomplete"):
        load_image(path)


def test_tiny_image(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(path)
    with pytest.raises(ImageError, match="only 1 x 1 pixels"):
        load_image(path)


def test_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    png_header_only(path, 50_000, 50_000)
    with pytest.raises(ImageError, match="Scale it down first"):
        load_image(path)
    png_header_only(path, 13_000, 12_000)  # under Pillow's guard, over ours
    with pytest.raises(ImageError, match="13,000 x 12,000 pixels"):
        load_image(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "LA", "1"])
def test_any_mode_becomes_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"in-{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
    gradient_image().convert(mode).save(path)
    image = load_image(path)
    assert image.mode == "RGB"
    assert np.asarray(image).std() > 10  # still a picture, not a flat colour
    assert image.size == (96, 64)


def test_alpha_is_flattened_onto_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 8, 16))  # left half fully transparent
    rgba.save(path)
    pixels = np.asarray(load_image(path))
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, 15]) == (255, 0, 0)


def test_16_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    ramp = np.linspace(0, 65535, 64 * 16).reshape(16, 64).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    pixels = np.asarray(load_image(path))[..., 0].astype(int)
    assert pixels.min() == 0
    assert pixels.max() == 255
    # Every level scales by 255/65535; a clip would turn everything above 255 (nearly all of it) white.
    assert np.abs(pixels - ramp / 257.0).max() <= 0.5


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": a portrait shot held sideways
    gradient_image(96, 64).save(path, exif=exif)
    assert load_image(path).size == (64, 96)


def test_list_images_recursive_sorted_and_skips_junk(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for rel in ["b/2.png", "a.jpg", ".hidden/x.png"]:
        gradient_image().save(tmp_path / rel)
    (tmp_path / "readme.txt").write_text("not a picture")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.jpg", "b/2.png"]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_save_keeps_metadata(tmp_path: Path, suffix: str) -> None:
    path = save_image(gradient_image(), tmp_path / f"out{suffix}", {"mode": "reinhard", "strength": 0.5})
    metadata = read_metadata(path)
    assert metadata["mode"] == "reinhard"
    assert metadata["strength"] == 0.5
    assert "app_version" in metadata
    assert load_image(path).size == (96, 64)


def test_save_refuses_unknown_format_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"use \.png, \.jpg or \.webp"):
        save_image(gradient_image(), tmp_path / "out.xyz")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.png"
    gradient_image().save(path)
    before = path.read_bytes()

    def broken_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        Path(str(args[0])).write_bytes(b"half a pic")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(gradient_image(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]  # no temporary file left behind


def test_tensor_round_trip() -> None:
    image = gradient_image()
    tensor = to_tensor(image)
    assert tuple(tensor.shape) == (1, 3, 64, 96)
    assert float(tensor.min()) >= 0.0
    assert float(tensor.max()) <= 1.0
    assert np.array_equal(np.asarray(to_pil(tensor)), np.asarray(image))
