"""Latent points for generative models, drawn so that a picture depends only on its seed and index."""

import torch
from torch import Tensor


def latents(seed: int, n: int, dim: int) -> Tensor:
    """(n, dim) standard normal points, drawn row by row from one generator: row i is the same for every
    n > i. (One (n, dim) draw is not: torch's CPU sampler takes other paths for other sizes.)"""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(1, dim, generator=generator) for _ in range(n)])
