"""The ex-post density of a VAE's latent codes: where new pictures are drawn from.

A VAE is trained to make its posteriors q(z|x) close to the prior N(0, I), but their mixture over the
training pictures (the aggregate posterior) never matches it: KL-switched-off dimensions, holes and
clumps. Points drawn from N(0, I) then often fall where no training picture's code lies, and decode to
fragments, while reconstructions are good. So, after training, a Gaussian mixture is fitted to the
posterior means of the training pictures and samples are drawn from it: the "ex-post density
estimation" of Ghosh, Sajjadi, Vergari, Black and Schoelkopf, "From Variational to Deterministic
Autoencoders" (ICLR 2020), who found a 10-component full-covariance mixture as good as richer densities.

Fit: `COMPONENTS` (fewer for small sets, at least 2 D codes per component) full-covariance components,
seeded k-means++ centres (Arthur & Vassilvitskii 2007), then EM (Dempster, Laird & Rubin 1977) in
float64 for at most `ITERATIONS` rounds or until the mean log-likelihood gains less than `TOLERANCE`; each
covariance gets `REGULARISER` x the codes' mean variance on its diagonal, so a component on a few codes
or on dimensions the model does not use (their means are near 0) stays invertible.

Sampling at temperature t: component k with its weight, then z = mu_k + t L_k eps with L_k the Cholesky
factor of its covariance: t scales the spread around each component's mean, as it scales N(0, I) for
the standard prior. The checkpoint keeps "density.weights" (K,), "density.means" (K, D) and
"density.scale_tril" (K, D, D); the training JSON's "density" the method and the fit's figures.
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from core.latents import latents

PREFIX = "density"  # the tensors' prefix in the checkpoint, and the training JSON's key
METHOD = "gaussian-mixture-full-em"
COMPONENTS = 10
ITERATIONS = 100  # and the tolerance: scikit-learn's defaults
TOLERANCE = 1e-3  # nats per code
REGULARISER = 1e-3
_NAMES = ("weights", "means", "scale_tril")


@dataclass(frozen=True)
class LatentDensity:
    """A Gaussian mixture over the latent space: weights (K,), means (K, D), Cholesky factors (K, D, D)."""

    weights: Tensor
    means: Tensor
    scale_tril: Tensor

    def points(self, seed: int, n: int, temperature: float = 1.0) -> Tensor:
        """(n, D) points: row i depends only on (seed, i), as `core.latents` promises. Each row is D + 1
        standard normals: the first picks the component (through its normal CDF, a uniform), the rest
        are the noise around it."""
        noise = latents(seed, n, self.means.shape[1] + 1).double()
        uniform = 0.5 * (1 + torch.erf(noise[:, 0] / math.sqrt(2)))
        cumulative = self.weights.double().cumsum(0)
        k = torch.searchsorted(cumulative / cumulative[-1], uniform).clamp(max=len(self.weights) - 1)
        spread = (self.scale_tril.double()[k] @ noise[:, 1:, None]).squeeze(-1)
        return (self.means.double()[k] + temperature * spread).float()

    def covariance(self) -> Tensor:
        """(D, D) covariance of the whole mixture (what its samples' covariance tends to)."""
        w, mu, tril = self.weights.double(), self.means.double(), self.scale_tril.double()
        within = torch.einsum("k,kij,klj->il", w, tril, tril)
        centred = mu - w @ mu
        return within + torch.einsum("k,ki,kj->ij", w, centred, centred)

    def tensors(self) -> dict[str, Tensor]:
        return dict(zip(_NAMES, (self.weights, self.means, self.scale_tril), strict=True))

    @classmethod
    def of(cls, tensors: dict[str, Tensor], latent: int) -> "LatentDensity | None":
        """The density a checkpoint holds (its "density." tensors), None without one or when its shapes do
        not fit a `latent`-dimensional model."""
        try:
            weights, means, tril = (tensors[name].float() for name in _NAMES)
        except KeyError:
            return None
        k = len(weights)
        fits = weights.shape == (k,) and means.shape == (k, latent) and tril.shape == (k, latent, latent)
        finite = all(bool(torch.isfinite(t).all()) for t in (weights, means, tril))
        return cls(weights, means, tril) if k and fits and finite and float(weights.sum()) > 0 else None


def _log_densities(x: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """(N, K) log N(x_n; mu_k, L_k L_k^T)."""
    d = x.shape[1]
    out = []
    for mu, tril in zip(means, scale_tril, strict=True):
        white = torch.linalg.solve_triangular(tril, (x - mu).T, upper=False)
        log_det = torch.log(torch.diagonal(tril)).sum()
        out.append(-0.5 * white.square().sum(0) - log_det - 0.5 * d * math.log(2 * math.pi))
    return torch.stack(out, dim=1)


def _centres(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding: each next centre is a code drawn with probability its squared distance to the
    nearest centre so far, so the components start spread over the codes, not clumped."""
    centres = [x[int(torch.randint(len(x), (1,), generator=generator))]]
    nearest = (x - centres[0]).square().sum(1)
    for _ in range(1, k):
        # The floor: codes that are all alike still give k (equal) centres.
        pick = int(torch.multinomial(nearest.clamp(min=1e-12), 1, generator=generator))
        centres.append(x[pick])
        nearest = torch.minimum(nearest, (x - x[pick]).square().sum(1))
    return torch.stack(centres)


def fit(codes: Tensor, seed: int = 0, components: int = COMPONENTS) -> tuple[LatentDensity, dict[str, Any]]:
    """The mixture of (N, D) latent codes (N >= 1), and its record for the training JSON."""
    x = codes.detach().double().cpu()
    n, d = x.shape
    k = max(1, min(components, n // (2 * d)))
    generator = torch.Generator().manual_seed(seed)
    # The floor keeps identical codes (a set of one picture, or of copies) invertible too.
    ridge = REGULARISER * max(float(x.var(0, correction=0).mean()), 1e-6) * torch.eye(d, dtype=torch.float64)
    means = _centres(x, k, generator)
    scale_tril = torch.linalg.cholesky(torch.cov(x.T, correction=0) + ridge).expand(k, d, d)
    log_weights = torch.full((k,), -math.log(k), dtype=torch.float64)
    previous, iterations = -math.inf, 0
    while iterations < ITERATIONS:
        iterations += 1
        joint = _log_densities(x, means, scale_tril) + log_weights  # E-step
        log_likelihood = float(torch.logsumexp(joint, 1).mean())
        resp = torch.softmax(joint, 1)
        counts = resp.sum(0) + 1e-10  # M-step
        log_weights = torch.log(counts / n)
        means = resp.T @ x / counts[:, None]
        covariances = [
            (resp[:, j, None] * (x - means[j])).T @ (x - means[j]) / counts[j] + ridge for j in range(k)
        ]
        scale_tril = torch.linalg.cholesky(torch.stack(covariances))
        if log_likelihood - previous < TOLERANCE:
            break
        previous = log_likelihood
    density = LatentDensity(log_weights.exp().float(), means.float(), scale_tril.float())
    record = {
        "method": METHOD,
        "components": k,
        "fit_images": n,
        "iterations": iterations,
        "log_likelihood": round(log_likelihood, 4),  # nats per code, of the E-step before the last M-step
        "regulariser": REGULARISER,
    }
    return density, record
