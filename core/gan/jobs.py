"""Sample, interpolate and vary a trained GAN (core.gan.inference) as jobs for the window and the CLI."""

import math
from pathlib import Path

from PIL import Image

from core.checkpoints import model_name
from core.gan.inference import interpolate, sample, vary
from core.images import grid, save_gif
from core.jobs import ImageResult, JobContext


class SampleJob:
    """A grid of samples from a trained GAN; `images` holds the single pictures once it has run."""

    title = "Sample a GAN"

    def __init__(
        self, path: Path, n: int = 16, seed: int = 0, truncation: float = 1.0, class_name: str | None = None
    ) -> None:
        self.path, self.n, self.seed, self.truncation, self.class_name = (
            Path(path),
            n,
            seed,
            truncation,
            class_name,
        )
        self.images: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Sampling")
        self.images = sample(
            self.path, self.n, seed=self.seed, truncation=self.truncation, class_name=self.class_name
        )
        ctx.progress(1, 1, stage="Sampling")
        settings = {
            "operation": "gan-sample",
            "model": model_name(self.path),
            "n": self.n,
            "seed": self.seed,
            "truncation": self.truncation,
            "class": self.class_name,
        }
        return ImageResult(grid(self.images, math.ceil(math.sqrt(self.n))), settings)


class InterpolateJob:
    """An interpolation between two seeds as one strip; `frames` holds the frames, and with `gif` they are
    also written there as an animated GIF."""

    title = "Interpolate a GAN"

    def __init__(
        self,
        path: Path,
        steps: int,
        seed_a: int,
        seed_b: int,
        class_name: str | None = None,
        gif: Path | None = None,
    ) -> None:
        self.path, self.steps, self.seed_a, self.seed_b = Path(path), steps, seed_a, seed_b
        self.class_name, self.gif = class_name, gif
        self.frames: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Interpolating")
        self.frames = interpolate(
            self.path, self.steps, seed_a=self.seed_a, seed_b=self.seed_b, class_name=self.class_name
        )
        if self.gif is not None:
            save_gif(self.frames, self.gif)
        ctx.progress(1, 1, stage="Interpolating")
        settings = {
            "operation": "gan-interpolate",
            "model": model_name(self.path),
            "steps": self.steps,
            "seed_a": self.seed_a,
            "seed_b": self.seed_b,
            "class": self.class_name,
        }
        return ImageResult(grid(self.frames, len(self.frames)), settings)


class VaryJob:
    """A grid of variations around a pinned sample (`vary`); the pinned picture comes first."""

    title = "Vary a GAN sample"

    def __init__(
        self, path: Path, seed: int, n: int = 16, spread: float = 0.3, class_name: str | None = None
    ) -> None:
        self.path, self.seed, self.n, self.spread, self.class_name = Path(path), seed, n, spread, class_name

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Varying")
        images = vary(self.path, self.seed, self.n, self.spread, class_name=self.class_name)
        ctx.progress(1, 1, stage="Varying")
        settings = {
            "operation": "gan-vary",
            "model": model_name(self.path),
            "seed": self.seed,
            "spread": self.spread,
        }
        return ImageResult(grid(images, math.ceil(math.sqrt(self.n))), settings)
