"""Images in and out: safe loading, atomic saving with metadata, PIL <-> tensor.

Every picture enters the app through `load_image`, which returns an upright 8-bit RGB image or raises an
`ImageError` that says what is wrong. torch is imported only inside the tensor helpers, so the window
can load and show pictures without paying for it.
"""

import json
import math
import os
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from core import __version__
from core.catalog import FASHION_MNIST, TORCHVISION_PREFIX
from core.errors import ImageError
from core.files import atomic_path
from core.safety import OutputType

if TYPE_CHECKING:
    import torch

# A 4K frame is 8.3 MP and a 10,000 x 10,000 scan 100 MP; beyond that a file is far more likely a
# decompression bomb than a picture, and would not fit any model's memory budget anyway. This check
# replaces Pillow's warning (at 89 MP), which would only be noise in the log.
MAX_PIXELS = 100_000_000
warnings.simplefilter("ignore", Image.DecompressionBombWarning)
MIN_SIDE = 8

READ_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
PICTURE = OutputType("a picture", frozenset(SAVE_FORMATS), ".png, .jpg or .webp")
PICTURE_OR_GIF = OutputType(
    "a picture or an animation", frozenset({*SAVE_FORMATS, ".gif"}), ".png, .jpg, .webp or .gif"
)

# EXIF tags used to carry our metadata in JPEG and WebP files.
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
METADATA_KEY = "neural-easel"


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE
) -> Image.Image:
    """Load `path` as an upright 8-bit RGB image, or raise an `ImageError` a person can act on."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path.name} is a folder, not an image.")
    if not path.exists():
        raise ImageError(f"{path} does not exist.")
    try:
        with Image.open(path) as img:
            width, height = img.size  # read from the header: nothing decoded yet
            if width * height > max_pixels:
                raise ImageError(
                    f"{path.name} is {width:,} x {height:,} pixels ({width * height / 1e6:,.0f} MP), "
                    f"more than the {max_pixels / 1e6:,.0f} MP this app opens. Scale it down first."
                )
            if min(width, height) < min_side:
                raise ImageError(
                    f"{path.name} is only {width} x {height} pixels: images need at least "
                    f"{min_side} pixels on each side."
                )
            img.load()
            return _to_rgb(_upright(img))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            f"{path.name} is not an image this app can read (PNG, JPEG, WebP, BMP, TIFF or GIF)."
        ) from None
    except Image.DecompressionBombError:
        # Pillow's own guard, met before ours for images over twice its limit (about 358 MP).
        raise ImageError(
            f"{path.name} has more than the {max_pixels / 1e6:,.0f} MP this app opens. Scale it down first."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports cut-off or corrupt data as OSError ("image file is truncated") or SyntaxError.
        raise ImageError(f"{path.name} is damaged or incomplete and cannot be read ({exc}).") from None


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation a camera recorded, so portraits are not shown lying down."""
    try:
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, KeyError, TypeError):
        return img  # a broken EXIF block must not cost the user the picture itself


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any mode -> 8-bit RGB. Transparency is flattened onto white, as on a sheet of paper."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greys: Pillow's own convert() clips at 255 instead of scaling.
        grey = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(grey / 257.0, 0, 255).round().astype(np.uint8), "L")
    elif img.mode == "F":
        grey = np.asarray(img, dtype=np.float64)
        scale = 255.0 if grey.max(initial=0.0) <= 1.0 else 1.0
        img = Image.fromarray(np.clip(grey * scale, 0, 255).round().astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


@dataclass(frozen=True)
class FolderScan:
    images: list[Path]  # sorted
    skipped: list[tuple[Path, str]]  # what was passed over, and why: for the artist to see by name


def scan_images(folder: str | os.PathLike[str], limit: int | None = None) -> FolderScan:
    """Image files under `folder`, recursively and through symbolic links (a link back to a folder
    already seen is a loop, skipped), sorted. Hidden files and folders are left out silently, and files
    not named as pictures are left out too; broken links, link loops and unreadable folders are listed in
    `skipped` with the reason. With a `limit`, the walk stops once it has found that many."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder} is not a folder.")
    images: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[tuple[int, int]] = set()

    def unreadable(error: OSError) -> None:
        skipped.append((Path(str(error.filename)), f"cannot be read ({error.strerror})"))

    for root, dirs, files in os.walk(folder, followlinks=True, onerror=unreadable):
        here = os.stat(root)
        if (here.st_dev, here.st_ino) in seen:
            skipped.append((Path(root), "a link to a folder already read (a loop)"))
            dirs.clear()
            continue
        seen.add((here.st_dev, here.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root, name)
            if name.startswith(".") or path.suffix.lower() not in READ_SUFFIXES:
                continue  # not a candidate: notes, captions, the system's own files
            if path.is_file():
                images.append(path)
            else:
                skipped.append((path, "a link to nothing" if path.is_symlink() else "not a file"))
        if limit is not None and len(images) >= limit:
            break
    return FolderScan(sorted(images), sorted(skipped))


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files `scan_images` finds under `folder`."""
    return scan_images(folder).images


def save_image(
    image: Image.Image,
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None = None,
    *,
    quality: int = 95,
) -> Path:
    """Write `image` atomically as PNG, JPEG or WebP (by suffix), with `metadata` as JSON inside the file.

    PNG keeps it in a text chunk, JPEG and WebP in the EXIF ImageDescription tag; `read_metadata` reads
    either back.
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"Cannot save as '{path.suffix or path.name}': use {PICTURE.names}.")
    payload = json.dumps({"app_version": __version__, **(metadata or {})}, default=str)
    options: dict[str, Any] = {}
    if fmt == "PNG":
        info = PngInfo()
        info.add_text(METADATA_KEY, payload)
        info.add_text("Software", f"Neural Easel {__version__}")
        options["pnginfo"] = info
    else:
        exif = Image.Exif()
        exif[_EXIF_IMAGE_DESCRIPTION] = payload
        exif[_EXIF_SOFTWARE] = f"Neural Easel {__version__}"
        options.update(exif=exif, quality=quality)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    with atomic_path(path) as tmp:
        rgb.save(tmp, format=fmt, **options)
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings `save_image` stored in a file, or {} for a file that has none."""
    with Image.open(path) as img:
        raw = img.info.get(METADATA_KEY) or img.getexif().get(_EXIF_IMAGE_DESCRIPTION)
    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def resize_long_side(image: Image.Image, side: int) -> Image.Image:
    """`image` scaled (Lanczos) so its longer side is `side` px, aspect kept; itself when it already is."""
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def to_array(image: Image.Image) -> np.ndarray:
    """RGB image -> float32 array (H, W, 3) in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def from_array(array: np.ndarray) -> Image.Image:
    """Float array (H, W, 3) in [0, 1] -> RGB image (values outside are clipped)."""
    return Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")


def to_tensor(image: Image.Image, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    """RGB image -> float tensor (1, 3, H, W) in [0, 1] on `device`."""
    import torch

    chw = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)  # a writable copy
    return chw.unsqueeze(0).to(device=device, dtype=torch.float32).div_(255.0).contiguous()


def to_pil(tensor: "torch.Tensor") -> Image.Image:
    """Float tensor (1, C, H, W) or (C, H, W) in [0, 1], C = 3 or 1 (grey) -> RGB image (values outside
    are clipped)."""
    chw = (tensor[0] if tensor.ndim == 4 else tensor).detach().clamp(0, 1).mul(255).round().byte()
    chw = chw.expand(3, -1, -1) if chw.shape[0] == 1 else chw
    return Image.fromarray(chw.permute(1, 2, 0).cpu().numpy(), "RGB")


def grid(images: Sequence[Image.Image], columns: int) -> Image.Image:
    """Images of one size tiled row by row, `columns` wide (fewer if there are fewer images)."""
    if not images:
        raise ValueError("no images to tile")
    columns = max(1, min(columns, len(images)))
    rows = math.ceil(len(images) / columns)
    width, height = images[0].size
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for i, image in enumerate(images):
        sheet.paste(image, ((i % columns) * width, (i // columns) * height))
    return sheet


def save_gif(images: Sequence[Image.Image], path: str | Path, ms_per_frame: int = 80) -> Path:
    """An endlessly looping GIF of `images`, written atomically."""
    if not images:
        raise ImageError("No frames to save.")
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=list(images[1:]), duration=ms_per_frame, loop=0
        )
    return Path(path)


GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
LOOK_SAMPLE = 256  # headers read to judge a folder: the median side of 256 is within a few % of all's
LOOK_SCAN = 4096  # pictures found before the walk stops: a folder of 100,000 costs what one of 4,096 does


@dataclass(frozen=True)
class FolderLook:
    """What a folder's pictures are like, judged from the headers of a seeded sample (nothing decoded)."""

    side: int  # the median of the pictures' shorter sides, px
    grey: bool  # every picture looked at is grey


def look_at_folder(folder: Path, sample: int = LOOK_SAMPLE) -> FolderLook | None:
    """The pictures' own resolution and colour from a seeded sample of the first LOOK_SCAN found (quick
    enough for the window's thread), or None when none of them can be opened (reading them says why)."""
    try:
        paths = scan_images(folder, limit=LOOK_SCAN).images
    except ImageError:
        return None
    if len(paths) > sample:
        paths = random.Random(0).sample(paths, sample)
    sides, grey = [], True
    for path in paths:
        try:
            with Image.open(path) as img:
                sides.append(min(img.size))
                grey = grey and img.mode in GREY_MODES
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue
    if not sides:
        return None
    return FolderLook(side=sorted(sides)[len(sides) // 2], grey=grey)


def own_size(spec: str | Path, sizes: Sequence[int], cap: int = 64) -> int:
    """The smallest of a model's `sizes` that holds the pictures of data set `spec` (Fashion-MNIST's 28 px,
    a torchvision set's 28 or 32, a folder's median side), photos capped at `cap`: training larger than
    the pictures costs compute and shows the model nothing new."""
    text = str(spec)
    if text == FASHION_MNIST or text.startswith(TORCHVISION_PREFIX):
        side = 28 if text == FASHION_MNIST or text.endswith("MNIST") else 32  # MNIST's kin, or CIFAR's
    else:  # no data chosen yet ("") is no folder: not the working directory
        look = look_at_folder(Path(text)) if text else None
        side = cap if look is None else look.side
    return next((size for size in sorted(sizes) if size >= min(side, cap)), max(sizes))
