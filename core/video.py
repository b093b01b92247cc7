"""Frames in: the frames of an animated GIF, a video or a folder of pictures, torch-free.

Videos are decoded with PyAV (its wheels bundle FFmpeg, so every common container and codec reads the
same on every platform); GIFs with Pillow, each frame composed as a viewer shows it. Every frame comes
out as an upright 8-bit RGB picture; a file that is not what it claims, has no frames or frames too large
is one `ImageError` that says so.
"""

import re
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageSequence

from core.errors import ImageError
from core.images import MAX_PIXELS, load_image, scan_images

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
GIF_SUFFIX = ".gif"
MAX_FRAMES = 10_000  # per file: about 7 minutes at 25 frames/s; a longer film is not one sequence


def is_animation(path: Path) -> bool:
    """Whether `path` is named as a GIF or a video: a file read as a sequence of frames."""
    return path.suffix.lower() in VIDEO_SUFFIXES | {GIF_SUFFIX}


def natural_key(path: Path) -> list[int | str]:
    """Sort key for frame names: frame2 before frame10 ("frame", 2) < ("frame", 10), as file managers do."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def folder_frames(folder: Path) -> list[Path]:
    """The pictures directly in `folder`, in name order (natural: frame9 before frame10)."""
    pictures = [p for p in scan_images(folder).images if p.parent == folder]
    return sorted(pictures, key=natural_key)


def read_frames(path: Path, max_frames: int = MAX_FRAMES) -> Iterator[Image.Image]:
    """The frames of a GIF, a video, or a folder of pictures (in name order), as RGB pictures, at most
    `max_frames` of them. Yields lazily: a caller that shrinks each frame holds one full-size frame at a
    time."""
    path = Path(path)
    if path.is_dir():
        for file in folder_frames(path)[:max_frames]:
            yield load_image(file, min_side=1)
    elif not path.exists():
        raise ImageError(f"{path} does not exist.")
    elif path.suffix.lower() == GIF_SUFFIX:
        yield from _gif_frames(path, max_frames)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video_frames(path, max_frames)
    else:
        raise ImageError(
            f"{path.name} is not a sequence: give a folder of frames, an animated GIF or a video "
            f"({', '.join(sorted(VIDEO_SUFFIXES))})."
        )


def _gif_frames(path: Path, max_frames: int) -> Iterator[Image.Image]:
    try:
        with Image.open(path) as gif:
            if gif.width * gif.height > MAX_PIXELS:
                raise ImageError(f"{path.name} is {gif.width} x {gif.height} px: too large to read.")
            for index, frame in enumerate(ImageSequence.Iterator(gif)):
                if index == max_frames:
                    break
                yield frame.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path.name} is not a readable GIF ({exc}).") from None


def _video_frames(path: Path, max_frames: int) -> Iterator[Image.Image]:
    import av  # loads FFmpeg's libraries: only when a video is read

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise ImageError(f"{path.name} is not a readable video ({_reason(exc)}).") from None
    with container:
        if not container.streams.video:
            raise ImageError(f"{path.name} has no video stream.")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > MAX_PIXELS:
            raise ImageError(f"{path.name} has frames of {width} x {height} px: too large to read.")
        count = 0
        try:
            for frame in container.decode(stream):
                if count == max_frames:
                    break
                yield frame.to_image()  # type: ignore[no-untyped-call]  # RGB24; PyAV leaves it untyped
                count += 1
        except av.error.FFmpegError as exc:
            if count == 0:
                raise ImageError(f"{path.name} is not a readable video ({_reason(exc)}).") from None
            # a damaged tail: the frames before it are good, as a player shows them
        if count == 0:
            raise ImageError(f"{path.name} has no frames.")


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)
