"""Procedurally generate Neural Easel's built-in pictures.

Writes three JPEGs into ``resources/images/``:

* ``sample.jpg`` (960x640): a photo-like lake and mountain landscape, shown on first launch.
* ``dusk.jpg`` (640x640): an abstract painting in a warm dusk palette, offered as a palette image.
* ``ocean.jpg`` (640x640): an abstract painting of cool, swirling sea colours, offered as a palette image.

Every pixel is computed here from seeded noise and simple geometry, so the images are the project's
own procedural work: nothing is copied, downloaded or read from external data, and each image comes
out identical on every run.

Run from the repository root with ``python -m resources.generate_images`` (or as a plain script).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Colour = tuple[float, float, float]
Stops = Sequence[tuple[float, Colour]]

IMAGES_DIR = Path(__file__).resolve().parent / "images"
JPEG_QUALITY = 90

SAMPLE_SEED = 1871
DUSK_SEED = 2207
OCEAN_SEED = 3319


# ---------------------------------------------------------------------------------------------------------
# Shared helpers: noise, colour ramps, blurring
# ---------------------------------------------------------------------------------------------------------


def _hash01(ix: IntArray, iy: IntArray, seed: int) -> Array:
    """Hash integer lattice points to [0, 1).

    A stateless hash (rather than a random lattice array) lets any coordinates, however warped or
    shifted, be sampled repeatably from the same noise field.
    """
    h = (ix.astype(np.uint32) * np.uint32(0x27D4EB2D)) ^ (iy.astype(np.uint32) * np.uint32(0x165667B1))
    h ^= np.uint32((seed * 0x9E3779B1) & 0xFFFFFFFF)
    # "lowbias32" finaliser: mixes every input bit into every output bit.
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x7FEB352D)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x846CA68B)
    h ^= h >> np.uint32(16)
    return h.astype(np.float64) / 4294967296.0


def value_noise(x: Array, y: Array, seed: int) -> Array:
    """Smoothly interpolated lattice noise in [0, 1]; one lattice cell per coordinate unit."""
    x0 = np.floor(x)
    y0 = np.floor(y)
    tx = (x - x0) ** 2 * (3.0 - 2.0 * (x - x0))
    ty = (y - y0) ** 2 * (3.0 - 2.0 * (y - y0))
    ix = x0.astype(np.int64)
    iy = y0.astype(np.int64)
    top = _hash01(ix, iy, seed) * (1.0 - tx) + _hash01(ix + 1, iy, seed) * tx
    bottom = _hash01(ix, iy + 1, seed) * (1.0 - tx) + _hash01(ix + 1, iy + 1, seed) * tx
    return top * (1.0 - ty) + bottom * ty


def fbm(x: Array, y: Array, seed: int, octaves: int, gain: float = 0.5, ridged: bool = False) -> Array:
    """Fractal (multi-octave) value noise in [0, 1], coordinates in units of the coarsest cell.

    ``ridged`` folds each octave about its midpoint, which turns soft bumps into sharp crests.
    """
    total = np.zeros(np.broadcast_shapes(x.shape, y.shape))
    amplitude, frequency, norm = 1.0, 1.0, 0.0
    for octave in range(octaves):
        # Offset every octave so lattice corners never coincide, which would show up as a grid.
        n = value_noise(x * frequency + 17.31 * octave, y * frequency + 5.77 * octave, seed + 101 * octave)
        total += amplitude * (1.0 - np.abs(2.0 * n - 1.0) if ridged else n)
        norm += amplitude
        amplitude *= gain
        frequency *= 2.0
    return total / norm


def smoothstep(edge0: float, edge1: float, x: Array) -> Array:
    """Hermite ramp from 0 at ``edge0`` to 1 at ``edge1`` (either order)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def palette(stops: Stops, t: Array) -> Array:
    """Map values in [0, 1] through a piecewise-linear colour ramp; adds a trailing RGB axis."""
    positions = [p for p, _ in stops]
    return np.stack([np.interp(t, positions, [c[i] for _, c in stops]) for i in range(3)], axis=-1)


