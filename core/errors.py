"""Errors a person can act on.

Anything raised as a `UserError` carries a message meant for the artist, shown as is by the window and
the CLI (no traceback). Any other exception is a bug: front ends log its traceback and show a short note.
"""

from core import paths


class UserError(Exception):
    """A problem with the input or the environment, explained in words the user can act on."""


class ImageError(UserError):
    """An image file that cannot be used: missing, not an image, damaged, too large or too small."""


class CheckpointError(UserError):
    """A checkpoint file that cannot be used: not ours, another model kind, a newer format, damaged."""


class DeviceError(UserError):
    """A compute device that was asked for but is not available, or ran out of memory."""


def user_message(exc: BaseException) -> str:
    """The sentence a front end shows for `exc`: its own words for a UserError, a short note otherwise."""
    if isinstance(exc, UserError):
        return str(exc)
    # torch.cuda.OutOfMemoryError / torch.OutOfMemoryError, matched by name so this module needs no torch.
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return "Out of GPU memory: lower the image size or switch the device to CPU, then try again."
    if isinstance(exc, MemoryError):
        return "Out of memory: lower the image size or close other programs, then try again."
    return f"Unexpected error ({type(exc).__name__}: {exc}). Details are in {paths.log_file()}."
