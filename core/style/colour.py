"""Colour transfer: give a picture the colour statistics of another (the palette).

Three modes:

- ``reinhard``: Reinhard, Ashikhmin, Gooch, Shirley, "Color Transfer between Images" (2001). Pixels go to
  the decorrelated l-alpha-beta space (RGB -> LMS cone space -> log10 -> a fixed rotation), where each
  channel's mean and standard deviation are matched independently: x' = (x - mu_c) * sigma_p / sigma_c
  + mu_p.
- ``covariance``: match the full 3x3 RGB covariance with a linear map, x' = A (x - mu_c) + mu_p,
  A = Sigma_p^(1/2) Sigma_c^(-1/2) (symmetric square roots), as in Hertzmann's Image Analogies and the
  colour-histogram option of Gatys et al., "Preserving Color in Neural Artistic Style Transfer" (2016).
- ``luminance``: match only the l channel (brightness and contrast) and keep the picture's own colours.

The work goes in horizontal bands of about a megapixel, each a step of the job: memory stays bounded
on a 100 MP image, progress is smooth, and cancel takes effect within one band.
"""

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from PIL import Image

from core.errors import UserError
from core.images import from_array, to_array
from core.jobs import ImageResult, JobContext, run_job

ColourMode = Literal["reinhard", "covariance", "luminance"]
COLOUR_MODES: tuple[ColourMode, ...] = get_args(ColourMode)

BAND_PIXELS = 1 << 20
_EPS = 1e-6

# Reinhard et al. 2001, eq. 1 (RGB -> LMS), eq. 4 (log LMS -> l-alpha-beta) and their inverses.
_RGB_TO_LMS = np.array(
    [[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]], dtype=np.float32
)
_LMS_TO_RGB = np.linalg.inv(_RGB_TO_LMS).astype(np.float32)
_LOGLMS_TO_LAB = (
    np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])
).astype(np.float32)
_LAB_TO_LOGLMS = np.linalg.inv(_LOGLMS_TO_LAB).astype(np.float32)
_MIN_LMS = 1e-4  # log10 floor: pure black would be -inf


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> Reinhard's l-alpha-beta."""
    lms = np.maximum(rgb @ _RGB_TO_LMS.T, _MIN_LMS)
    lab: np.ndarray = np.log10(lms) @ _LOGLMS_TO_LAB.T
    return lab


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Inverse of `rgb_to_lab` (not clipped)."""
    lms = np.power(np.float32(10.0), lab @ _LAB_TO_LOGLMS.T)
    return lms @ _LMS_TO_RGB.T


@dataclass
class _Moments:
    """Running first and second moments of 3-channel pixels, in float64 so 100 MP sums stay exact."""

    count: int = 0
    total: np.ndarray = field(default_factory=lambda: np.zeros(3))
    outer: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))

    def add(self, pixels: np.ndarray) -> None:
        x = pixels.reshape(-1, 3).astype(np.float64)
        self.count += len(x)
        self.total += x.sum(axis=0)
        self.outer += x.T @ x

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count

    @property
    def cov(self) -> np.ndarray:
        return self.outer / self.count - np.outer(self.mean, self.mean)


def _sqrt_psd(matrix: np.ndarray, power: float) -> np.ndarray:
    """matrix ** power for a symmetric positive semi-definite matrix (eigenvalues floored at _EPS)."""
    values, vectors = np.linalg.eigh(matrix)
    result: np.ndarray = (vectors * np.maximum(values, _EPS) ** power) @ vectors.T
    return result


class ColourTransferJob:
    """Recolour `content` with the colour statistics of `palette`; `strength` blends with the original."""

    title = "Colour transfer"

    def __init__(
        self, content: Image.Image, palette: Image.Image, mode: ColourMode = "reinhard", strength: float = 1.0
    ) -> None:
        if mode not in COLOUR_MODES:
            raise UserError(f"Unknown colour mode '{mode}': choose one of {', '.join(COLOUR_MODES)}.")
        if not 0.0 <= strength <= 1.0:
            raise UserError(f"Strength must be between 0 and 1, not {strength}.")
        self.content, self.palette, self.mode, self.strength = content, palette, mode, strength

    def run(self, ctx: JobContext) -> ImageResult:
        content_bands = _bands(self.content)
        palette_bands = _bands(self.palette)
        total = 2 * len(content_bands) + len(palette_bands)
        step = 0

        def measure(image: Image.Image, bands: list[tuple[int, int]], stage: str) -> _Moments:
            nonlocal step
            moments = _Moments()
            for top, bottom in bands:
                ctx.check()
                moments.add(self._to_space(to_array(image.crop((0, top, image.width, bottom)))))
                step += 1
                ctx.progress(step, total, stage=stage)
            return moments

        source = measure(self.content, content_bands, "Measuring the picture's colours")
        target = measure(self.palette, palette_bands, "Measuring the palette's colours")
        matrix, offset = self._affine(source, target)

        out = np.empty((self.content.height, self.content.width, 3), dtype=np.uint8)
        for top, bottom in content_bands:
            ctx.check()
            rgb = to_array(self.content.crop((0, top, self.content.width, bottom)))
            moved = self._from_space(self._to_space(rgb) @ matrix.T + offset)
            blended = rgb + self.strength * (moved - rgb)
            out[top:bottom] = np.asarray(from_array(blended))
            step += 1
            ctx.progress(step, total, stage="Recolouring")
        return ImageResult(
            Image.fromarray(out, "RGB"),
            {"operation": "colour-transfer", "mode": self.mode, "strength": self.strength},
        )

    def _to_space(self, rgb: np.ndarray) -> np.ndarray:
        return rgb if self.mode == "covariance" else rgb_to_lab(rgb)

    def _from_space(self, values: np.ndarray) -> np.ndarray:
        return values if self.mode == "covariance" else lab_to_rgb(values)

    def _affine(self, source: _Moments, target: _Moments) -> tuple[np.ndarray, np.ndarray]:
        """The map x -> matrix @ x + offset that gives source pixels the target's statistics."""
        if self.mode == "covariance":
            matrix = _sqrt_psd(target.cov, 0.5) @ _sqrt_psd(source.cov, -0.5)
        else:
            scale = np.sqrt(np.maximum(np.diag(target.cov), 0.0) / np.maximum(np.diag(source.cov), _EPS))
            if self.mode == "luminance":
                scale[1:] = 1.0  # keep alpha and beta: the picture's own colours
            matrix = np.diag(scale)
        offset = target.mean - matrix @ source.mean
        if self.mode == "luminance":
            offset[1:] = 0.0
        return matrix.astype(np.float32), offset.astype(np.float32)


