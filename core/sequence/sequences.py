"""Image sequences for the ConvLSTM forecaster: the built-in Moving Fashion-MNIST, generated on the fly,
and the clips of a folder (one subfolder of frames per sequence, animated GIFs, videos).

Both draw the batch of a training step from a generator seeded with (seed + step) alone, as `ImageSet`
does, so a resumed run sees the very batches an uninterrupted one would. Batches are floats in [0, 1]
(B, T, C, S, S).

Moving Fashion-MNIST follows the Moving MNIST construction of Srivastava, Mansimov, Salakhutdinov 2015
with Fashion-MNIST's pictures: ITEMS 28 px pictures start at uniform positions in a 64 px frame, each
moves STEP_PX px a frame in a uniform direction and bounces off the frame's edges (so it always stays
whole inside), and the frame is the pixel-wise maximum of the items.
"""

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from core.checkpoints import read_info
from core.data import ImageSet, centre_square
from core.errors import ImageError, UserError
from core.images import scan_images
from core.sequence.settings import MOVING_FASHION_MNIST, MOVING_SIZE
from core.video import VIDEO_SUFFIXES, folder_frames, is_animation, read_frames

ITEMS = 2  # pictures moving in each sequence
STEP_PX = 3.6  # px per frame: Srivastava et al.'s step of 0.1 of the free range (64 - 28 = 36 px)
HELD_OUT = 1000  # held-out sequences: from Fashion-MNIST's test pictures, the same every time
HELD_OUT_SEED = 20_151_212  # a fixed seed of their own, apart from any run's
RENDER_CHUNK = 100  # sequences drawn at once: the scatter's index is 8 bytes per pixel of every item


