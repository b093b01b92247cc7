"""Reconstruct, interpolate, sample and decode with a trained VAE (core.vae.inference) as jobs for the
window and the CLI."""

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from core.checkpoints import model_name
from core.images import grid, save_gif
from core.jobs import ImageResult, JobContext
from core.vae.inference import decode_with_offsets, interpolate, load_vae, reconstruct, sample
from core.vae.settings import Prior


def _settings(operation: str, path: Path, **extra: Any) -> dict[str, Any]:
    return {"operation": operation, "model": model_name(path), **extra}


class ReconstructJob:
    """A picture beside its reconstruction."""

    title = "Reconstruct with a VAE"

    def __init__(self, path: Path, image: Image.Image) -> None:
        self.path, self.image = Path(path), image

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Reconstructing")
        pair = reconstruct(self.path, self.image)
        ctx.progress(1, 1, stage="Reconstructing")
        return ImageResult(grid(pair, 2), _settings("vae-reconstruct", self.path))


class InterpolateJob:
    """A morph between two pictures as one strip; `frames` holds the frames, and with `gif` they are also
    written there as an animated GIF."""

    title = "Interpolate with a VAE"

    def __init__(
        self, path: Path, a: Image.Image, b: Image.Image, steps: int = 10, gif: Path | None = None
    ) -> None:
        self.path, self.a, self.b, self.steps, self.gif = Path(path), a, b, steps, gif
        self.frames: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Interpolating")
        self.frames = interpolate(self.path, self.a, self.b, self.steps)
        if self.gif is not None:
            save_gif(self.frames, self.gif)
        ctx.progress(1, 1, stage="Interpolating")
        return ImageResult(
            grid(self.frames, len(self.frames)), _settings("vae-interpolate", self.path, steps=self.steps)
        )


class SampleJob:
    """A grid of new pictures; `images` holds the single pictures once it has run. The settings name the
    prior the points came from: "standard" for a "fitted" request to a model without a density."""

    title = "Sample a VAE"

    def __init__(
        self, path: Path, n: int = 16, seed: int = 0, temperature: float = 1.0, prior: Prior = "fitted"
    ) -> None:
        self.path, self.n, self.seed, self.temperature = Path(path), n, seed, temperature
        self.prior = prior
        self.images: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Sampling")
        loaded = load_vae(self.path)
        self.images = sample(loaded, self.n, seed=self.seed, temperature=self.temperature, prior=self.prior)
        ctx.progress(1, 1, stage="Sampling")
        used = self.prior if loaded.density is not None else "standard"
        settings = _settings(
            "vae-sample", self.path, n=self.n, seed=self.seed, temperature=self.temperature, prior=used
        )
        return ImageResult(grid(self.images, math.ceil(math.sqrt(self.n))), settings)


class DecodeJob:
    """One decoded picture at a latent point moved along the slider dimensions (`decode_with_offsets`)."""

    title = "Explore a VAE's latent space"

    def __init__(
        self, path: Path, offsets: Mapping[int, float], image: Image.Image | None = None, seed: int = 0
    ) -> None:
        self.path, self.offsets, self.image, self.seed = Path(path), dict(offsets), image, seed

    def run(self, ctx: JobContext) -> ImageResult:
        picture = decode_with_offsets(self.path, self.offsets, image=self.image, seed=self.seed)
        offsets = {str(k): round(v, 3) for k, v in self.offsets.items() if v}
        return ImageResult(picture, _settings("vae-explore", self.path, seed=self.seed, offsets=offsets))
