"""Stylizing a folder gives every picture its own result and never replaces a file already there."""

from pathlib import Path

import numpy as np
from PIL import Image

from core.images import load_image, read_metadata
from core.jobs import ImageResult, JobContext, run_job
from core.style.batch import BatchJob, BatchResult, output_names


class Invert:
    """A stand-in for a stylization (no torch): the picture's negative."""

    title = "Invert"

    def __init__(self, picture: Image.Image) -> None:
        self.picture = picture

    def run(self, ctx: JobContext) -> ImageResult:
        pixels = 255 - np.asarray(self.picture)
        return ImageResult(Image.fromarray(pixels.astype(np.uint8)), {"operation": "invert"})


def picture(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), colour).save(path)
    return path


def stylize(folder: Path, out: Path) -> tuple[BatchResult, list[str]]:
    messages: list[str] = []
    job = BatchJob(folder, out, Invert)
    outcome = run_job(job, lambda e: messages.append(getattr(e, "text", "")))
    assert outcome.result is not None
    return outcome.result, [m for m in messages if m]


def colour_of(path: Path) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(load_image(path))[0, 0])


def test_same_stem_different_suffix_keeps_both_results(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    picture(folder / "a.jpg", (200, 0, 0))  # JPEG: close to, not exactly, this colour
    picture(folder / "a.png", (0, 200, 0))
    picture(folder / "b.jpg", (0, 0, 200))
    out = tmp_path / "photos stylized"
    result, _ = stylize(folder, out)
    assert sorted(p.name for p in out.iterdir()) == ["a-jpg.png", "a-png.png", "b.png"]
    assert sorted(p.name for p in result.written) == ["a-jpg.png", "a-png.png", "b.png"]
    assert read_metadata(out / "a-jpg.png")["source"] == "a.jpg"
    assert read_metadata(out / "a-png.png")["source"] == "a.png"
    assert colour_of(out / "a-png.png") == (255, 55, 255)  # each from its own picture
    assert abs(colour_of(out / "a-jpg.png")[0] - 55) < 10


def test_names_differ_without_regard_to_case_and_across_subfolders() -> None:
    pictures = [
        Path("A.JPG"),
        Path("a.png"),
        Path("x/p.jpg"),
        Path("y/p.jpg"),
        Path("q.png"),
        Path("z/a.jpg"),
    ]
    names = output_names(pictures, ".png")
    assert names == ["A-jpg.png", "a-png.png", "p.png", "p-2.png", "q.png", "a-jpg-2.png"]
    assert len({n.casefold() for n in names}) == len(names)
    # a numbered name never takes the name another picture has as its own
    assert output_names([Path("x/p.jpg"), Path("y/p.jpg"), Path("p-2.jpg")], ".webp") == [
        "p.webp",
        "p-3.webp",
        "p-2.webp",
    ]


def test_subfolder_pictures_of_one_name_all_get_written(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    picture(folder / "x" / "p.png", (10, 10, 10))
    picture(folder / "y" / "p.png", (20, 20, 20))
    out = tmp_path / "out"
    stylize(folder, out)
    assert sorted(p.name for p in out.iterdir()) == ["p-2.png", "p.png"]
    assert {colour_of(p) for p in out.iterdir()} == {(245, 245, 245), (235, 235, 235)}


def test_an_earlier_runs_results_are_kept_and_the_new_ones_get_new_names(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    picture(folder / "a.png", (0, 200, 0))
    picture(folder / "a-2.png", (0, 0, 200))  # a-2 is this picture's own name: the bump skips it
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "a.png"
    Image.new("RGB", (4, 4), "white").save(earlier)
    before = earlier.read_bytes()
    notes = out / "notes.txt"
    notes.write_text("mine")

    result, messages = stylize(folder, out)
    assert earlier.read_bytes() == before
    assert notes.read_text() == "mine"
    assert sorted(p.name for p in result.written) == ["a-2.png", "a-3.png"]
    assert read_metadata(out / "a-3.png")["source"] == "a.png"
    assert read_metadata(out / "a-2.png")["source"] == "a-2.png"
    assert messages == ["a.png is already there: kept it, wrote a-3.png"]

    first_run = {p.name: p.read_bytes() for p in out.iterdir()}
    again, _ = stylize(folder, out)  # the same batch once more: all of the first run stays
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in first_run} == first_run
    assert sorted(p.name for p in again.written) == ["a-2-2.png", "a-4.png"]
    assert len(list(out.iterdir())) == len(first_run) + 2
