"""What a trained DRAW does: draw new pictures glimpse by glimpse (`sample_drawings`), redraw a given one
(`reconstruct_drawing`, from the posterior means: the same picture gives the same drawing), and measure
the negative ELBO of a data set (`evaluate_draw`). Every drawing is its T canvases as pictures, the last
one the finished picture."""

import copy
from collections.abc import Callable
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
from core.sequence.draw import Draw, draw_elbo
from core.sequence.draw_training import glimpse_noise
from core.sequence.settings import DRAW_ARCH, DrawConfig
from core.vae.networks import bits_per_dimension


class LoadedDraw(NamedTuple):
    model: Draw  # eval mode, on the CPU
    config: DrawConfig
    info: CheckpointInfo


@cached_by_file
def load_draw(path: Path) -> LoadedDraw:
    """The trained DRAW of a checkpoint, its config and info (the last few stay loaded)."""
    model, info = load_model(
        path, ModelKind.DRAW, DRAW_ARCH, lambda info: Draw(DrawConfig.from_dict(info.config)), "model."
    )
    return LoadedDraw(model, model.config, info)


def _loaded(model: "str | Path | LoadedDraw") -> LoadedDraw:
    return model if isinstance(model, LoadedDraw) else load_draw(model)


def as_seen(model: "str | Path | LoadedDraw", image: Image.Image) -> Tensor:
    """A picture as the model sees it: its centre square at the model's size, grey or colour, (1, C, S, S)
    in [0, 1]."""
    config = _loaded(model).config
    square = centre_square(image.convert("L" if config.channels == 1 else "RGB"), config.size)
    pixels = torch.from_numpy(np.array(square)).float().div(255)
    return pixels.view(1, config.size, config.size, config.channels).permute(0, 3, 1, 2)


def _pictures(model: Draw, canvases: list[Tensor]) -> list[Image.Image]:
    return [to_pil(model.mean_image(canvas)) for canvas in canvases]


def sample_drawings(
    model: "str | Path | LoadedDraw", n: int, seed: int = 0, check: Callable[[], None] = lambda: None
) -> list[list[Image.Image]]:
    """`n` new drawings, each its T canvases (the last the finished picture). Drawing i depends on seed and
    i alone: each is drawn in its own pass from its own rows of noise (core.latents). `check` runs before
    each drawing (a job's cancel check)."""
    if n < 1:
        raise UserError(f"Ask for at least 1 sample, not {n}.")
    loaded = _loaded(model)
    z = glimpse_noise(loaded.config, n, seed)  # (T, n, latent)
    drawings = []
    with torch.inference_mode():
        for i in range(n):
            check()
            drawings.append(_pictures(loaded.model, loaded.model.generate(z[:, i : i + 1])))
    return drawings


def reconstruct_drawing(model: "str | Path | LoadedDraw", image: Image.Image) -> list[Image.Image]:
    """The T canvases of the network redrawing `image` (from the posterior means of its glimpses)."""
    loaded = _loaded(model)
    with torch.inference_mode():
        return _pictures(loaded.model, loaded.model.draw(as_seen(loaded, image), None).canvases)


def evaluate_draw(
    model: "str | Path | LoadedDraw",
    data: ImageSet,
    *,
    batch_size: int = 500,
    seed: int = 0,
    device: torch.device | None = None,
    check: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """The negative ELBO of a data set (one-sample estimate with noise fixed by `seed`), in nats per picture
    and bits per dimension, with its reconstruction and KL terms; `check` runs before each batch."""
    loaded = _loaded(model)
    data = data.resized(loaded.config.size)
    if data.channels != loaded.config.channels:
        raise UserError(
            f"{data.name} has {data.channels}-channel images; the model has {loaded.config.channels}."
        )
    device = device or torch.device("cpu")
    # The cached model stays on the CPU for the window's other jobs; a copy goes to another device.
    network = loaded.model if device.type == "cpu" else copy.deepcopy(loaded.model).to(device)
    generator = torch.Generator(device).manual_seed(seed)
    sums = [0.0, 0.0, 0.0]
    with torch.inference_mode():
        for part in torch.split(data.images, batch_size):
            check()
            terms = draw_elbo(network, part.to(device).float().div(255), generator)
            for i, term in enumerate((terms.nelbo, terms.reconstruction, terms.kl)):
                sums[i] += float(term) * len(part)
    nelbo, reconstruction, kl = (total / len(data) for total in sums)
    return {
        "nelbo": nelbo,
        "bits_per_dim": bits_per_dimension(nelbo, loaded.config),
        "reconstruction": reconstruction,
        "kl": kl,
    }
