"""What every command shares: the terminal progress bar and writing a job's picture."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from core.images import save_gif, save_image
from core.jobs import Event, ImageResult, Job, Message, Outcome, Progress, R, run_job

DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


class TerminalProgress:
    """Turns job events into one tqdm bar on stderr, titled with the current stage."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: tqdm[Any] | None = None

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, Progress):
            if self._bar is None:
                self._bar = tqdm(total=event.total, unit="step", file=sys.stderr)
            self._bar.set_description(event.stage, refresh=False)
            self._bar.total = event.total  # a job's stages may count different things
            self._bar.n = event.step
            if event.losses:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in event.losses.items()}, refresh=False)
            self._bar.refresh()
        elif isinstance(event, Message):
            tqdm.write(event.text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_with_progress(job: Job[R], quiet: bool) -> Outcome[R]:
    progress = TerminalProgress(quiet)
    try:
        return run_job(job, progress)
    finally:
        progress.close()


def run_image_job(job: Job[ImageResult], output: Path, quiet: bool) -> int:
    outcome = run_with_progress(job, quiet)
    if outcome.result is None:
        return 130
    save_image(outcome.result.image, output, outcome.result.settings)
    if not quiet:
        print(output)
    return 0


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def report_result(outcome: Outcome[Any], quiet: bool) -> int:
    """Print what a job wrote (unless quiet); the exit status is 130 when it was cancelled."""
    if outcome.result is not None and not quiet:
        print(outcome.result)
    return 130 if outcome.cancelled else 0


def save_samples(images: Sequence[Image.Image], sheet: ImageResult, folder: Path, quiet: bool) -> int:
    """One PNG per sample and the grid as grid.png in `folder`, each with the settings in its metadata."""
    for index, image in enumerate(images):
        save_image(image, folder / f"sample-{index:03d}.png", {**sheet.settings, "index": index})
    save_image(sheet.image, folder / "grid.png", sheet.settings)
    if not quiet:
        print(folder / "grid.png")
    return 0


def save_frames(frames: Sequence[Image.Image], strip: ImageResult, output: Path, quiet: bool) -> int:
    """An interpolation as an animation when `output` is a .gif, else the strip as one picture."""
    if output.suffix.lower() == ".gif":
        save_gif(frames, output)
    else:
        save_image(strip.image, output, strip.settings)
    if not quiet:
        print(output)
    return 0
