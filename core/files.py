"""Writing files safely: atomic replacement, the user's permissions, clear disk errors, no litter.

Every file the app writes goes through `atomic_path`: a reader sees the old file or the new one, never
half of either. Its temporary file `.<name>.<pid>.<random>.part` names the process that writes it, so a
later save of the same file removes what a killed process (kill -9, power cut) left behind, and never the
temporary file of a save still running in another process.
"""

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import StorageError, os_errno, os_error_message

PART_SUFFIX = ".part"


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename.

    The temporary file lives in the same folder so the final `os.replace` never crosses file systems
    (where it would stop being atomic). On any exception the temporary file is removed and `target` is
    left exactly as it was; an OS error (no space, read-only, ...) becomes a StorageError naming `target`.
    """
    target = Path(target)
    tmp = _new_part(target)
    mode = stat.S_IMODE(tmp.stat().st_mode)  # the user's umask applied
    try:
        yield tmp
        os.chmod(tmp, mode)  # some writers (safetensors) replace the file with a private one of their own
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())  # the data is on disk before the rename makes it visible
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if os_errno(exc) is not None and not isinstance(exc, StorageError):
            raise StorageError(os_error_message(exc, target, "write")) from exc
        raise


def prepare_output(target: str | os.PathLike[str]) -> None:
    """Before a job writes `target`: its folder exists and takes a new file of that name (else one clear
    StorageError, before any work), and temporary files of earlier, interrupted saves are swept."""
    _new_part(Path(target)).unlink()


def require_room(target: str | os.PathLike[str], size: int) -> None:
    """Refuse to start when the disk of `target` has less than `size` bytes free (one checkpoint)."""
    free = shutil.disk_usage(Path(target).parent).free
    if free < size:
        raise StorageError(
            f"Cannot write {target}: the disk has {free / 1e6:,.1f} MB free and one checkpoint needs "
            f"{size / 1e6:,.1f} MB: free some space or choose another folder."
        )


def sweep_parts(target: Path) -> None:
    """Remove temporary files of saves of `target` whose process has ended."""
    for part in target.parent.glob(f".{target.name}.*{PART_SUFFIX}"):
        pid = part.name.removeprefix(f".{target.name}.").split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            part.unlink(missing_ok=True)


def _new_part(target: Path) -> Path:
    """Create the (empty) temporary file for a save of `target`, with the user's umask permissions (unlike
    tempfile.mkstemp's 0600, which would leave every saved picture private)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{PART_SUFFIX}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_parts(target)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise StorageError(os_error_message(exc, target, "write")) from exc
    return tmp


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # maybe another thread's save in progress
    if os.name == "nt":
        return False  # os.kill would terminate it there; one app writes one file at a time
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
