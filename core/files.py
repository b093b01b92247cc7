"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename.

    The temporary file lives in the same folder so the final `os.replace` never crosses file systems
    (where it would stop being atomic). On any exception the temporary file is removed and `target` is
    left exactly as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())  # the data is on disk before the rename makes it visible
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