def mix(a: Array | Colour, b: Array | Colour, t: Array) -> Array:
    """Blend RGB ``a`` towards ``b`` by the per-pixel weight ``t``."""
    start = np.asarray(a, dtype=np.float64)
    return start + (np.asarray(b, dtype=np.float64) - start) * t[..., None]


def _box_blur(img: Array, radius: int, axis: int) -> Array:
    """Mean over a (2r+1)-wide window along ``axis`` via cumulative sums, with clamped edges."""
    if radius <= 0:
        return img
    pad = [(0, 0)] * img.ndim
    pad[axis] = (radius + 1, radius)
    summed = np.cumsum(np.pad(img, pad, mode="edge"), axis=axis)
    n = img.shape[axis]
    upper = np.take(summed, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lower = np.take(summed, np.arange(n), axis=axis)
    return (upper - lower) / (2 * radius + 1)


def blur(img: Array, radius_y: int, radius_x: int, passes: int = 3) -> Array:
    """Separable blur; three box passes closely approximate a Gaussian."""
    for _ in range(passes):
        img = _box_blur(_box_blur(img, radius_y, 0), radius_x, 1)
    return img


def _gradients(img: Array) -> tuple[Array, Array]:
    """Central-difference derivatives of a 2-D array down its rows (y) and along its columns (x)."""
    return np.gradient(img, axis=0), np.gradient(img, axis=1)


def _grid(h: int, w: int) -> tuple[Array, Array]:
    """Pixel row (h, 1) and column (1, w) coordinates that broadcast to a full image."""
    return np.arange(h, dtype=np.float64)[:, None], np.arange(w, dtype=np.float64)[None, :]


# ---------------------------------------------------------------------------------------------------------
# sample.jpg: a photo-like landscape
# ---------------------------------------------------------------------------------------------------------

SKY: Stops = (
    (0.00, (0.16, 0.33, 0.62)),
    (0.50, (0.40, 0.60, 0.84)),
    (0.82, (0.74, 0.80, 0.86)),
    (1.00, (1.00, 0.80, 0.58)),
)
SUN: Colour = (1.00, 0.74, 0.40)
CLOUD_LIT: Colour = (1.00, 0.97, 0.92)
CLOUD_SHADE: Colour = (0.56, 0.60, 0.72)
SNOW: Colour = (0.93, 0.95, 1.00)
WATER_DEEP: Colour = (0.06, 0.17, 0.22)
GRASS_DARK: Colour = (0.10, 0.16, 0.05)
GRASS_LIT: Colour = (0.52, 0.56, 0.20)


@dataclass(frozen=True)
class MountainLayer:
    """One band of mountains or hills; layers are listed from the horizon towards the viewer."""

    crest: float  # mean height of the ridgeline, as a fraction of the image height from the top
    relief: float  # peak-to-valley height, as a fraction of the image height
    feature: float  # width of the largest features, in pixels
    colour: Colour
    haze: float  # share of the colour lost to atmospheric haze: the further away, the paler and bluer
    ridged: bool  # sharp rocky crests rather than rounded hills
    snowline: float  # fraction of the image height above which peaks are snow-capped (0: no snow)
    trees: float  # strength of the forest canopy texture


MOUNTAINS = (
    MountainLayer(0.41, 0.20, 300.0, (0.34, 0.42, 0.60), 0.38, True, 0.36, 0.0),
    MountainLayer(0.53, 0.10, 190.0, (0.22, 0.33, 0.36), 0.24, True, 0.0, 0.35),
    MountainLayer(0.61, 0.05, 150.0, (0.15, 0.27, 0.11), 0.05, False, 0.0, 0.7),
)


def _paint_mountains(scene: Array, haze_colour: Array, horizon: float, seed: int) -> None:
    """Draw each mountain layer over ``scene`` (in place), far to near."""
    h, w = scene.shape[:2]
    ys, xs = _grid(h, w)
    for i, layer in enumerate(MOUNTAINS):
        layer_seed = seed + 1000 * (i + 1)
        profile = fbm(xs[0] / layer.feature, np.zeros(1), layer_seed, 7, gain=0.48, ridged=layer.ridged)
        profile = (profile - profile.min()) / (profile.max() - profile.min())
        crest = h * (layer.crest - layer.relief * (profile - 0.5))
        if layer.trees:
            # Tree tops make the silhouette of forested slopes bumpy at a small scale.
            crest -= 7.0 * layer.trees * fbm(xs[0] / 5.0, np.zeros(1), layer_seed + 7, 3)
        below = ys - crest[None, :]
        cover = np.clip(below + 0.5, 0.0, 1.0)

        # The sun is to the right: slopes whose crest falls to the right face it and catch light,
        # and the effect fades further down the face.
        slope = np.gradient(blur(crest[None, :], 0, 4, passes=2)[0])
        facing = np.tanh(slope * 1.5)[None, :] * np.exp(-below / (0.08 * h))
        rock = fbm(xs / (layer.feature * 0.15), ys / (layer.feature * 0.15), layer_seed + 3, 6, ridged=True)
        # Distance washes out fine detail, so far layers get flatter shading.
        facets = np.clip(_gradients(rock)[1] * layer.feature * 0.15, -1.0, 1.0) * (1.0 - layer.haze)
        light = np.clip(1.0 + 0.4 * facing + 0.3 * facets, 0.5, 1.5)
        # Sunlit faces warm up, shaded ones take on the blue of the sky.
        tint = 0.15 * (light - 1.0)[..., None] * np.asarray((1.0, 0.0, -1.0))
        surface = np.asarray(layer.colour) * light[..., None] * (1.0 + tint)

        if layer.trees:
            canopy = fbm(xs / 2.5, ys / 2.0, layer_seed + 5, 3)
            surface *= (1.0 - 0.5 * layer.trees + layer.trees * canopy)[..., None]
        if layer.snowline:
            snow_edge = h * layer.snowline + 30.0 * (rock - 0.5) + 8.0 * facets
            snow = smoothstep(3.0, -3.0, ys - snow_edge) * np.clip(below / 2.0, 0.0, 1.0)
            surface = mix(surface, np.asarray(SNOW) * np.clip(light, 0.7, 1.1)[..., None], snow)

        # Haze gathers in the valleys, so each layer also fades towards its own base.
        valley = smoothstep(0.0, 1.0, below / np.maximum(horizon - crest[None, :], 1.0)) ** 1.5
        haze = layer.haze + (1.0 - layer.haze) * 0.45 * valley
        surface = mix(surface, haze_colour[None, :, :], haze)
        scene[:] = mix(scene, surface, cover)


def make_sample(seed: int = SAMPLE_SEED) -> Array:
    """Render a lake beneath layered mountains on a sunny afternoon, as float RGB in [0, 1]."""
    h, w = 640, 960
    ys, xs = _grid(h, w)
    horizon = 0.655 * h  # the water line
    sun_x, sun_y = 0.72 * w, 0.29 * h

    sky = palette(SKY, np.broadcast_to(np.clip(ys / horizon, 0.0, 1.0), (h, w)))
    sun_dist = np.hypot(xs - sun_x, ys - sun_y) / h
    glow = 0.5 * np.exp(-sun_dist / 0.03) + 0.4 * np.exp(-sun_dist / 0.12) + 0.16 * np.exp(-sun_dist / 0.5)
    sky += glow[..., None] * np.asarray(SUN)
    # Overexposed like a real sun; the final clip turns it white.
    sky = mix(sky, (1.6, 1.5, 1.3), smoothstep(0.024, 0.019, sun_dist))
    haze_colour = sky[int(horizon * 0.8)].copy()

    # Clouds lie on a plane overhead: projecting rows onto it makes them shrink and bunch up towards
    # the horizon, which is what makes the sky read as deep rather than as a flat texture.
    depth = 240.0 / np.maximum(horizon - ys, 12.0)
    plane_x = (xs - 0.5 * w) / w * depth * 4.0
    plane_z = depth * 6.0
    density = fbm(plane_x, plane_z, seed, 7, gain=0.55)
    # Cloud behind a point, in the direction of the sun, shades it; so undersides come out darker.
    shadow = fbm(plane_x + 0.08, plane_z + 0.2, seed, 7, gain=0.55)
    cover = smoothstep(0.47, 0.68, density) * smoothstep(horizon, horizon - 0.25 * h, ys)
    cloud = mix(CLOUD_LIT, CLOUD_SHADE, smoothstep(0.48, 0.75, shadow))
    cloud += 0.5 * glow[..., None] * np.asarray(SUN)
    scene = mix(sky, cloud, 0.93 * cover)

    _paint_mountains(scene, haze_colour, horizon, seed)

    # Lake: mirror the land and sky across the water line, jittered by perspective-projected ripples.
    rows = np.arange(int(np.ceil(horizon)), h, dtype=np.float64)[:, None]
    dist = rows - horizon + 1.0
    water_depth = 300.0 / dist
    wx = (xs - 0.5 * w) / w * water_depth * 1.2
    wz = water_depth * 9.0
    ripple = fbm(wx, wz, seed + 11, 5)
    fine = fbm(wx * 5.0, wz * 5.0, seed + 12, 3)
    src_x = np.clip(np.round(xs + (ripple - 0.5) * 0.06 * dist), 0, w - 1).astype(np.int64)
    src_y = np.round(2.0 * horizon - rows + (fine - 0.5) * 0.05 * dist)
    src_y = np.clip(src_y, 0, horizon - 1).astype(np.int64)
    # Reflections are softer vertically, where ripples smear them out.
    reflection = blur(scene, 3, 1, passes=2)[src_y, src_x] * 0.86
    nearness = (dist / (h - horizon)) ** 1.2
    water = mix(reflection, WATER_DEEP, 0.12 + 0.5 * nearness)
    # Ripple faces tilted towards the viewer mirror the higher, bluer sky.
    water = mix(water, SKY[0][1], 0.3 * smoothstep(0.55, 0.75, ripple))
    glitter = smoothstep(0.62, 0.8, fine) * np.exp(-(((xs - sun_x) / (10.0 + 0.3 * dist)) ** 2))
    water += (1.4 * glitter * np.exp(-dist / 260.0))[..., None] * np.asarray(SUN)
    scene[rows.astype(np.int64)[:, 0]] = water

    # Grassy bank in the near left corner gives the scene a foreground.
    bank_top = h * (0.8 + 0.35 * (xs / (0.45 * w)) ** 2)
    bank_top += 14.0 * (fbm(xs / 60.0, np.zeros(1), seed + 21, 4) - 0.5)  # uneven shore
    bank_top -= 8.0 * fbm(xs / 2.0, np.zeros(1), seed + 22, 2)  # grass tips
    bank_depth = ys - bank_top
    blades = fbm(xs / 1.2, ys / 10.0, seed + 23, 3)
    patches = 0.7 + 0.6 * fbm(xs / 50.0, ys / 25.0, seed + 24, 4)
    grass = mix(GRASS_DARK, GRASS_LIT, blades * np.exp(-bank_depth / 60.0)) * patches[..., None]
    # The bank shades the strip of water just beyond its edge.
    water_shadow = 0.35 * np.exp(np.minimum(bank_depth, 0.0) / 8.0) * (ys > horizon)
    scene *= 1.0 - water_shadow[..., None]
    scene = mix(scene, grass, np.clip(bank_depth + 0.5, 0.0, 1.0))

    # Photographic finish: slight lens softness, vignette and luminance grain.
    scene = blur(scene, 1, 1, passes=1) * 0.3 + scene * 0.7
    vignette = 1.0 - 0.22 * (((xs - 0.5 * w) / w) ** 2 + ((ys - 0.5 * h) / h) ** 2) * 2.0
    grain = np.random.default_rng(seed).normal(0.0, 0.012, (h, w, 1))
    return np.clip(scene * vignette[..., None] + grain, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------
# dusk.jpg and ocean.jpg: painterly abstracts made of brush strokes
# ---------------------------------------------------------------------------------------------------------

DUSK: Stops = (
    (0.00, (0.09, 0.03, 0.18)),
    (0.20, (0.27, 0.07, 0.36)),
    (0.40, (0.58, 0.11, 0.45)),
    (0.58, (0.87, 0.24, 0.33)),
    (0.74, (0.97, 0.47, 0.15)),
    (0.88, (1.00, 0.70, 0.24)),
    (1.00, (1.00, 0.91, 0.60)),
)
OCEAN: Stops = (
    (0.00, (0.02, 0.05, 0.17)),
    (0.24, (0.04, 0.17, 0.42)),
    (0.46, (0.03, 0.40, 0.52)),
    (0.66, (0.18, 0.66, 0.76)),
    (0.83, (0.60, 0.87, 0.91)),
    (1.00, (0.96, 0.98, 0.98)),
)


@dataclass(frozen=True)
class Strokes:
    """A set of brush strokes, one array entry per stroke, painted in order."""

    x: Array
    y: Array
    angle: Array  # direction of travel, radians
    length: Array
    width: Array
    curvature: Array  # bend of the stroke's centreline, 1 / pixels
    colour: Array  # (n, 3)
    opacity: Array


@dataclass(frozen=True)
class Fields:
    """Per-pixel guides that strokes sample at their centre."""

    angle: Array
    tone: Array  # position on the palette ramp
    curvature: Array


def scatter(
    rng: np.random.Generator,
    fields: Fields,
    stops: Stops,
    count: int,
    length: tuple[float, float],
    width: tuple[float, float],
    opacity: float,
    tone_shift: float = 0.0,
    where: Array | None = None,
) -> Strokes:
    """Place ``count`` strokes, at random or with probability proportional to ``where``."""
    h, w = fields.tone.shape
    if where is None:
        flat = rng.integers(0, h * w, count)
    else:
        flat = rng.choice(h * w, count, p=(where / where.sum()).ravel())
    iy, ix = np.divmod(flat, w)
    x = ix + rng.random(count)
    y = iy + rng.random(count)
    tone = fields.tone[iy, ix] + tone_shift + rng.normal(0.0, 0.045, count)
    colour = palette(stops, np.clip(tone, 0.0, 1.0)) * rng.uniform(0.93, 1.07, (count, 1))
    lengths = rng.uniform(*length, count)
    # Cap the bend so even long strokes stay recognisable strokes rather than hooks.
    limit = 1.2 / lengths
    return Strokes(
        x=x,
        y=y,
        angle=fields.angle[iy, ix] + rng.normal(0.0, 0.1, count),
        length=lengths,
        width=rng.uniform(*width, count),
        curvature=np.clip(fields.curvature[iy, ix] / 2.0, -limit, limit),
        colour=np.clip(colour, 0.0, 1.0),
        opacity=np.clip(rng.normal(opacity, 0.06, count), 0.2, 1.0),
    )


def paint(canvas: Array, relief: Array, strokes: Strokes, rng: np.random.Generator, flatness: float) -> None:
    """Composite ``strokes`` onto ``canvas`` and their paint ridges onto ``relief``, in place.

    Strokes are rendered in vectorised batches. Each batch covers only a small share of the canvas,
    so strokes inside it rarely overlap and averaging them looks the same as painting them one by
    one. ``flatness`` shapes the ends: 2 gives a round brush, 4 or more a flat one.
    """
    h, w = relief.shape
    # The patch around each stroke must reach its ends, which bending pushes sideways.
    half_len, half_wid = strokes.length / 2.0, strokes.width / 2.0
    reach = np.hypot(half_len, np.abs(strokes.curvature) * half_len**2 + half_wid)
    radius = int(np.ceil(reach.max())) + 2
    offsets = np.arange(-radius, radius + 1)
    mean_area = float(np.mean(strokes.length * strokes.width))
    batch = max(1, int(0.12 * h * w / mean_area))
    flat_canvas = canvas.reshape(-1, 3)
    flat_relief = relief.reshape(-1)
    for start in range(0, len(strokes.x), batch):
        s = slice(start, start + batch)
        n = len(strokes.x[s])
        cx = np.round(strokes.x[s]).astype(np.int64)
        cy = np.round(strokes.y[s]).astype(np.int64)
        rx = offsets[None, None, :] - (strokes.x[s] - cx)[:, None, None]
        ry = offsets[None, :, None] - (strokes.y[s] - cy)[:, None, None]
        cos = np.cos(strokes.angle[s])[:, None, None]
        sin = np.sin(strokes.angle[s])[:, None, None]
        u = rx * cos + ry * sin
        v = ry * cos - rx * sin - strokes.curvature[s][:, None, None] * u * u
        length = half_len[s][:, None, None]
        width = half_wid[s][:, None, None]
        body = 1.0 - np.abs(u / length) ** flatness - (v / width) ** 2
        cover = np.clip(body * width / 1.5, 0.0, 1.0)  # about a pixel of anti-aliased edge

        # Bristles leave parallel ridges; two incommensurate waves keep them from looking regular.
        period = rng.uniform(1.6, 3.0, (n, 1, 1))
        phase = rng.uniform(0.0, 2.0 * np.pi, (n, 2, 1, 1))
        bristle = 0.5 + 0.3 * np.sin(v * (2 * np.pi / period) + phase[:, 0])
        bristle += 0.2 * np.sin(v * (2 * np.pi / (1.73 * period)) + phase[:, 1])
        along = u / length  # -1 where the brush lands, +1 where it lifts off
        # The brush runs dry towards the end of the stroke, opening gaps between the bristles.
        dry = smoothstep(0.0, 1.0, along) * (1.0 - bristle)
        alpha = cover * strokes.opacity[s][:, None, None] * (1.0 - 0.85 * dry) * (0.8 + 0.2 * bristle)
        shade = 1.05 - 0.05 * along + 0.08 * (bristle - 0.5)

        px = cx[:, None, None] + offsets[None, None, :]
        py = cy[:, None, None] + offsets[None, :, None]
        keep = (alpha > 0.004) & (px >= 0) & (px < w) & (py >= 0) & (py < h)
        index = np.broadcast_to(py * w + px, keep.shape)[keep]
        owner = np.broadcast_to(np.arange(n)[:, None, None], keep.shape)[keep]
        a = alpha[keep]
        colour = strokes.colour[s][owner] * shade[keep][:, None]
        total = np.bincount(index, a, minlength=h * w)
        hit = np.flatnonzero(total)
        weight = total[hit]
        mean_colour = (
            np.stack([np.bincount(index, a * colour[:, c], minlength=h * w)[hit] for c in range(3)], axis=1)
            / weight[:, None]
        )
        mean_height = np.bincount(index, a * bristle[keep], minlength=h * w)[hit] / weight
        coverage = np.minimum(weight, 1.0)
        flat_canvas[hit] += (mean_colour - flat_canvas[hit]) * coverage[:, None]
        flat_relief[hit] += (mean_height - flat_relief[hit]) * coverage


def finish_painting(canvas: Array, relief: Array, seed: int) -> Array:
    """Light the paint ridges from the top left and add a faint canvas weave."""
    h, w = relief.shape
    ys, xs = _grid(h, w)
    gy, gx = _gradients(blur(relief, 1, 1, passes=1))
    # Surface normal (-gx, -gy, 1) dotted with light from the upper left.
    light = gx + gy
    lit = canvas * (1.0 + 0.6 * light)[..., None] + 0.25 * np.maximum(light - 0.08, 0.0)[..., None]
    weave = 0.012 * np.sin(xs * np.pi / 1.5) * np.sin(ys * np.pi / 1.5)
    tooth = 0.03 * (fbm(xs / 3.0, ys / 3.0, seed, 2) - 0.5)
    return np.clip(lit * (1.0 + weave + tooth)[..., None], 0.0, 1.0)


def _directions_to_fields(vx: Array, vy: Array, tone: Array) -> Fields:
    """Angles and centreline curvature (change of heading per pixel) of a direction field."""
    norm = np.hypot(vx, vy) + 1e-9
    dx, dy = vx / norm, vy / norm
    dxy, dxx = _gradients(dx)
    dyy, dyx = _gradients(dy)
    # d(heading)/dx and d(heading)/dy, from the rotation of the unit vector; then take them along the flow.
    turn_x = dx * dyx - dy * dxx
    turn_y = dx * dyy - dy * dxy
    return Fields(angle=np.arctan2(dy, dx), tone=tone, curvature=dx * turn_x + dy * turn_y)


def make_dusk(seed: int = DUSK_SEED) -> Array:
    """Paint a sunset over dark water in long, flat, straight strokes, as float RGB in [0, 1]."""
    size = 640
    ys, xs = _grid(size, size)
    rng = np.random.default_rng(seed)
    orb_x, orb_y = 0.6 * size, 0.5 * size
    horizon = 0.64 * size
    dist = np.hypot(xs - orb_x, ys - orb_y) / size

    # Brightest along the horizon and around the setting sun, darkening up into the sky and
    # down into the water, with broad noise so bands of colour wander.
    band = np.exp(-(((ys - horizon) / (0.28 * size)) ** 2))
    drift = fbm(xs / 160.0, ys / 90.0, seed, 5)
    tone = 0.08 + 0.5 * band + 0.55 * np.exp(-dist / 0.1) + 0.45 * (drift - 0.5)
    # Long streaks of cloud catch the last light in the upper sky.
    streaks = smoothstep(0.5, 0.7, fbm(xs / 260.0, ys / 28.0, seed + 2, 5)) * (ys < horizon)
    tone += 0.35 * streaks * (1.0 - band)
    # The water is darker but carries a broken column of the sun's reflection.
    column = np.exp(-(((xs - orb_x) / (0.09 * size)) ** 2) - (ys - horizon) / (0.3 * size))
    tone = np.where(ys > horizon, 0.75 * tone + 0.8 * column * fbm(xs / 40.0, ys / 6.0, seed + 3, 3), tone)
    tone = np.maximum(tone, smoothstep(0.065, 0.05, dist))  # the sun's disc

    # Mostly horizontal, gently waving flow that turns into rays around the sun. Orientations are
    # blended with doubled angles because a stroke pointing either way along a line looks the same.
    wave = 0.5 * (fbm(xs / 220.0, ys / 140.0, seed + 1, 4) - 0.5) + 0.18 * np.sin(xs / 70.0 + ys / 45.0)
    ray = np.arctan2(ys - orb_y, xs - orb_x)
    pull = np.exp(-((dist / 0.2) ** 2))
    cos2 = (1 - pull) * np.cos(2 * wave) + pull * np.cos(2 * ray)
    sin2 = (1 - pull) * np.sin(2 * wave) + pull * np.sin(2 * ray)
    # Straight strokes throughout: this palette is about direction, the ocean one about swirls.
    fields = Fields(np.arctan2(sin2, cos2) / 2.0, np.clip(tone, 0.0, 1.0), np.zeros_like(tone))

    canvas = blur(palette(DUSK, fields.tone), 12, 12)  # thin toned ground showing between strokes
    relief = np.zeros((size, size))
    paint(canvas, relief, scatter(rng, fields, DUSK, 900, (70, 130), (16, 28), 0.9), rng, 6.0)
    paint(canvas, relief, scatter(rng, fields, DUSK, 3000, (36, 70), (7, 13), 0.85), rng, 6.0)
    paint(canvas, relief, scatter(rng, fields, DUSK, 5500, (14, 30), (3, 6), 0.8), rng, 5.0)
    glints = np.clip(fields.tone - 0.55, 0.0, 1.0) ** 2
    paint(canvas, relief, scatter(rng, fields, DUSK, 700, (10, 24), (2, 4), 0.9, 0.12, glints), rng, 4.0)
    return finish_painting(canvas, relief, seed)


def make_ocean(seed: int = OCEAN_SEED) -> Array:
    """Paint swirling eddies flecked with foam in short curved strokes, as float RGB in [0, 1]."""
    size = 640
    ys, xs = _grid(size, size)
    rng = np.random.default_rng(seed)

    # Rolling swell: a diagonal current bent by long waves...
    swell = 0.35 * np.sin(xs / 90.0 - ys / 60.0) + 0.6 * (fbm(xs / 200.0, ys / 200.0, seed, 4) - 0.5)
    vx, vy = np.cos(swell - 0.35), np.sin(swell - 0.35)
    # ...plus eddies that spin either way, each with spiral arms of lighter water.
    spiral = np.zeros_like(vx)
    for ex, ey, radius, spin in ((0.28, 0.3, 0.2, 1.0), (0.72, 0.62, 0.24, -1.0), (0.3, 0.8, 0.15, 1.0)):
        ox, oy = xs - ex * size, ys - ey * size
        r = np.hypot(ox, oy) / (radius * size)
        strength = 2.4 * spin * np.exp(-(r**2)) / (radius * size)
        vx += -oy * strength
        vy += ox * strength
        arms = np.cos(2.0 * np.arctan2(oy, ox) + spin * 5.0 * np.log(r + 0.05))
        spiral += (2.0 * smoothstep(-0.2, 0.8, arms) - 1.0) * np.exp(-((r / 1.1) ** 2))
    crests = fbm(xs / 120.0, ys / 70.0, seed + 1, 5)
    tone = 0.42 + 0.3 * spiral + 0.6 * (crests - 0.5) + 0.12 * np.sin(xs / 90.0 - ys / 60.0 + 1.0)
    fields = _directions_to_fields(vx, vy, np.clip(tone, 0.0, 1.0))

    canvas = blur(palette(OCEAN, fields.tone), 10, 10)
    relief = np.zeros((size, size))
    paint(canvas, relief, scatter(rng, fields, OCEAN, 800, (60, 100), (14, 22), 0.9), rng, 2.0)
    paint(canvas, relief, scatter(rng, fields, OCEAN, 3600, (28, 52), (5, 9), 0.85), rng, 2.5)
    paint(canvas, relief, scatter(rng, fields, OCEAN, 6000, (12, 24), (2.5, 4.5), 0.8), rng, 2.5)
    # Foam: short flicks of near-white riding the lightest crests.
    foam = smoothstep(0.55, 0.85, fields.tone) ** 2 + 1e-4
    paint(canvas, relief, scatter(rng, fields, OCEAN, 1500, (8, 18), (2, 4), 0.85, 0.25, foam), rng, 2.0)
    return finish_painting(canvas, relief, seed)


# ---------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------


def save_jpeg(rgb: Array, path: Path, quality: int = JPEG_QUALITY) -> int:
    """Write float RGB in [0, 1] as a JPEG, atomically, and return its size in bytes.

    Writing to a temporary file beside the target and renaming it means the app never sees a
    half-written image, even if generation is interrupted.
    """
    image = Image.fromarray(np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="JPEG", quality=quality, optimize=True)
        os.chmod(tmp_name, 0o644)  # mkstemp creates owner-only files; resources should be readable
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path.stat().st_size


IMAGES: tuple[tuple[str, Callable[[], Array]], ...] = (
    ("sample.jpg", make_sample),
    ("dusk.jpg", make_dusk),
    ("ocean.jpg", make_ocean),
)


def main() -> None:
    """Generate every built-in image into ``resources/images/``."""
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    for name, make in IMAGES:
        started = time.perf_counter()
        size = save_jpeg(make(), IMAGES_DIR / name)
        print(f"{name}: {size / 1024:.0f} KiB in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
