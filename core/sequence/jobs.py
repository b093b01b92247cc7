"""Sample, reconstruct and evaluate with a trained DRAW (core.sequence.draw_inference) as jobs for the
window and the CLI. The picture jobs keep their drawing as `frames`, one picture per glimpse: what the
window's canvas plays and its slider scrubs through, and what `core.images.save_gif` animates."""

import math
from pathlib import Path
from typing import Any

from PIL import Image

from core.checkpoints import model_name
from core.data import open_data_set
from core.devices import pick_device
from core.images import grid, to_pil
from core.jobs import ImageResult, JobContext
from core.sequence.draw_inference import (
    as_seen,
    evaluate_draw,
    load_draw,
    reconstruct_drawing,
    sample_drawings,
)


def _settings(operation: str, path: Path, **extra: Any) -> dict[str, Any]:
    return {"operation": operation, "model": model_name(path), **extra}


class DrawSampleJob:
    """A grid of new drawings' finished pictures; after `run`, `drawings` holds each drawing's T canvases
    and `frames` T grids, frame t every drawing's canvas t (the last frame is the result)."""

    title = "Sample DRAW"

    def __init__(self, path: Path, n: int = 16, seed: int = 0) -> None:
        self.path, self.n, self.seed = Path(path), n, seed
        self.drawings: list[list[Image.Image]] = []
        self.frames: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Drawing")
        self.drawings = sample_drawings(self.path, self.n, self.seed, ctx.check)
        columns = math.ceil(math.sqrt(self.n))
        self.frames = [
            grid([drawing[t] for drawing in self.drawings], columns) for t in range(len(self.drawings[0]))
        ]
        ctx.progress(1, 1, stage="Drawing")
        return ImageResult(self.frames[-1], _settings("draw-sample", self.path, n=self.n, seed=self.seed))


class DrawReconstructJob:
    """A picture beside the network's redrawing of it; after `run`, `frames` holds T pairs, the picture
    beside canvas t."""

    title = "Redraw with DRAW"

    def __init__(self, path: Path, image: Image.Image) -> None:
        self.path, self.image = Path(path), image
        self.frames: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Redrawing")
        loaded = load_draw(self.path)
        seen = to_pil(as_seen(loaded, self.image))
        self.frames = [grid([seen, canvas], 2) for canvas in reconstruct_drawing(loaded, self.image)]
        ctx.progress(1, 1, stage="Redrawing")
        return ImageResult(self.frames[-1], _settings("draw-reconstruct", self.path))


class DrawEvaluateJob:
    """The negative ELBO of a data set (`evaluate_draw`): a folder (read whole), or the `split` of a built-in
    set (its test split by default)."""

    title = "Evaluate DRAW"

    def __init__(
        self, path: Path, data_spec: str | Path, device: str | None = None, *, split: str = "test"
    ) -> None:
        self.path, self.data_spec, self.device, self.split = Path(path), data_spec, device, split

    def run(self, ctx: JobContext) -> dict[str, float]:
        ctx.progress(0, 2, stage="Reading the data set")
        config = load_draw(self.path).config
        data = open_data_set(
            self.data_spec, config.size, grey=config.channels == 1, report=ctx.message, split=self.split
        )
        ctx.progress(1, 2, stage=f"Evaluating on {len(data)} images")
        result = evaluate_draw(self.path, data, device=pick_device(self.device), check=ctx.check)
        ctx.progress(2, 2, stage=f"Evaluating on {len(data)} images")
        return result
