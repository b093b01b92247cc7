"""What a trained GAN does: load its generator (the EMA weights), sample, interpolate, vary.

Samples are made one at a time on the CPU, so a picture depends only on its latent point and class:
`sample(seed=s)[0]` is the same picture however many are asked for.
"""

from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core.checkpoints import CheckpointInfo, ModelKind, load_model
from core.errors import UserError
from core.gan.networks import Generator
from core.gan.settings import ARCHS, GanConfig
from core.latents import latents


def to_images(x: Tensor) -> list[Image.Image]:
    """(B, C, S, S) in [-1, 1] -> B RGB images (grey models give grey RGB images)."""
    pixels = x.detach().float().add(1).mul(127.5).round().clamp(0, 255).byte().cpu()
    pixels = pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels
    return [Image.fromarray(p.permute(1, 2, 0).numpy(), "RGB") for p in pixels]


class LoadedGan(NamedTuple):
    generator: Generator  # the EMA weights, in eval mode on the CPU
    config: GanConfig
    info: CheckpointInfo


def load_generator(path: str | Path) -> LoadedGan:
    """The trained generator (EMA weights) of a GAN checkpoint, its config and checkpoint info."""
    generator, info = load_model(
        path,
        ModelKind.GAN,
        ARCHS,
        lambda info: Generator(GanConfig.from_dict(info.config), info.arch),
        "ema.",
    )
    return LoadedGan(generator, GanConfig.from_dict(info.config), info)


def _loaded(model: "str | Path | LoadedGan") -> LoadedGan:
    return model if isinstance(model, LoadedGan) else load_generator(model)


def class_labels(
    config: GanConfig, n: int, class_name: str | None, device: torch.device | str = "cpu"
) -> Tensor | None:
    """None for an unconditional model; else `class_name`'s index n times, or the classes in turn."""
    if not config.conditional:
        if class_name is not None:
            raise UserError(f"This GAN was trained without classes: it cannot make a '{class_name}'.")
        return None
    if class_name is None:
        return torch.arange(n, device=device) % config.num_classes
    if class_name not in config.class_names:
        raise UserError(f"Unknown class '{class_name}': this GAN knows {', '.join(config.class_names)}.")
    return torch.full((n,), config.class_names.index(class_name), device=device)


def _generate(loaded: LoadedGan, z: Tensor, labels: Tensor | None) -> list[Image.Image]:
    """One image per latent row, each in its own forward pass: a picture then depends on its z alone,
    not on the batch it came in (batched convolutions may round differently)."""
    with torch.inference_mode():
        return [
            to_images(loaded.generator(z[i : i + 1], None if labels is None else labels[i : i + 1]))[0]
            for i in range(len(z))
        ]


def sample(
    model: "str | Path | LoadedGan",
    n: int,
    *,
    seed: int = 0,
    truncation: float = 1.0,
    class_name: str | None = None,
) -> list[Image.Image]:
    """`n` pictures from the latent points of `seed`. Truncation psi in (0, 1] scales z (the 'scale' form
    of Brock et al.'s 2018 truncation trick): the same seed keeps its picture, pulled towards the model's
    average one, trading variety for quality; 1 is off. A conditional model makes `class_name`, or its
    classes in turn when it is None."""
    if n < 1:
        raise UserError(f"Ask for at least 1 sample, not {n}.")
    if not 0.0 < truncation <= 1.0:
        raise UserError(f"The truncation must be above 0 and at most 1, not {truncation}.")
    loaded = _loaded(model)
    z = latents(seed, n, loaded.config.latent) * truncation
    return _generate(loaded, z, class_labels(loaded.config, n, class_name))


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (White, "Sampling Generative Networks", 2016) between (D,) points for each
    t in (T,) -> (T, D): stays on the shell where Gaussian samples live, unlike a straight line.
    t = 0 and t = 1 give a and b exactly."""
    omega = torch.arccos(torch.clamp(F.cosine_similarity(a, b, dim=0), -1.0, 1.0))
    t = t.view(-1, 1)
    if float(omega) < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(
    model: "str | Path | LoadedGan", steps: int, *, seed_a: int, seed_b: int, class_name: str | None = None
) -> list[Image.Image]:
    """`steps` frames from `sample(seed=seed_a)[0]` to `sample(seed=seed_b)[0]` along a slerp."""
    if steps < 2:
        raise UserError(f"An interpolation needs at least 2 steps, not {steps}.")
    loaded = _loaded(model)
    latent = loaded.config.latent
    z = slerp(latents(seed_a, 1, latent)[0], latents(seed_b, 1, latent)[0], torch.linspace(0, 1, steps))
    labels = class_labels(loaded.config, 1, class_name)  # sample()'s first class: the endpoints match it
    return _generate(loaded, z, None if labels is None else labels.expand(steps))


def vary(
    model: "str | Path | LoadedGan", seed: int, n: int, spread: float = 0.3, *, class_name: str | None = None
) -> list[Image.Image]:
    """`n` pictures around `sample(seed=seed)[0]` (the first is that picture itself): z + spread * noise,
    rescaled to |z| so the variations stay as typical as the pinned point."""
    if n < 1 or spread < 0:
        raise UserError("Ask for at least 1 variation, with a spread of 0 or more.")
    loaded = _loaded(model)
    latent = loaded.config.latent
    z = latents(seed, 1, latent)[0]
    noise = torch.randn(n, latent, generator=torch.Generator().manual_seed(seed + 1_000_003))
    noise[0] = 0
    moved = z + spread * noise
    moved = moved * (z.norm() / moved.norm(dim=1, keepdim=True))
    labels = class_labels(loaded.config, 1, class_name)
    return _generate(loaded, moved, None if labels is None else labels.expand(n))