@dataclass(frozen=True)
class MovingItems:
    """Sequences of `ITEMS` pictures of `items` (N, 1, s, s) uint8 moving and bouncing in a `size` px frame,
    generated for each batch."""

    items: Tensor
    size: int = MOVING_SIZE
    name: str = "Moving Fashion-MNIST"
    channels: int = 1

    def batch(
        self, step: int, batch_size: int, frames: int, *, seed: int = 0, device: torch.device | str = "cpu"
    ) -> Tensor:
        generator = torch.Generator().manual_seed(seed + step)
        return self.generate(batch_size, frames, generator).to(device).float().div_(255)

    def generate(self, count: int, frames: int, generator: torch.Generator) -> Tensor:
        """`count` sequences of `frames` frames, uint8 (count, frames, 1, size, size)."""
        return self._render(*self._paths(count, generator), frames)

    def held_out(self, frames: int, count: int = HELD_OUT) -> Tensor:
        """The first `count` of the fixed HELD_OUT sequences, uint8 (count, frames, 1, size, size): sequence i
        is the same whatever `count` and `frames` (a longer one goes on where a shorter one stops)."""
        chosen, start, velocity = self._paths(HELD_OUT, torch.Generator().manual_seed(HELD_OUT_SEED))
        parts = [
            self._render(
                chosen[i : i + RENDER_CHUNK],
                start[i : i + RENDER_CHUNK],
                velocity[i : i + RENDER_CHUNK],
                frames,
            )
            for i in range(0, min(count, HELD_OUT), RENDER_CHUNK)
        ]
        return torch.cat(parts)[:count]

    def _paths(self, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Which items each of `count` sequences moves (count, ITEMS), where they start (count, ITEMS, 2) in
        px and how they move (count, ITEMS, 2) in px per frame, (y, x)."""
        free = self.size - self.items.shape[-1]
        chosen = torch.randint(len(self.items), (count, ITEMS), generator=generator)
        start = torch.rand(count, ITEMS, 2, generator=generator, dtype=torch.float64) * free
        angle = torch.rand(count, ITEMS, generator=generator, dtype=torch.float64) * (2 * math.pi)
        return chosen, start, torch.stack([torch.sin(angle), torch.cos(angle)], -1) * STEP_PX

    def _render(self, chosen: Tensor, start: Tensor, velocity: Tensor, frames: int) -> Tensor:
        count, side = len(chosen), self.items.shape[-1]
        free = self.size - side
        # Bouncing is reflection in [0, free]: unfold the straight path onto a circle of length 2 * free.
        time = torch.arange(frames, dtype=torch.float64)[:, None]
        travelled = start[:, :, None] + velocity[:, :, None] * time  # (count, ITEMS, frames, 2)
        folded = torch.remainder(travelled, 2 * free)
        corner = torch.where(folded > free, 2 * free - folded, folded).round().long()
        # Each item's pixels scattered into the frame with a maximum: flat index of (sequence, frame, y, x).
        rows = torch.arange(side)
        y = corner[..., 0, None, None] + rows[:, None]  # (count, ITEMS, frames, side, 1)
        x = corner[..., 1, None, None] + rows[None, :]  # (count, ITEMS, frames, 1, side)
        sequence = torch.arange(count)[:, None, None, None, None]
        frame = torch.arange(frames)[None, None, :, None, None]
        index = ((sequence * frames + frame) * self.size + y) * self.size + x
        pixels = self.items[chosen, 0][:, :, None].expand(count, ITEMS, frames, side, side)
        canvas = torch.zeros(count * frames * self.size * self.size, dtype=torch.uint8)
        canvas.scatter_reduce_(0, index.flatten(), pixels.flatten(), "amax")
        return canvas.view(count, frames, 1, self.size, self.size)


def held_out_frames(index: int, frames: int) -> list[Image.Image]:
    """The first `frames` frames of Moving Fashion-MNIST's held-out sequence `index` (from 0), as pictures."""
    if not 0 <= index < HELD_OUT:
        raise UserError(f"The held-out sequences are numbered 0 to {HELD_OUT - 1}, not {index}.")
    sequence = moving_fashion_mnist("test").held_out(frames, index + 1)[index]
    return [Image.fromarray(frame[0].numpy()).convert("RGB") for frame in sequence]


def moving_fashion_mnist(split: str = "train") -> MovingItems:
    """Moving Fashion-MNIST from the `split`'s pictures: "train" for training, "test" for the held-out set."""
    return MovingItems(ImageSet.fashion_mnist(split).images)


@dataclass(frozen=True)
class Clips:
    """Sequences read from files, each clip uint8 (T_i, C, S, S)."""

    clips: tuple[Tensor, ...]
    name: str = ""

    @property
    def size(self) -> int:
        return int(self.clips[0].shape[-1])

    @property
    def channels(self) -> int:
        return int(self.clips[0].shape[1])

    def batch(
        self, step: int, batch_size: int, frames: int, *, seed: int = 0, device: torch.device | str = "cpu"
    ) -> Tensor:
        """Windows of `frames` consecutive frames, drawn uniformly (with replacement) from all the clips'."""
        counts = torch.tensor([len(clip) - frames + 1 for clip in self.clips]).clamp_(min=0)
        ends = counts.cumsum(0)  # window w lies in the first clip whose end is past it
        generator = torch.Generator().manual_seed(seed + step)
        picks = torch.randint(int(ends[-1]), (batch_size,), generator=generator)
        clips = torch.searchsorted(ends, picks, right=True)
        starts = picks - (ends[clips] - counts[clips])
        windows = [
            self.clips[c][s : s + frames] for c, s in zip(clips.tolist(), starts.tolist(), strict=True)
        ]
        return torch.stack(windows).to(device).float().div_(255)

    def held_out(self, frames: int, count: int = HELD_OUT) -> Tensor:
        """The first `frames` frames of each of the first `count` clips, uint8 (count, frames, C, S, S)."""
        return torch.stack([clip[:frames] for clip in self.clips[:count]])


Sequences = MovingItems | Clips


def frames_to_tensor(frames: Iterable[Image.Image], size: int, grey: bool) -> Tensor:
    """PIL frames -> uint8 (T, C, size, size), each frame's centre square, shrunk as it comes (a long video
    costs its small frames, not its full ones)."""
    mode = "L" if grey else "RGB"
    arrays = [np.asarray(centre_square(f.convert(mode), size)).reshape(size, size, -1) for f in frames]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def sequence_sources(folder: Path) -> list[Path]:
    """What a folder's sequences are: its subfolders that hold pictures, its GIFs and its videos, by name.
    A folder of loose pictures is refused: frames of one sequence belong in a subfolder of their own."""
    if not folder.is_dir():
        if folder.is_file() and is_animation(folder):
            return [folder]
        raise UserError(
            f"{folder} is not a folder of sequences: give a folder of animated GIFs or videos, or a folder "
            "with one subfolder of frames per sequence."
        )
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    sources = [p for p in entries if (p.is_file() and is_animation(p)) or (p.is_dir() and folder_frames(p))]
    if sources:
        return sources
    loose = [p for p in scan_images(folder).images if p.parent == folder]
    if loose:
        raise UserError(
            f"{folder.name} holds {len(loose)} single pictures, not sequences: put the frames of each "
            "sequence in a subfolder of their own (in name order), or use animated GIFs or videos "
            f"({', '.join(sorted(VIDEO_SUFFIXES))})."
        )
    raise UserError(
        f"{folder.name} has no sequences: no animated GIFs, videos, or subfolders of frames in it."
    )


def read_clip(source: Path, size: int, grey: bool) -> Tensor:
    """One sequence's frames at `size` px, uint8 (T, C, size, size). The frames of one sequence must all have
    one size (a frame of another size is a frame of another sequence)."""

    def one_size(frames: Iterator[Image.Image]) -> Iterator[Image.Image]:
        first = None
        for frame in frames:
            first = first or frame.size
            if frame.size != first:
                (w1, h1), (w2, h2) = first, frame.size
                raise UserError(
                    f"The frames of {source.name} differ in size ({w1} x {h1} and {w2} x {h2} px): every "
                    "frame of a sequence must have the same size."
                )
            yield frame

    return frames_to_tensor(one_size(read_frames(source)), size, grey)


def read_clips(
    folder: Path,
    size: int,
    min_frames: int,
    *,
    grey: bool | None = None,
    report: Callable[[str], None] | None = None,
) -> Clips:
    """The sequences of `folder` (`sequence_sources`) at `size` px, those shorter than `min_frames` left
    out and named through `report`; an error when none is long enough. Grey when `grey` says so or, by
    default, when every frame is."""
    sources = sequence_sources(folder)
    clips: list[tuple[Path, Tensor]] = []
    short: list[tuple[Path, Tensor]] = []
    unreadable: list[str] = []
    for source in sources:
        try:
            clip = read_clip(source, size, grey=bool(grey))
        except ImageError as exc:
            unreadable.append(f"{source.name} ({exc})")
            continue
        (clips if len(clip) >= min_frames else short).append((source, clip))
    if not clips:
        longest = max((len(clip) for _, clip in short), default=0)
        why = f"the longest has {longest} frames" if short else "none could be read: " + "; ".join(unreadable)
        raise UserError(
            f"No sequence in {folder.name} is long enough: training needs {min_frames} frames in a row "
            f"(those read and those predicted), and {why}. Use longer sequences, or fewer frames in and out."
        )
    if report is not None and (short or unreadable):
        left_out = [f"{p.name} ({len(c)} frames)" for p, c in short] + unreadable
        report(
            f"Left out {len(left_out)} sequence(s) shorter than {min_frames} frames or unreadable: "
            + ", ".join(left_out[:5])
            + (" …" if len(left_out) > 5 else "")
        )
    tensors = tuple(clip for _, clip in clips)
    if grey is None and all(_is_grey(t) for t in tensors):
        tensors = tuple(t[:, :1].contiguous() for t in tensors)
    return Clips(tensors, folder.name)


def _is_grey(clip: Tensor) -> bool:
    return bool((clip[:, 0] == clip[:, 1]).all() and (clip[:, 1] == clip[:, 2]).all())


def sequence_shape(resume: Path | None, size: int | None, frames: int) -> tuple[int, int]:
    """(frame size, frames per window) a run reads its sequences at: a resumed run's from its checkpoint,
    else the size asked for (MOVING_SIZE by default) and `frames`."""
    if resume is None:
        return size or MOVING_SIZE, frames
    config = read_info(resume).config
    return int(config["size"]), int(config["input_frames"]) + int(config["output_frames"])


def open_sequences(
    spec: str | Path, size: int, min_frames: int, *, report: Callable[[str], None] | None = None
) -> Sequences:
    """Sequences by the name a person gives them: "moving-fashion-mnist", a folder of sequences, or one
    GIF or video."""
    if str(spec) == MOVING_FASHION_MNIST:
        if size != MOVING_SIZE:
            raise UserError(
                f"Moving Fashion-MNIST is {MOVING_SIZE} px: train on it at {MOVING_SIZE} px, not {size}."
            )
        return moving_fashion_mnist()
    return read_clips(Path(spec), size, min_frames, report=report)
