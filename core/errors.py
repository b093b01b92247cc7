"""Errors a person can act on.

Anything raised as a `UserError` carries a message meant for the artist, shown as is by the window and
the CLI (no traceback). Any other exception is a bug: front ends log its traceback and show a short note.
"""

import errno
import os
import re

from core import paths


class UserError(Exception):
    """A problem with the input or the environment, explained in words the user can act on."""


class ImageError(UserError):
    """An image file that cannot be used: missing, not an image, damaged, too large or too small."""


class CheckpointError(UserError):
    """A checkpoint file that cannot be used: not ours, another model kind, a newer format, damaged."""


class DeviceError(UserError):
    """A compute device that was asked for but is not available, or ran out of memory."""


class StorageError(UserError):
    """A file that cannot be written or read because of the disk: full, read-only, no permission..."""


# For a .pth/.pt the user chose that torch's safe loader refuses (a pickle with code, or not weights at
# all): our words, never torch's, which advise turning its safety check off and so running that code.
UNSAFE_WEIGHTS = (
    "{name} is not a readable PyTorch weights file, or not a safe one (it may hold program code, which "
    "is never run): choose a torchvision {what} .pth state dict or a .safetensors file."
)

# What the artist can do about each OS error; anything else is described by the OS's own words.
_CAUSES = {
    errno.ENOSPC: "the disk is full: free some space or choose another folder",
    errno.EDQUOT: "your disk quota is used up: free some space or choose another folder",
    errno.EROFS: "the disk is read-only: choose another folder",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "permission denied: choose a folder you can write to",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter name or folder",
    errno.ENOENT: "it (or its folder) no longer exists",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
}
# Libraries written in Rust (safetensors) report an OS error only in their text: "... (os error 28)".
_OS_ERROR_IN_TEXT = re.compile(r"os error (\d+)")


def os_errno(exc: BaseException) -> int | None:
    """The OS error number behind `exc`: an OSError's own, or one a library quotes in its message."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    found = _OS_ERROR_IN_TEXT.search(str(exc))
    return int(found.group(1)) if found else None


def os_error_message(
    exc: BaseException, path: str | os.PathLike[str] | None = None, verb: str = "use"
) -> str:
    """One line naming the file and the cause: "Cannot write out.png: the disk is full: free ..."."""
    number = os_errno(exc)
    name = path if path is not None else getattr(exc, "filename", None)
    strerror = getattr(exc, "strerror", None) or (os.strerror(number) if number is not None else str(exc))
    cause = _CAUSES.get(number, strerror) if number is not None else strerror
    return f"Cannot {verb} {name}: {cause}." if name else f"{cause[0].upper()}{cause[1:]}."


def user_message(exc: BaseException) -> str:
    """The sentence a front end shows for `exc`: its own words for a UserError, a short note otherwise."""
    if isinstance(exc, UserError):
        return str(exc)
    text = str(exc).lower()
    # torch.cuda.OutOfMemoryError / torch.OutOfMemoryError, matched by name so this module needs no torch.
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text:
        return (
            "Out of GPU memory: lower the image size or the tile size, or switch the device to CPU, "
            "then try again."
        )
    # torch's CPU allocator raises RuntimeError("... can't allocate memory ..."), numpy a MemoryError.
    if isinstance(exc, MemoryError) or "can't allocate memory" in text:
        return (
            "Out of memory: lower the image size or the tile size, or close other programs, then try again."
        )
    if isinstance(exc, OSError):
        return os_error_message(exc)
    return f"Unexpected error ({type(exc).__name__}: {exc}). Details are in {paths.log_file()}."
