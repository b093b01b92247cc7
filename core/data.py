"""Image data sets held in memory, shared by the generative models and the classifier.

An `ImageSet` is a uint8 tensor (N, C, S, S) of square images (C = 1 for grey sets such as Fashion-MNIST,
3 for colour), optional integer labels (N,) and their class names. uint8 keeps 60,000 images of 32 px in
60 MB (a quarter of float32); batches become floats in [-1, 1] on the way to the model. Batches are drawn
from an RNG seeded with (seed + step) alone, so a resumed training run sees the very batches an
uninterrupted one would.
"""

import gzip
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core import installed
from core.catalog import FASHION_MNIST, TORCHVISION_PREFIX
from core.checkpoints import read_info
from core.errors import ImageError, UserError
from core.images import load_image, look_at_folder, scan_images
from core.paths import cache_dir

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
MIN_SIZE, MAX_SIZE = 8, 1024


@dataclass(frozen=True)
class ImageSet:
    """Square images (N, C, S, S) uint8, with labels (N,) int64 and class names when the set has classes."""

    images: Tensor
    labels: Tensor | None = None
    class_names: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] not in (1, 3):
            raise ValueError(
                f"images must be uint8 (N, 1|3, S, S), not {self.images.dtype} {self.images.shape}"
            )
        if self.labels is not None and self.labels.shape != (len(self.images),):
            raise ValueError("labels must be (N,) like the images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def batch(
        self, step: int, batch_size: int, *, seed: int = 0, device: torch.device | str = "cpu"
    ) -> tuple[Tensor, Tensor | None]:
        """The batch of `step`: images float (B, C, S, S) in [-1, 1] and their labels (B,) or None, drawn
        with replacement by a generator seeded with seed + step (the same on every run and resume)."""
        generator = torch.Generator().manual_seed(seed + step)
        index = torch.randint(len(self.images), (batch_size,), generator=generator)
        images = self.images[index].to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
        labels = None if self.labels is None else self.labels[index].to(device)
        return images, labels

    def resized(self, size: int) -> "ImageSet":
        """The same set at `size` px (antialiased bilinear), e.g. Fashion-MNIST's 28 px for a 32 px model."""
        if size == self.size:
            return self
        return ImageSet(_resize_uint8(self.images, size), self.labels, self.class_names, self.name)

    @classmethod
    def from_folder(
        cls, path: str | Path, size: int, *, grey: bool = False, max_images: int | None = None
    ) -> tuple["ImageSet", list[tuple[Path, str]]]:
        """All pictures under `path` (recursively), centre-cropped square and resized to `size` px, and the
        files skipped with the reason. First-level subfolders are the classes when every picture sits in
        one and there are at least two (the folder-per-class layout); otherwise the set is unlabelled.
        Over `max_images` pictures, a seeded random choice of them is used."""
        folder = Path(path)
        _check_size(size)
        try:
            scan = scan_images(folder)
        except ImageError as exc:
            raise UserError(str(exc)) from None
        paths = scan.images
        if max_images is not None and len(paths) > max_images:
            paths = sorted(random.Random(0).sample(paths, max_images))
        arrays: list[np.ndarray] = []
        kept: list[Path] = []
        skipped = list(scan.skipped)
        for file in paths:
            try:
                image = load_image(file, min_side=1)
            except ImageError as exc:
                skipped.append((file, str(exc)))
                continue
            square = centre_square(image.convert("L") if grey else image, size)
            arrays.append(np.asarray(square).reshape(size, size, -1))
            kept.append(file)
        if not kept:
            what = (
                f"none of its {len(paths)} files could be read as a picture"
                if paths
                else "it has no pictures"
            )
            raise UserError(
                f"Cannot use {folder}: {what} (PNG, JPEG, WebP, BMP, TIFF or GIF). Choose a folder of images."
            )
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        tops = [file.relative_to(folder).parts for file in kept]
        class_names = sorted({parts[0] for parts in tops})
        if all(len(parts) >= 2 for parts in tops) and len(class_names) >= 2:
            labels = torch.tensor([class_names.index(parts[0]) for parts in tops], dtype=torch.int64)
            return cls(images, labels, tuple(class_names), folder.name), skipped
        return cls(images, name=folder.name), skipped

    @classmethod
    def fashion_mnist(
        cls, split: str = "train", size: int = 28, root: Path = FASHION_MNIST_ROOT
    ) -> "ImageSet":
        """Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 training or 10,000 test 28 px grey images of
        10 kinds of clothing, read from the gzip IDX files of Debian's `dataset-fashion-mnist`."""
        if split not in ("train", "test"):
            raise UserError(f"Fashion-MNIST has a 'train' and a 'test' split, not '{split}'.")
        _check_size(size)
        prefix = "train" if split == "train" else "t10k"
        image_file, label_file = (
            root / f"{prefix}-images-idx3-ubyte.gz",
            root / f"{prefix}-labels-idx1-ubyte.gz",
        )
        for file in (image_file, label_file):
            if not file.is_file():
                raise UserError(
                    f"Fashion-MNIST is not installed ({file} is missing): install Debian's "
                    "`dataset-fashion-mnist` package, or train on a folder of images."
                )
        images = read_idx(image_file, _IDX_IMAGES_MAGIC)
        labels = read_idx(label_file, _IDX_LABELS_MAGIC)
        if images.ndim != 3 or labels.shape != (images.shape[0],) or images.shape[1] != images.shape[2]:
            raise UserError(
                f"The Fashion-MNIST files in {root} do not match: images {tuple(images.shape)}, "
                f"labels {tuple(labels.shape)}."
            )
        if int(labels.max(initial=0)) >= len(FASHION_MNIST_CLASSES):
            raise UserError(f"{label_file.name} has labels beyond the 10 Fashion-MNIST classes.")
        data = cls(
            torch.from_numpy(images).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)),
            FASHION_MNIST_CLASSES,
            f"Fashion-MNIST ({split})",
        )
        return data.resized(size)

    @classmethod
    def torchvision_dataset(
        cls, name: str, root: Path | None = None, *, train: bool = True, size: int | None = None
    ) -> "ImageSet":
        """A torchvision data set with `data`, `targets` and `classes` (CIFAR10, CIFAR100, MNIST, ...),
        downloaded into the app's cache on first use."""
        datasets = installed.torchvision(f"The torchvision data set {name}").datasets
        dataset_class = getattr(datasets, name, None)
        if not isinstance(dataset_class, type):
            raise UserError(f"torchvision has no data set called '{name}' (e.g. CIFAR10, CIFAR100, MNIST).")
        folder = root if root is not None else cache_dir() / "datasets"
        try:
            dataset: Any = dataset_class(str(folder), train=train, download=True)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision raises RuntimeError
            raise UserError(
                f"Cannot download {name}: no internet connection? ({exc}). Train on a folder of images or "
                "on Fashion-MNIST instead."
            ) from None
        data = np.asarray(dataset.data, dtype=np.uint8)  # CIFAR: (N, H, W, 3); MNIST-likes: (N, H, W)
        images = (
            torch.from_numpy(data).unsqueeze(1)
            if data.ndim == 3
            else torch.from_numpy(data).permute(0, 3, 1, 2)
        )
        if images.shape[-1] != images.shape[-2]:
            raise UserError(f"{name} has images of {images.shape[-1]} x {images.shape[-2]} px: not square.")
        labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
        result = cls(images.contiguous(), labels, tuple(str(c) for c in dataset.classes), name)
        return result if size is None else result.resized(size)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file (LeCun's MNIST format, gzip-compressed) of unsigned bytes: a big-endian magic number
    0x000008DD (DD = number of dimensions), DD big-endian int32 sizes, then the data."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise UserError(f"{path.name} is not a readable gzip IDX file ({exc}).") from None
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != magic:
        found = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
        raise UserError(
            f"{path.name} is not the IDX file expected (magic number {found!r}, expected {magic:#010x})."
        )
    dims = magic & 0xFF
    header = 4 + 4 * dims
    shape = struct.unpack(f">{dims}I", raw[4:header]) if len(raw) >= header else ()
    if len(shape) != dims or len(raw) - header != int(np.prod(shape)):
        raise UserError(f"{path.name} is truncated or damaged: its size does not match its header {shape}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _check_size(size: int) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"The image size must be between {MIN_SIZE} and {MAX_SIZE} px, not {size}.")


def centre_square(image: Image.Image, size: int) -> Image.Image:
    """The largest centred square of `image`, resized to `size` px (Lanczos)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))


def _resize_uint8(images: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """uint8 (N, C, S, S) -> uint8 (N, C, size, size), antialiased bilinear, in chunks to bound memory."""
    return torch.cat(
        [
            F.interpolate(
                part.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
            .round_()
            .clamp_(0, 255)
            .byte()
            for part in torch.split(images, chunk)
        ]
    )


def open_data_set(
    spec: str | Path,
    size: int,
    *,
    grey: bool | None = None,
    report: Callable[[str], None] | None = None,
    split: str = "train",
) -> ImageSet:
    """A data set by the name a person gives it: "fashion-mnist" (Debian's files), "torchvision:CIFAR10"
    (downloaded into the cache), or a folder of images (unreadable files skipped and reported), in grey
    when `grey` says so or, by default, when its pictures are grey. `split` ("train" or "test") picks the
    part of a built-in set; a folder is always read whole."""
    text = str(spec)
    if text == FASHION_MNIST:
        return ImageSet.fashion_mnist(split, size=size)
    if text.startswith(TORCHVISION_PREFIX):
        name = text.removeprefix(TORCHVISION_PREFIX)
        return ImageSet.torchvision_dataset(name, train=split == "train", size=size)
    if grey is None:
        look = look_at_folder(Path(text))
        grey = look is not None and look.grey
    data, skipped = ImageSet.from_folder(Path(text), size, grey=grey)
    if skipped and report is not None:
        names = ", ".join(path.name for path, _ in skipped[:5]) + (" …" if len(skipped) > 5 else "")
        report(f"Skipped {len(skipped)} unreadable file(s): {names}")
    return data


def checkpoint_shape(resume: Path | None) -> tuple[int, bool] | None:
    """(size, grey) a resumed run reads its data at: its checkpoint's, whatever the folder's pictures say
    now (a run begun before folders were judged by their pictures read them in colour, at 64 px)."""
    if resume is None:
        return None
    config = read_info(resume).config
    return int(config["size"]), int(config.get("channels", 3)) == 1


def training_data(
    spec: str | Path, size: int, resume: Path | None = None, report: Callable[[str], None] | None = None
) -> ImageSet:
    """`open_data_set` for a training run: a resumed one at its checkpoint's size and channels."""
    shape = checkpoint_shape(resume)
    if shape is None:
        return open_data_set(spec, size, report=report)
    return open_data_set(spec, shape[0], grey=shape[1], report=report)
