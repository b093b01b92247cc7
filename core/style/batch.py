"""Batch stylization: one job that runs a per-picture job over a folder, with overall progress."""

import os
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from core.errors import ImageError, UserError
from core.files import prepare_output
from core.images import PICTURE, load_image, save_image, scan_images
from core.jobs import Event, ImageResult, Job, JobContext, Progress, run_job
from core.safety import check_output_folder, require_suffix

STEPS_PER_PICTURE = 1000  # resolution of the overall progress bar within one picture


@dataclass
class BatchResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable inputs and why


def output_names(pictures: Sequence[Path], suffix: str) -> list[str]:
    """One distinct output file name per picture, compared without case (macOS and Windows folders ignore
    it). A picture keeps its stem (photo.jpg -> photo.png). Pictures that share a stem but not a type keep
    their source's type in the name: a.jpg and a.png give "a-jpg.png" and "a-png.png". Not "a.jpg.png": a
    file manager that hides known suffixes would show that PNG as "a.jpg", and some tools take the double
    suffix for the type. A name still shared (p.jpg in two subfolders) gets -2, -3... in the pictures'
    order: p.png, p-2.png."""
    groups: dict[str, set[str]] = {}
    for p in pictures:
        groups.setdefault(p.stem.casefold(), set()).add(p.suffix.lower())
    wanted = [
        f"{p.stem}-{p.suffix.removeprefix('.').lower()}" if len(groups[p.stem.casefold()]) > 1 else p.stem
        for p in pictures
    ]
    counts = Counter(w.casefold() for w in wanted)
    taken = {w.casefold() for w in wanted if counts[w.casefold()] == 1}
    names: list[str] = []
    for want in wanted:
        name, number = want, 1
        if counts[want.casefold()] > 1:
            while name.casefold() in taken:
                number += 1
                name = f"{want}-{number}"
            taken.add(name.casefold())
        names.append(f"{name}{suffix}")
    return names


class BatchJob:
    """Apply `make_job(picture)` to every image under `inputs` (a folder or a list of files), writing
    `<out_dir>/<name><suffix>`, one distinct name per picture (`output_names`). It never replaces a file
    already in `out_dir` (an earlier run's results): the new result then gets the first free name of
    -2, -3..., so the artist keeps both. Unreadable pictures are skipped and reported, never fatal."""

    title = "Stylize a folder"

    def __init__(
        self,
        inputs: str | os.PathLike[str] | list[Path],
        out_dir: str | os.PathLike[str],
        make_job: Callable[[Image.Image], Job[ImageResult]],
        suffix: str = ".png",
        *,
        other_inputs: Collection[Path] = (),
    ) -> None:
        """Refuses, before any work, an output folder that is the input folder or would take a result
        over any input: a picture, or one of `other_inputs` (the styles, the network)."""
        self.skipped: list[tuple[Path, str]] = []
        if isinstance(inputs, list):
            self.pictures = inputs
        else:
            scan = scan_images(inputs)
            self.pictures, self.skipped = scan.images, scan.skipped
        if not self.pictures:
            raise UserError(f"{Path(str(inputs)).name} holds no pictures this app can read.")
        self.out_dir, self.make_job, self.suffix = Path(out_dir), make_job, suffix
        self.targets = [self.out_dir / name for name in output_names(self.pictures, suffix)]
        require_suffix(self.targets[0], PICTURE)
        sources = [*self.pictures, *other_inputs]
        if not isinstance(inputs, list):
            sources.append(Path(inputs))
        check_output_folder(self.out_dir, self.targets, sources)
        prepare_output(self.targets[0])

    def _free_target(self, index: int) -> Path:
        """The planned name of picture `index`, or, when a file of that name exists (an earlier run's, or
        anyone's), the first of -2, -3... that neither exists nor is planned for another picture."""
        planned = self.targets[index]
        others = {t.name.casefold() for t in self.targets} - {planned.name.casefold()}
        target, number = planned, 1
        while target.exists() or target.name.casefold() in others:
            number += 1
            target = planned.with_name(f"{planned.stem}-{number}{planned.suffix}")
        return target

    def run(self, ctx: JobContext) -> BatchResult:
        result = BatchResult(skipped=list(self.skipped))
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
            target = self._free_target(index)
            if target != self.targets[index]:
                ctx.message(f"{self.targets[index].name} is already there: kept it, wrote {target.name}")
            save_image(outcome.result.image, target, {**outcome.result.settings, "source": path.name})
            result.written.append(target)
            if outcome.cancelled:
                return result
        ctx.progress(count * STEPS_PER_PICTURE, count * STEPS_PER_PICTURE)
        return result
