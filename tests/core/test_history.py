"""The history store: exact pictures back, settings kept, bounded, and whole across restarts and crashes."""

import enum
import errno
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import paths
from core.errors import ImageError, StorageError
from core.history import ORPHAN_AGE_S, THUMBNAIL_SIDE, History, json_safe
from tests.conftest import gradient_image


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """A picture PNG cannot shrink, so its size on disk is predictable."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def test_a_result_comes_back_exactly_with_its_settings() -> None:
    history = History()
    picture = noise(300, 200)
    entry = history.add(
        picture, {"operation": "stylize", "styles": [{"name": "dusk", "weight": 1.0}]}, "lake.png"
    )

    assert history.folder == paths.data_dir() / "history"
    (listed,) = history.entries()
    assert listed == entry
    assert (listed.name, listed.size) == ("lake.png", (300, 200))
    assert listed.settings == {"operation": "stylize", "styles": [{"name": "dusk", "weight": 1.0}]}
    back = history.load(listed)
    assert back.mode == "RGB"
    assert np.array_equal(np.asarray(back), np.asarray(picture))
    with Image.open(listed.thumbnail) as thumbnail:
        assert thumbnail.size == (THUMBNAIL_SIDE, round(THUMBNAIL_SIDE * 200 / 300))


def test_entries_are_newest_first_and_survive_a_restart() -> None:
    first = History()
    added = [first.add(gradient_image(40 + i, 30), {"operation": f"op-{i}"}, f"p{i}") for i in range(3)]
    restarted = History()  # a new process opens the same folder
    assert [e.id for e in restarted.entries()] == [e.id for e in reversed(added)]
    assert [e.settings["operation"] for e in restarted.entries()] == ["op-2", "op-1", "op-0"]
    assert restarted.load(restarted.entries()[-1]).size == (40, 30)


def test_a_small_picture_keeps_its_size_as_thumbnail() -> None:
    entry = History().add(gradient_image(50, 20), {}, "tiny")
    with Image.open(entry.thumbnail) as thumbnail:
        assert thumbnail.size == (50, 20)


def test_the_oldest_entries_go_beyond_the_count() -> None:
    history = History(max_entries=3)
    added = [history.add(gradient_image(20 + i, 20), {}, f"p{i}") for i in range(5)]
    assert [e.id for e in history.entries()] == [e.id for e in reversed(added[2:])]
    for gone in added[:2]:
        assert not any(path.exists() for path in gone.files())


def test_the_oldest_entries_go_beyond_the_bytes() -> None:
    history = History()
    one = history.add(noise(100, 100, seed=0), {}, "p0")
    assert one.disk_bytes > 30_000  # 30,000 bytes of pixels PNG cannot compress, plus thumbnail and record
    bounded = History(max_bytes=int(2.5 * one.disk_bytes))
    added = [one] + [bounded.add(noise(100, 100, seed=i), {}, f"p{i}") for i in range(1, 4)]
    assert [e.id for e in bounded.entries()] == [added[3].id, added[2].id]
    assert sum(e.disk_bytes for e in bounded.entries()) <= bounded.max_bytes
    assert sorted(p.name for p in history.folder.iterdir()) == sorted(
        p.name for e in added[2:] for p in e.files()
    )


def test_the_newest_entry_stays_even_when_it_alone_is_over_the_bytes() -> None:
    history = History(max_bytes=1000)
    history.add(noise(60, 60), {}, "old")
    newest = history.add(noise(60, 60, seed=1), {}, "new")
    assert history.entries() == [newest]


def test_a_damaged_entry_is_skipped_and_cleaned_up() -> None:
    history = History()
    keep, no_picture, bad_json, not_ours = (history.add(gradient_image(), {}, f"p{i}") for i in range(4))
    no_picture.picture.unlink()
    bad_json.record.write_text('{"id": "cut off')
    not_ours.record.write_text(json.dumps(["a list"]))

    assert history.entries() == [keep]
    for damaged in (no_picture, bad_json, not_ours):
        assert not any(path.exists() for path in damaged.files())
    assert sorted(p.name for p in history.folder.iterdir()) == sorted(p.name for p in keep.files())


def test_files_a_crash_left_without_a_record_are_removed_once_old() -> None:
    history = History()
    keep = history.add(gradient_image(), {}, "kept")
    orphan = history.folder / "20240101-120000-abcdef.png"
    part = history.folder / f".{orphan.name}.999999.0a1b2c3d.part"
    gradient_image().save(orphan)
    part.write_bytes(b"half a picture")

    assert history.entries() == [keep]
    assert orphan.exists()  # young: it may be another window's add, still writing
    assert part.exists()
    old = time.time() - ORPHAN_AGE_S - 60
    for path in (orphan, part):
        os.utime(path, (old, old))
    assert history.entries() == [keep]
    assert not orphan.exists()
    assert not part.exists()


def test_a_picture_damaged_after_listing_is_an_image_error_and_leaves() -> None:
    history = History()
    entry = history.add(gradient_image(), {}, "lake.png")
    entry.picture.write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageError, match=r"lake\.png.*missing or damaged"):
        history.load(entry)
    assert history.entries() == []
    assert not any(path.exists() for path in entry.files())


def test_a_full_disk_is_a_storage_error_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    history = History()
    keep = history.add(gradient_image(), {}, "kept")
    real_save = Image.Image.save

    def save(image: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        if image.size == (THUMBNAIL_SIDE, 120):  # the picture went in, its thumbnail does not
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(image, fp, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(StorageError, match="the disk is full"):
        history.add(noise(400, 300), {}, "big")
    assert history.entries() == [keep]
    assert sorted(p.name for p in history.folder.iterdir()) == sorted(p.name for p in keep.files())


def test_an_unwritable_folder_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(StorageError):
        History(blocker / "history").add(gradient_image(), {}, "p")
    assert History(tmp_path / "never-made").entries() == []


class Colours(enum.Enum):
    MATCH = "match"


def test_settings_are_made_json_safe() -> None:
    settings = {
        "path": Path("/styles/dusk.jpg"),
        "mode": Colours.MATCH,
        "size": (512, 384),
        "tags": {"only"},
        "losses": {"style": float("nan"), "content": np.float32(0.5), "steps": np.int64(7)},
        "picture": gradient_image(),  # no JSON form: dropped
        "nested": [1, object(), {"deep": Path("x")}],
        "flag": True,
        3: "a number key",
    }
    safe = json_safe(settings)  # type: ignore[arg-type]
    assert safe == {
        "path": "/styles/dusk.jpg",
        "mode": "match",
        "size": [512, 384],
        "tags": ["only"],
        "losses": {"style": "nan", "content": 0.5, "steps": 7},
        "nested": [1, {"deep": "x"}],
        "flag": True,
        "3": "a number key",
    }
    history = History()
    history.add(gradient_image(), settings, "p")  # type: ignore[arg-type]
    assert history.entries()[0].settings == safe
