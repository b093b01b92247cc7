"""The history of results: every picture the window made, kept on disk with the settings that made it.

An entry is three files in `paths.data_dir() / "history"`, named by its id: `<id>.png` (the picture,
lossless, so returning to it gives exactly that picture), `<id>.thumb.png` (a small copy for the strip)
and `<id>.json` (id, time, name, size and the JSON-safe settings). Each file is written atomically and
the record last: it commits the entry, so an add cut short leaves pictures without a record, never a
record without its picture. Reading skips and removes what is damaged; after each add the oldest entries
beyond `MAX_ENTRIES` or `MAX_BYTES` are removed.

A reader in one thread sees whole entries while another thread adds or removes them; the window makes
every change from one background thread, in order.
"""

import contextlib
import datetime
import json
import logging
import math
import numbers
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from PIL import Image

from core import paths
from core.errors import ImageError, StorageError, os_error_message
from core.files import atomic_path
from core.images import load_image

log = logging.getLogger(__name__)

# Days of work to come back to; a strip of hundreds more thumbnails would be a haystack.
MAX_ENTRIES = 200
# A 24 MP result is up to about 50 MB as PNG: a gigabyte keeps twenty of those or hundreds of typical
# results, and stays small beside the trained models in the same folder.
MAX_BYTES = 1_000_000_000
THUMBNAIL_SIDE = 160  # px on the long side: sharp in the strip on a high-DPI screen, a few dozen KB
# Files without a record younger than this may belong to an add still writing (another window of the
# app); older ones were left by a crash and are removed.
ORPHAN_AGE_S = 600
# zlib level 1 encodes about 4 times faster than the default 6 for files about a quarter larger: the write
# runs while the artist works, and closing the window waits for it.
PNG_COMPRESS_LEVEL = 1
FORMAT = 1  # of the JSON record

_DROPPED = object()


@dataclass(frozen=True)
class Entry:
    """One result in the history."""

    id: str
    time: float  # when it was added, seconds since the epoch
    name: str  # the picture's name on the canvas: the file it came from, or the operation
    size: tuple[int, int]  # width, height in px
    settings: dict[str, Any] = field(compare=False)  # JSON-safe
    folder: Path
    disk_bytes: int = 0  # its three files together

    @property
    def picture(self) -> Path:
        return self.folder / f"{self.id}.png"

    @property
    def thumbnail(self) -> Path:
        return self.folder / f"{self.id}.thumb.png"

    @property
    def record(self) -> Path:
        return self.folder / f"{self.id}.json"

    def files(self) -> tuple[Path, Path, Path]:
        """Record first: removing in this order uncommits the entry before its pictures go."""
        return self.record, self.picture, self.thumbnail


