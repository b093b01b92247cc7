"""Batch stylization: one job that runs a per-picture job over a folder, with overall progress."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from core.errors import ImageError, UserError
from core.images import list_images, load_image, save_image
from core.jobs import Event, ImageResult, Job, JobContext, Progress, run_job

STEPS_PER_PICTURE = 1000  # resolution of the overall progress bar within one picture


@dataclass
class BatchResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable inputs and why


class BatchJob:
    """Apply `make_job(picture)` to every image under `inputs` (a folder or a list of files), writing
    `<out_dir>/<name><suffix>`. Unreadable pictures are skipped and reported, never fatal."""

    title = "Stylize a folder"

    def __init__(
        self,
        inputs: str | os.PathLike[str] | list[Path],
        out_dir: str | os.PathLike[str],
        make_job: Callable[[Image.Image], Job[ImageResult]],
        suffix: str = ".png",
    ) -> None:
        self.pictures = list_images(inputs) if not isinstance(inputs, list) else inputs
        if not self.pictures:
            raise UserError(f"{Path(str(inputs)).name} holds no pictures this app can read.")
        self.out_dir, self.make_job, self.suffix = Path(out_dir), make_job, suffix

    def run(self, ctx: JobContext) -> BatchResult:
        result = BatchResult()
        count = len(self.pictures)
        for index, path in enumerate(self.pictures):
            ctx.check()
            try:
                picture = load_image(path)
            except ImageError as exc:
                result.skipped.append((path, str(exc)))
                ctx.message(f"Skipped {path.name}: {exc}")
                continue

            def forward(event: Event, index: int = index, name: str = path.name) -> None:
                if isinstance(event, Progress):
                    done = index * STEPS_PER_PICTURE + event.step * STEPS_PER_PICTURE // max(1, event.total)
                    label = f"Picture {index + 1} of {count} ({name})"
                    stage = f"{label} · {event.stage}" if event.stage else label
                    ctx.progress(done, count * STEPS_PER_PICTURE, event.losses, stage)
                else:
                    ctx.emit(event)

            outcome = run_job(self.make_job(picture), forward, ctx.token)
            if outcome.result is None:
                return result  # cancelled before this picture had anything to keep
            target = self.out_dir / f"{path.stem}{self.suffix}"
            save_image(outcome.result.image, target, {**outcome.result.settings, "source": path.name})
            result.written.append(target)
            if outcome.cancelled:
                return result
        ctx.progress(count * STEPS_PER_PICTURE, count * STEPS_PER_PICTURE)
        return result
