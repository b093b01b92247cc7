"""The VAE's network and its loss: a convolutional variational autoencoder (Kingma & Welling,
"Auto-Encoding Variational Bayes", 2013).

- Encoder: (B, C, S, S) -> 3x3 conv, then per halving a stride-2 4x4 conv + group norm + SiLU down to
  (B, c, b, b) with b = 7 for 28 px and 4 for 32/64/128 px -> linear -> (mu, log sigma^2), each (B, latent).
  Channels double per halving from `width` up to 8 x width.
- Reparameterisation: z = mu + sigma * eps, eps ~ N(0, I), so the sampling step has gradients.
- Decoder: the mirror image with nearest-upsample + 3x3 conv (no checkerboard of transposed convs:
  Odena et al. 2016), ending in a 3x3 conv to C channels. Group norm rather than batch norm everywhere: a
  picture's code and decoding then never depend on the batch it came in.
- Loss: the negative ELBO per image, reconstruction + beta * KL(q(z|x) || N(0, I)), in nats:
      KL = 0.5 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2),
  with beta the beta-VAE weight (Higgins et al. 2017: above 1 trades sharpness for disentangled
  directions; core.vae.training warms it up).
- Reconstruction likelihood, chosen by the data (or set): grey-scale data is treated as Bernoulli
  probabilities, the convention for (Fashion-)MNIST that makes test ELBOs comparable with published VAEs
  and with pytorch/examples' VAE (binary cross-entropy against grey values); colour data gets a Gaussian
  whose variance is learned, one sigma per channel (Rybkin et al., "Simple and Effective VAE Training with
  Calibrated Decoders", 2021): a fixed variance is a hidden beta that makes photos blurry or the KL vanish,
  a learned one is the maximum-likelihood balance. Gaussian NELBOs are densities on [0, 1]^D; bits per
  dimension add D log 256 for the 8-bit bins (uniform dequantisation).
"""

import itertools
import math
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.vae.settings import Likelihood, VaeConfig

_MIN_LOG_SIGMA = -6.0  # a learned Gaussian sigma stays above e^-6 = 0.0025 (a 1/400 grey step)


def _channels(config: VaeConfig) -> list[int]:
    """Channels at full resolution, then after each halving: w, 2w, 4w, 8w, 8w, ..."""
    return [config.width * min(2**i, 8) for i in range(config.halvings + 1)]


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class Vae(nn.Module):
    def __init__(self, config: VaeConfig) -> None:
        super().__init__()
        self.config = config
        chans, base = _channels(config), config.base
        down: list[nn.Module] = [nn.Conv2d(config.channels, chans[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in itertools.pairwise(chans):
            down += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), _norm(c_out), nn.SiLU()]
        self.encoder = nn.Sequential(
            *down, nn.Flatten(), nn.Linear(chans[-1] * base * base, 2 * config.latent)
        )
        up: list[nn.Module] = [
            nn.Linear(config.latent, chans[-1] * base * base),
            nn.SiLU(),
            nn.Unflatten(1, (chans[-1], base, base)),
        ]
        for c_in, c_out in itertools.pairwise(reversed(chans)):
            up += [
                nn.Upsample(scale_factor=2.0),
                nn.Conv2d(c_in, c_out, 3, padding=1),
                _norm(c_out),
                nn.SiLU(),
            ]
        self.decoder = nn.Sequential(*up, nn.Conv2d(chans[0], config.channels, 3, padding=1))
        # log sigma of the Gaussian likelihood, one per channel (unused for Bernoulli data)
        self.log_sigma = nn.Parameter(torch.full((config.channels,), -2.0))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, C, S, S) in [0, 1] -> (mu, log sigma^2), each (B, latent)."""
        mu, log_var = self.encoder(x * 2 - 1).chunk(2, dim=1)
        return mu, log_var.clamp(-30.0, 20.0)  # exp stays finite in float32

    def decode(self, z: Tensor) -> Tensor:
        """z (B, latent) -> the likelihood's parameter (B, C, S, S): Bernoulli logits or Gaussian means."""
        out: Tensor = self.decoder(z)
        return out

    def mean_image(self, z: Tensor) -> Tensor:
        """z (B, latent) -> the decoder's expected picture (B, C, S, S) in [0, 1]."""
        out = self.decode(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out.clamp(0.0, 1.0)

    def reconstruction_nll(self, out: Tensor, x: Tensor) -> Tensor:
        """-log p(x | z) per picture (B,), in nats."""
        return likelihood_nll(out, x, self.config.likelihood, self.log_sigma)


def likelihood_nll(out: Tensor, x: Tensor, likelihood: Likelihood, log_sigma: Tensor) -> Tensor:
    """-log p(x | out) per picture (B,), in nats, of x (B, C, S, S) in [0, 1]: `out` holds Bernoulli logits
    or Gaussian means, `log_sigma` (C,) the Gaussian's learned log sigma per channel (unused for Bernoulli).
    Shared with DRAW (core.sequence.draw), whose final canvas is such an `out`."""
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(out, x, reduction="none")
    else:
        log_sigma = log_sigma.clamp(min=_MIN_LOG_SIGMA).view(1, -1, 1, 1)
        nll = 0.5 * ((x - out) * torch.exp(-log_sigma)) ** 2 + log_sigma + 0.5 * math.log(2 * math.pi)
    return nll.flatten(1).sum(1)


def kl_per_dimension(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) for each picture and dimension (B, latent), in nats."""
    return 0.5 * (mu.square() + log_var.exp() - 1.0 - log_var)


class Elbo(NamedTuple):
    """Per-picture means, in nats: the negative ELBO (with beta = 1) and its two terms."""

    nelbo: Tensor
    reconstruction: Tensor
    kl: Tensor


def elbo(model: Vae, x: Tensor, generator: torch.Generator | None = None) -> Elbo:
    """One-sample estimate of the negative ELBO of x (B, C, S, S) in [0, 1], averaged over the batch."""
    mu, log_var = (t.float() for t in model.encode(x))  # fp32 even under autocast: sampling, KL, sums
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * log_var) * eps
    reconstruction = model.reconstruction_nll(model.decode(z).float(), x).mean()
    kl = kl_per_dimension(mu, log_var).sum(1).mean()
    return Elbo(reconstruction + kl, reconstruction, kl)


class PictureModel(Protocol):
    """What bits per dimension need of a model's config (VaeConfig, core.sequence's DrawConfig)."""

    @property
    def dimensions(self) -> int: ...

    @property
    def likelihood(self) -> Likelihood: ...


def bits_per_dimension(nelbo_nats: float, config: PictureModel) -> float:
    """A per-picture negative ELBO in nats as bits per pixel value (Gaussian: plus the 8-bit bins)."""
    bins = config.dimensions * math.log(256) if config.likelihood == "gaussian" else 0.0
    return (nelbo_nats + bins) / (config.dimensions * math.log(2))
