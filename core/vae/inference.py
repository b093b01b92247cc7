"""What a trained VAE does: an instrument. `reconstruct`, `interpolate` (straight line between the
posterior means of two pictures: the endpoints are their reconstructions), `sample` (seed and
temperature) and `decode_with_offsets` for latent sliders over the dimensions ranked by their average KL,
the ones the model actually uses (dimensions with KL near 0 decode to the same picture whatever their
value); `evaluate` gives the negative ELBO of a data set.

New points (`latent_points`: samples, and the sliders' start without a picture) come by default from the
density fitted to the training pictures' codes after training (core.vae.density, an ex-post Gaussian
mixture as in Ghosh et al. 2020), where the decoder has learned to draw; prior "standard" draws from
N(0, I), as does a checkpoint trained before the density existed (or stopped before its fit).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from core.checkpoints import CheckpointInfo, ModelKind, cached_by_file, load_model
from core.data import ImageSet, centre_square
from core.errors import UserError
from core.images import to_pil
from core.latents import latents
from core.vae.density import PREFIX as DENSITY
from core.vae.density import LatentDensity
from core.vae.networks import Vae, bits_per_dimension, elbo
from core.vae.settings import ARCH, PRIORS, Prior, VaeConfig


class LoadedVae(NamedTuple):
    model: Vae  # eval mode, on the CPU
    config: VaeConfig
    info: CheckpointInfo
    density: LatentDensity | None = None  # None: trained before the density existed, or stopped first

    @property
    def ranked_dimensions(self) -> list[int]:
        """Latent dimensions by their average KL over the training data, most used first."""
        kl = self.info.training.get("kl_per_dimension") or [0.0] * self.config.latent
        return sorted(range(len(kl)), key=lambda j: -kl[j])


@cached_by_file
def load_vae(path: Path) -> LoadedVae:
    """The trained VAE of a checkpoint, its config and info (the last few stay loaded: a latent slider
    decodes many times)."""
    model, info = load_model(
        path, ModelKind.VAE, ARCH, lambda info: Vae(VaeConfig.from_dict(info.config)), "model."
    )
    fitted = _density(path, model.config.latent) if info.training.get(DENSITY) else None
    return LoadedVae(model, model.config, info, fitted)


def _density(path: Path, latent: int) -> LatentDensity | None:
    """The checkpoint's "density." tensors as a density; None when missing or damaged: the model then
    samples from the standard prior."""
    from safetensors import SafetensorError, safe_open

    prefix = f"{DENSITY}."
    try:
        with safe_open(str(path), framework="pt") as f:
            names = [n for n in f.keys() if n.startswith(prefix)]  # noqa: SIM118
            tensors = {n.removeprefix(prefix): f.get_tensor(n) for n in names}
    except (SafetensorError, OSError):
        return None
    return LatentDensity.of(tensors, latent)


def _loaded(model: "str | Path | LoadedVae") -> LoadedVae:
    return model if isinstance(model, LoadedVae) else load_vae(model)


def prepare(loaded: LoadedVae, images: Sequence[Image.Image]) -> Tensor:
    """Pictures as the model sees them (centre square at its size, grey or colour): (B, C, S, S) in [0, 1]."""
    mode, size = ("L" if loaded.config.channels == 1 else "RGB"), loaded.config.size
    arrays = [
        np.asarray(centre_square(image.convert(mode), size)).reshape(size, size, -1) for image in images
    ]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)


def encode(model: "str | Path | LoadedVae", images: Sequence[Image.Image]) -> Tensor:
    """The posterior means (B, latent) of pictures: their points in the latent space."""
    loaded = _loaded(model)
    with torch.inference_mode():
        return loaded.model.encode(prepare(loaded, images))[0]


def decode(model: "str | Path | LoadedVae", z: Tensor) -> list[Image.Image]:
    """Latent points (B, latent) -> the decoder's expected pictures, each in its own forward pass: a
    picture then depends on its point alone, not on the batch it came in (batches may round differently)."""
    loaded = _loaded(model)
    with torch.inference_mode():
        return [to_pil(loaded.model.mean_image(z[i : i + 1])) for i in range(len(z))]


def reconstruct(model: "str | Path | LoadedVae", image: Image.Image) -> tuple[Image.Image, Image.Image]:
    """(the picture as the model sees it, its reconstruction from its posterior mean)."""
    loaded = _loaded(model)
    x = prepare(loaded, [image])
    with torch.inference_mode():
        return to_pil(x), to_pil(loaded.model.mean_image(loaded.model.encode(x)[0]))


def interpolate(
    model: "str | Path | LoadedVae", a: Image.Image, b: Image.Image, steps: int
) -> list[Image.Image]:
    """`steps` frames along the straight line between the codes of a and b; the first and last frames are
    their reconstructions."""
    if steps < 2:
        raise UserError(f"An interpolation needs at least 2 steps, not {steps}.")
    loaded = _loaded(model)
    z_a, z_b = encode(loaded, [a, b])
    t = torch.linspace(0, 1, steps).view(-1, 1)
    return decode(loaded, torch.lerp(z_a, z_b, t))


def latent_points(
    model: "str | Path | LoadedVae",
    n: int,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    prior: Prior = "fitted",
) -> Tensor:
    """(n, latent) new points of `seed` (row i depends on seed and i alone): from the fitted density when
    `prior` is "fitted" and the model has one, else from N(0, I); `temperature` scales their spread (below
    1: more typical and cleaner, above 1: wilder)."""
    if n < 1:
        raise UserError(f"Ask for at least 1 sample, not {n}.")
    if not 0.0 < temperature <= 3.0:
        raise UserError(f"The temperature must be above 0 and at most 3, not {temperature}.")
    if prior not in PRIORS:
        raise UserError(f"The prior must be {' or '.join(PRIORS)}, not {prior}.")
    loaded = _loaded(model)
    if prior == "fitted" and loaded.density is not None:
        return loaded.density.points(seed, n, temperature)
    return latents(seed, n, loaded.config.latent) * temperature


def sample(
    model: "str | Path | LoadedVae",
    n: int,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    prior: Prior = "fitted",
) -> list[Image.Image]:
    """`n` new pictures decoded from the `latent_points` of `seed`."""
    loaded = _loaded(model)
    return decode(loaded, latent_points(loaded, n, seed=seed, temperature=temperature, prior=prior))


def decode_with_offsets(
    model: "str | Path | LoadedVae",
    offsets: Mapping[int, float],
    *,
    image: Image.Image | None = None,
    seed: int = 0,
) -> Image.Image:
    """The picture at a latent point moved by `offsets` (dimension -> change, in prior standard deviations):
    from the code of `image`, or from the new point of `seed` when there is none. No offsets give the
    reconstruction of `image` (or `sample(seed=seed)[0]`)."""
    loaded = _loaded(model)
    base = encode(loaded, [image])[0] if image is not None else latent_points(loaded, 1, seed=seed)[0]
    z = base.clone()
    for dimension, change in offsets.items():
        if not 0 <= dimension < loaded.config.latent:
            raise UserError(
                f"The latent space has dimensions 0 to {loaded.config.latent - 1}, not {dimension}."
            )
        z[dimension] += change
    return decode(loaded, z.unsqueeze(0))[0]


def evaluate(
    model: "str | Path | LoadedVae", data: ImageSet, *, batch_size: int = 500, seed: int = 0
) -> dict[str, float]:
    """The negative ELBO on a data set (one-sample estimate, fixed noise), in nats per picture and bits per
    dimension, with its reconstruction and KL terms."""
    loaded = _loaded(model)
    data = data.resized(loaded.config.size)
    if data.channels != loaded.config.channels:
        raise UserError(
            f"{data.name} has {data.channels}-channel images; the model has {loaded.config.channels}."
        )
    generator = torch.Generator().manual_seed(seed)
    totals = torch.zeros(3, dtype=torch.float64)
    with torch.inference_mode():
        for part in torch.split(data.images, batch_size):
            terms = elbo(loaded.model, part.float().div(255), generator)
            totals += torch.tensor([float(t) for t in terms], dtype=torch.float64) * len(part)
    nelbo, reconstruction, kl = (totals / len(data)).tolist()
    return {
        "nelbo": nelbo,
        "bits_per_dim": bits_per_dimension(nelbo, loaded.config),
        "reconstruction": reconstruction,
        "kl": kl,
    }
