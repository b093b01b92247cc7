import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.catalog import FASHION_MNIST
from core.checkpoints import ModelKind, save_checkpoint
from core.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_ROOT,
    ImageSet,
    open_data_set,
    read_idx,
    training_data,
)
from core.errors import UserError
from core.images import FolderLook, look_at_folder, own_size


def shapes_folder(root: Path, classes: tuple[str, ...] = (), count: int = 4) -> Path:
    """Coloured circles and squares of mixed sizes; one subfolder per class when `classes` is given."""
    for c, sub in enumerate(classes or ("",)):
        folder = root / sub
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = Image.new("RGB", (40 + 8 * i, 32), (30 * i, 200 - 40 * c, 90))
            draw = ImageDraw.Draw(image)
            box = (6, 6, 26, 26)
            draw.ellipse(box, fill=(240, 40 * c, 20)) if c % 2 else draw.rectangle(
                box, fill=(20, 240, 40 * i)
            )
            image.save(folder / f"shape{i}.png")
    return root


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_folder_is_cropped_resized_and_unlabelled(tmp_path: Path) -> None:
    data, skipped = ImageSet.from_folder(shapes_folder(tmp_path / "shapes"), 16)
    assert (len(data), data.images.shape, data.images.dtype) == (4, (4, 3, 16, 16), torch.uint8)
    assert data.labels is None
    assert data.class_names == ()
    assert skipped == []
    assert data.name == "shapes"


def test_folder_per_class_gives_labels(tmp_path: Path) -> None:
    data, _ = ImageSet.from_folder(shapes_folder(tmp_path / "set", ("squares", "circles")), 16)
    assert data.class_names == ("circles", "squares")
    assert data.labels is not None
    assert sorted(data.labels.tolist()) == [0] * 4 + [1] * 4


def test_folder_skips_junk_and_reads_every_mode(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "junk.png").write_bytes(b"not a picture")
    (folder / "cut.jpg").write_bytes(b"\xff\xd8\xff")
    Image.new("L", (20, 30), 100).save(folder / "grey.png")
    Image.new("RGBA", (30, 20), (255, 0, 0, 0)).save(folder / "clear.png")  # transparent: white paper
    Image.fromarray(np.full((24, 24), 65535, np.uint16)).save(folder / "deep.png")
    data, skipped = ImageSet.from_folder(folder, 8, grey=True)
    assert len(data) == 3
    assert data.channels == 1
    assert sorted(p.name for p, _ in skipped) == ["cut.jpg", "junk.png"]
    assert all(reason for _, reason in skipped)
    assert data.images.flatten(1).float().mean(1).tolist() == [255.0, 255.0, 100.0]  # clear, deep, grey


def test_empty_or_junk_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty: it has no pictures"):
        ImageSet.from_folder(tmp_path / "empty", 32)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"junk")
    with pytest.raises(UserError, match="junk: none of its 1 files"):
        ImageSet.from_folder(tmp_path / "junk", 32)
    with pytest.raises(UserError, match="not a folder"):
        ImageSet.from_folder(tmp_path / "missing", 32)


def test_batches_are_seeded_per_step_and_scaled(tmp_path: Path) -> None:
    data, _ = ImageSet.from_folder(shapes_folder(tmp_path / "s", ("a", "b")), 16)
    images, labels = data.batch(3, 8, seed=1)
    again, labels_again = data.batch(3, 8, seed=1)
    other, _ = data.batch(4, 8, seed=1)
    assert images.shape == (8, 3, 16, 16)
    assert images.dtype == torch.float32
    assert torch.equal(images, again)
    assert labels is not None
    assert labels_again is not None
    assert torch.equal(labels, labels_again)
    assert not torch.equal(images, other)
    assert images.min() >= -1.0
    assert images.max() <= 1.0


def test_idx_pair_is_read_and_resized(tmp_path: Path) -> None:
    images = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 9, 3]))
    data = ImageSet.fashion_mnist("test", root=tmp_path)
    assert data.images.shape == (5, 1, 28, 28)
    assert torch.equal(data.images[:, 0], torch.from_numpy(images).byte())
    assert data.labels is not None
    assert data.labels.tolist() == [0, 1, 2, 9, 3]
    assert data.class_names == FASHION_MNIST_CLASSES
    assert data.class_names[0] == "T-shirt/top"
    assert ImageSet.fashion_mnist("test", size=32, root=tmp_path).images.shape == (5, 1, 32, 32)


def test_idx_reader_rejects_bad_files(tmp_path: Path) -> None:
    write_idx(tmp_path / "bad.gz", np.zeros((2, 4, 4)), magic=0x0000_0903)
    with pytest.raises(UserError, match="magic number"):
        read_idx(tmp_path / "bad.gz", 0x0803)
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, 2, 4, 4) + b"\0" * 10)
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "short.gz", 0x0803)
    with pytest.raises(UserError, match="dataset-fashion-mnist"):
        ImageSet.fashion_mnist(root=tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_ROOT.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist() -> None:
    data = ImageSet.fashion_mnist("test")
    assert data.images.shape == (10_000, 1, 28, 28)
    assert data.labels is not None
    assert torch.bincount(data.labels).tolist() == [1000] * 10


def test_torchvision_download_offline_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(UserError, match="Cannot download CIFAR10: no internet connection"):
        ImageSet.torchvision_dataset("CIFAR10", tmp_path)
    with pytest.raises(UserError, match="no data set called"):
        ImageSet.torchvision_dataset("NoSuchSet", tmp_path)


def test_a_folder_is_read_at_its_own_size_and_in_grey_when_grey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grey = tmp_path / "grey"
    grey.mkdir()
    for i, side in enumerate((20, 26, 26, 30, 90)):
        Image.new("L", (side, side + 5), 50 * i).save(grey / f"{i}.png")
    assert look_at_folder(grey) == FolderLook(side=26, grey=True)  # the median shorter side
    assert open_data_set(grey, 16).channels == 1
    assert open_data_set(grey, 16, grey=False).channels == 3  # asked for: colour it is
    assert [own_size(grey, sizes) for sizes in ((28, 32, 64, 128), (32, 64, 128))] == [28, 32]
    assert own_size(FASHION_MNIST, (28, 32, 64)) == 28
    Image.new("RGB", (26, 26), "red").save(grey / "colour.png")
    assert look_at_folder(grey) == FolderLook(side=26, grey=False)
    assert open_data_set(grey, 16).channels == 3

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (1200, 800)).save(photos / "big.jpg")
    assert own_size(photos, (32, 64, 128)) == 64  # photos are capped
    monkeypatch.chdir(grey)  # no data chosen yet is not the working directory
    assert own_size("", (28, 32, 64, 128)) == 64


def test_a_resumed_run_reads_its_data_as_its_checkpoint_was_trained(tmp_path: Path) -> None:
    """A run begun before folders were judged by their pictures read them at 64 px in colour: resuming it
    must not switch to the pictures' own 28 px grey under its weights."""
    folder = tmp_path / "small"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (28, 28), 60 * i).save(folder / f"{i}.png")
    old = tmp_path / "old.safetensors"
    config = {"size": 64, "channels": 3}
    save_checkpoint(old, {"w": torch.zeros(1)}, kind=ModelKind.VAE, arch="vae", config=config)
    resumed = training_data(folder, 28, resume=old)
    assert (resumed.size, resumed.channels) == (64, 3)
    fresh = training_data(folder, 28)
    assert (fresh.size, fresh.channels) == (28, 1)
