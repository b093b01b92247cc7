"""Where pretrained weights come from: one chain of sources, tried in order, shared by every network.

A chain is data, a list of `Source`s (a file the user chose, the app's cache, an offline package, a
download), built by the helpers below; `first_available` tries them in order and the first that delivers
wins, naming itself in `Found.source` for the UI and the CLI. A source that is absent or fails in a way
the next one can make up for (a package not installed, a download without a network) adds why to the
final error, which lists every reason and then says how to fix it. Any other error (a chosen file that is
damaged) stops the chain: random weights, or weights the user did not ask for, are never a fallback.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from core.errors import UserError

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[int, int | None], None]


class Unavailable(Exception):
    """Raised by a source's `load` that could not deliver (a failed download): the chain goes on to the
    next source, and the reason, the exception's text, joins the final error."""


@dataclass(frozen=True)
class Source(Generic[T]):
    """One place weights may come from."""

    name: str  # the result's source, in words: "VGG19 downloaded from torchvision"
    load: Callable[[], T | None]  # the weights, or None where this source is absent
    absent: str | None = None  # why the final error passes over it when absent; None: no word (a cache)


@dataclass(frozen=True)
class Found(Generic[T]):
    weights: T
    source: str  # the `name` of the source that delivered


def first_available(
    sources: Iterable[Source[T]], *, error: type[UserError], headline: str, remedy: str
) -> Found[T]:
    """The weights of the first source that delivers; else `error("<headline>: <why each failed>.
    <remedy>")`."""
    tried: list[str] = []
    for source in sources:
        try:
            weights = source.load()
        except Unavailable as exc:
            tried.append(str(exc))
            continue
        if weights is not None:
            return Found(weights, source.name)
        if source.absent is not None:
            tried.append(source.absent)
    raise error(f"{headline}: " + "; ".join(reason.rstrip(".") for reason in tried) + f". {remedy}")


def chosen_file(path: Path, read: Callable[[Path], T]) -> Source[T]:
    """The file the user chose: `read` raises when it is missing or unusable, which ends the chain."""
    return Source(f"your weights file {path}", lambda: read(path))


def cached(name: str, path: Path, read: Callable[[Path], T]) -> Source[T]:
    """A file in the app's cache; a damaged one is logged and passed over (a later source rebuilds it)."""

    def load() -> T | None:
        if not path.is_file():
            return None
        try:
            return read(path)
        except UserError as exc:
            log.warning("ignoring damaged cache file %s: %s", path.name, exc)
            return None

    return Source(name, load)


def offline_package(
    name: str,
    package: str,
    find: Callable[[], Path | None],
    read: Callable[[Path], T],
    save: Callable[[T], None],
) -> Source[T]:
    """A file inside an installed Python package (`find` returns None when it is not installed), read and
    saved into the cache once."""

    def load() -> T | None:
        path = find()
        if path is None:
            return None
        weights = read(path)
        save(weights)
        return weights

    return Source(name, load, absent=f"the offline package {package} is not installed")


def download(
    name: str,
    url: str,
    folder: Path,
    *,
    sha256_prefix: str,
    read: Callable[[Path], T],
    save: Callable[[T], None],
    allowed: bool = True,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Source[T]:
    """`url` downloaded into `folder` (resumable, checked against `sha256_prefix`, see `core.download`),
    read, saved into the cache, and the downloaded file deleted: the cache's copy replaces the pickle."""

    def load() -> T:
        from core.download import DownloadError
        from core.download import download as fetch

        try:
            path = fetch(
                url,
                folder / url.rsplit("/", 1)[-1],
                sha256_prefix=sha256_prefix,
                progress=progress,
                should_stop=should_stop,
            )
        except DownloadError as exc:
            raise Unavailable(str(exc)) from exc
        weights = read(path)
        save(weights)
        path.unlink()
        return weights

    if not allowed:
        return Source(name, lambda: None, absent="downloading was not allowed")
    return Source(name, load)
