"""The Sequence studio's jobs for the window and the CLI: sample, reconstruct and evaluate with a trained
DRAW (core.sequence.draw_inference); continue a sequence and evaluate with a ConvLSTM forecaster
(core.sequence.forecast_inference). The picture jobs keep their frames as `frames` (a drawing's glimpses,
or a sequence and its continuation): what the window's canvas plays and its slider scrubs through, and
what `core.images.save_gif` animates."""

import math
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from core.checkpoints import model_name
from core.data import open_data_set
from core.devices import pick_device
from core.images import grid, to_pil
from core.jobs import ImageResult, JobContext
from core.sequence import forecast_inference
from core.sequence.draw_inference import (
    as_seen,
    evaluate_draw,
    load_draw,
    reconstruct_drawing,
    sample_drawings,
)
from core.sequence.forecast_inference import continue_frames, evaluate_forecaster, load_forecaster
from core.sequence.sequences import moving_fashion_mnist, read_clips
from core.sequence.settings import MOVING_FASHION_MNIST


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


class ContinueSequenceJob:
    """The frames a ConvLSTM predicts after a sequence's last frames (`continue_frames`). The result is a
    strip: the frames read on the first row, the predicted ones below; after `run`, `frames` holds the
    animation (the frames read, then the predicted ones) and `predicted` the new frames alone."""

    title = "Continue a sequence"

    def __init__(
        self, path: Path, frames: Iterable[Image.Image] | Callable[[], Iterable[Image.Image]], count: int = 10
    ) -> None:
        self.path, self.given, self.count = Path(path), frames, count  # `given`: read on the job's thread
        self.frames: list[Image.Image] = []
        self.predicted: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Reading the frames")
        loaded = load_forecaster(self.path)
        # Only the last frames the model reads are kept: a long video is not held whole.
        given = list(deque(self.given() if callable(self.given) else self.given, loaded.config.input_frames))
        ctx.progress(0, 1, stage="Predicting")
        seen = forecast_inference.as_seen(loaded, given)
        self.predicted = continue_frames(loaded, given, self.count)
        self.frames = seen + self.predicted
        columns = max(len(seen), len(self.predicted))
        blank = Image.new("RGB", seen[0].size, "white")
        strip = grid(seen + [blank] * (columns - len(seen)) + self.predicted, columns)
        ctx.progress(1, 1, stage="Predicting")
        return ImageResult(strip, _settings("continue-sequence", self.path, frames=self.count))


class ForecastEvaluateJob:
    """Per-frame MSE and SSIM of a forecaster's predictions beside copying the last frame
    (`evaluate_forecaster`): on Moving Fashion-MNIST's fixed held-out sequences, or on a folder's
    sequences (the first window of each)."""

    title = "Evaluate a sequence model"

    def __init__(self, path: Path, data_spec: str | Path, device: str | None = None) -> None:
        self.path, self.data_spec, self.device = Path(path), data_spec, device

    def run(self, ctx: JobContext) -> dict[str, list[float]]:
        ctx.progress(0, 2, stage="Reading the sequences")
        config = load_forecaster(self.path).config
        if str(self.data_spec) == MOVING_FASHION_MNIST:
            sequences = moving_fashion_mnist("test").held_out(config.frames)
        else:
            clips = read_clips(Path(self.data_spec), config.size, config.frames, report=ctx.message)
            sequences = clips.held_out(config.frames, len(clips.clips))
        ctx.progress(1, 2, stage=f"Evaluating on {len(sequences)} sequences")
        result = evaluate_forecaster(self.path, sequences, device=pick_device(self.device), check=ctx.check)
        ctx.progress(2, 2, stage=f"Evaluating on {len(sequences)} sequences")
        return result