class History:
    """The history folder. `entries()` lists it newest first."""

    def __init__(
        self, folder: Path | None = None, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES
    ) -> None:
        self.folder = folder if folder is not None else paths.data_dir() / "history"
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def add(self, image: Image.Image, settings: Mapping[str, Any], name: str) -> Entry:
        """Keep `image` with `settings` (values JSON cannot hold are converted or dropped), then prune.
        A disk that cannot take it raises a StorageError and leaves nothing of the entry behind."""
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        entry = Entry(
            f"{stamp}-{secrets.token_hex(3)}", now, name, rgb.size, json_safe(settings), self.folder
        )
        record = {"format": FORMAT, "id": entry.id, "time": now, "name": name, "size": list(rgb.size)}
        payload = json.dumps({**record, "settings": entry.settings}, allow_nan=False, ensure_ascii=False)
        try:
            with atomic_path(entry.picture) as tmp:
                rgb.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            with atomic_path(entry.thumbnail) as tmp:
                _thumbnail(rgb).save(tmp, format="PNG")
            with atomic_path(entry.record) as tmp:
                tmp.write_text(payload, encoding="utf-8")
        except BaseException:
            with contextlib.suppress(StorageError):
                _unlink(entry.files())
            raise
        self._prune()
        return replace(entry, disk_bytes=sum(_size(path) for path in entry.files()))

    def entries(self) -> list[Entry]:
        """Every whole entry, newest first. A damaged one (a record that cannot be read, or whose picture
        or thumbnail is missing) is removed, and so are files without a record once ORPHAN_AGE_S old."""
        try:
            found = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(os_error_message(exc, self.folder, "read")) from exc
        by_id: dict[str, dict[str, os.DirEntry[str]]] = {}
        for item in found:  # ".<name>.<pid>.<random>.part", a write in progress or cut short, has id ""
            by_id.setdefault(item.name.split(".")[0], {})[item.name] = item
        entries: list[Entry] = []
        for entry_id, files in by_id.items():
            entry = _read_record(self.folder, entry_id) if f"{entry_id}.json" in files else None
            if entry is not None and {entry.picture.name, entry.thumbnail.name} <= files.keys():
                entries.append(replace(entry, disk_bytes=sum(map(_size, files.values()))))
            elif f"{entry_id}.json" in files:
                log.warning("removing the damaged history entry %s", entry_id)
                self._clean([Path(f.path) for f in files.values()])
            else:
                self._clean([Path(f.path) for f in files.values() if _age(f) > ORPHAN_AGE_S])
        return sorted(entries, key=lambda e: (e.time, e.id), reverse=True)

    def load(self, entry: Entry) -> Image.Image:
        """The entry's picture exactly as it was added. One gone or damaged is removed from the history,
        and an ImageError says so."""
        try:
            return load_image(entry.picture)
        except ImageError:
            self._clean(list(entry.files()))
            when = time.strftime("%d %b %H:%M", time.localtime(entry.time))
            raise ImageError(
                f"The result “{entry.name}” of {when} is missing or damaged in {self.folder}: it has been "
                "removed from the history."
            ) from None

    def remove(self, entry: Entry) -> None:
        _unlink(entry.files())

    def _prune(self) -> None:
        """Remove, oldest first, the entries beyond either bound; the newest always stays."""
        count = total = 0
        for entry in self.entries():
            count, total = count + 1, total + entry.disk_bytes
            if count > 1 and (count > self.max_entries or total > self.max_bytes):
                try:
                    self.remove(entry)
                except StorageError as exc:  # the new entry is kept all the same; pruning goes on next add
                    log.warning("could not prune %s from the history: %s", entry.id, exc)

    @staticmethod
    def _clean(files: list[Path]) -> None:
        """Tidying while reading: a file that will not go is left for next time, never an error."""
        try:
            _unlink(files)
        except StorageError as exc:
            log.warning("%s", exc)


def json_safe(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` as JSON holds them: paths as text, enums as their values, tuples and sets as lists,
    non-finite numbers as text ("nan"); values with no JSON form (a tensor, a picture) are dropped."""
    safe = _json_value(settings)
    assert isinstance(safe, dict)
    return safe


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return _json_value(value.value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        items = ((str(k.value if isinstance(k, Enum) else k), _json_value(v)) for k, v in value.items())
        return {k: v for k, v in items if v is not _DROPPED}
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in map(_json_value, value) if v is not _DROPPED]
    return _DROPPED


def _read_record(folder: Path, entry_id: str) -> Entry | None:
    """The entry a record describes, or None when it cannot be read or is not one of ours."""
    try:
        record = json.loads((folder / f"{entry_id}.json").read_text(encoding="utf-8"))
        width, height = record["size"]
        entry = Entry(
            record["id"],
            float(record["time"]),
            record["name"],
            (int(width), int(height)),
            record["settings"],
            folder,
        )
    except (OSError, ValueError, KeyError, TypeError):  # JSON and UTF-8 errors are ValueErrors
        return None
    valid = entry.id == entry_id and isinstance(entry.name, str) and isinstance(entry.settings, dict)
    return entry if valid else None


def _thumbnail(image: Image.Image) -> Image.Image:
    """`image` scaled down to THUMBNAIL_SIDE on its long side (never up)."""
    scale = min(1.0, THUMBNAIL_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _unlink(files: tuple[Path, ...] | list[Path]) -> None:
    """Remove every one of `files` that exists; the first that will not go is a StorageError."""
    failed: OSError | None = None
    for path in files:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            failed = failed or exc
    if failed is not None:
        raise StorageError(os_error_message(failed, failed.filename, "remove")) from failed


def _size(item: Path | os.DirEntry[str]) -> int:
    try:
        return item.stat().st_size
    except OSError:  # removed meanwhile
        return 0


def _age(item: os.DirEntry[str]) -> float:
    try:
        return time.time() - item.stat().st_mtime
    except OSError:
        return 0.0