def _bands(image: Image.Image) -> list[tuple[int, int]]:
    """Row ranges [top, bottom) of about BAND_PIXELS each."""
    rows = max(1, BAND_PIXELS // max(1, image.width))
    return [(top, min(top + rows, image.height)) for top in range(0, image.height, rows)]


# YIQ (NTSC): Y is luminance, I and Q carry the colour; Gatys et al. (2016) transfer luminance only in it.
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=np.float32,
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)

KeepColours = Literal["off", "luminance", "match"]


def preserve_colours(stylized: Image.Image, content: Image.Image, mode: KeepColours) -> Image.Image:
    """Give a stylization back the content's colours (Gatys, Bethge, Hertzmann, Shechtman 2016).

    "luminance": the stylization's luminance (Y of YIQ) with the content's chroma (I, Q).
    "match": recolour the stylization with the content's full colour covariance (a colour-transfer pass).
    """
    if mode == "off":
        return stylized
    if content.size != stylized.size:
        content = content.resize(stylized.size, Image.Resampling.LANCZOS)
    if mode == "match":
        result = run_job(ColourTransferJob(stylized, content, "covariance")).result
        assert result is not None  # only a token's holder can cancel, and this run has none
        return result.image
    luma = to_array(stylized) @ _RGB_TO_YIQ[0]
    yiq = to_array(content) @ _RGB_TO_YIQ.T
    yiq[..., 0] = luma
    return from_array(yiq @ _YIQ_TO_RGB.T)
