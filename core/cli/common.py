"""What every command shares: the terminal progress bar, interrupts, checking and writing outputs."""

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from PIL import Image
from tqdm import tqdm

from core.images import save_gif, save_image
from core.jobs import CancelToken, Event, ImageResult, Job, Message, Outcome, Progress, R, run_job

DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"
GRID = "grid.png"  # beside the samples of sample-gan and sample-vae
CHECKPOINT_EVERY_HELP = "write a resumable checkpoint every this many {unit}"


class Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM act like Cancel in the window: the first asks the running job to stop
    at its next step (a training job then writes a resumable checkpoint of the step reached and says
    where); a second, or one outside a job, stops at once. The exit status is 128 + the signal's number:
    130 for SIGINT, 143 for SIGTERM."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.token: CancelToken | None = None  # the running job's, while one runs

    @property
    def status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # only the main thread receives signals (and may install handlers)
            return
        self.signum = None
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextmanager
    def job(self, token: CancelToken) -> Iterator[None]:
        self.token = token
        try:
            yield
        finally:
            self.token = None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        first = self.signum is None
        self.signum = signum
        if first and self.token is not None:
            self.token.cancel()  # no printing here: a signal may arrive in the middle of a print
        else:
            raise KeyboardInterrupt


INTERRUPTS = Interrupts()


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
    token = CancelToken()
    try:
        with INTERRUPTS.job(token):
            return run_job(job, progress, token)
    finally:
        progress.close()


def exit_status(outcome: Outcome[Any]) -> int:
    """0 for a job that ran to its end, else the status of the interrupt that stopped it."""
    return INTERRUPTS.status if outcome.cancelled else 0


def run_image_job(job: Job[ImageResult], output: Path, quiet: bool) -> int:
    """Run `job` and save its picture, also the latest one of an interrupted stylization."""
    outcome = run_with_progress(job, quiet)
    if outcome.result is None:
        return INTERRUPTS.status
    save_image(outcome.result.image, output, outcome.result.settings)
    if not quiet:
        print(output)
    return exit_status(outcome)


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def report_result(outcome: Outcome[Any], quiet: bool) -> int:
    """Print what a job wrote (unless quiet); the exit status says whether it was interrupted."""
    if outcome.result is not None and not quiet:
        print(outcome.result)
    return exit_status(outcome)


def save_samples(images: Sequence[Image.Image], sheet: ImageResult, folder: Path, quiet: bool) -> int:
    """One PNG per sample and the grid as grid.png in `folder`, each with the settings in its metadata."""
    for index, image in enumerate(images):
        save_image(image, folder / f"sample-{index:03d}.png", {**sheet.settings, "index": index})
    save_image(sheet.image, folder / GRID, sheet.settings)
    if not quiet:
        print(folder / GRID)
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
