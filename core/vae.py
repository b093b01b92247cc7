"""A convolutional variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", 2013).

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
  directions) warmed up linearly from 0 over the first `warmup` steps (Bowman et al. 2016; Sonderby et
  al. 2016), so the decoder learns to use z before the KL term can switch dimensions off.
- Reconstruction likelihood, chosen by the data (or set): grey-scale data is treated as Bernoulli
  probabilities, the convention for (Fashion-)MNIST that makes test ELBOs comparable with published VAEs
  and with pytorch/examples' VAE (binary cross-entropy against grey values); colour data gets a Gaussian
  whose variance is learned, one sigma per channel (Rybkin et al., "Simple and Effective VAE Training with
  Calibrated Decoders", 2021): a fixed variance is a hidden beta that makes photos blurry or the KL vanish,
  a learned one is the maximum-likelihood balance. Gaussian NELBOs are densities on [0, 1]^D; bits per
  dimension add D log 256 for the 8-bit bins (uniform dequantisation).

The trained model is an instrument: `reconstruct`, `interpolate` (straight line between the posterior
means of two pictures: the endpoints are their reconstructions), `sample` (seed and temperature) and
`decode_with_offsets` for latent sliders over the dimensions ranked by their average KL, the ones the model
actually uses (dimensions with KL near 0 decode to the same picture whatever their value).

Checkpoints (kind VAE) hold the model under "model." and Adam's state under "optim."; the training JSON
has the step, losses and the KL per latent dimension (for the slider ranking).
"""

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from core.checkpoints import (
    CheckpointInfo,
    ModelKind,
    load_checkpoint,
    model_name,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
    under_prefix,
)
from core.data import ImageSet, centre_square
from core.devices import autocast, pick_device
from core.errors import CheckpointError, UserError
from core.images import grid, save_gif, to_pil
from core.jobs import ImageResult, JobContext, Resumable
from core.latents import latents
from core.safety import check_new_model
from core.training import (
    all_finite,
    diverged,
    read_data,
    require_at_least_one,
    require_room_for,
    restoring,
    resumed_step,
)

ARCH = "conv-vae-v1"
CHECKPOINT_NAME = "vae.safetensors"
SIZES = (28, 32, 64, 128)
LIKELIHOODS = ("bernoulli", "gaussian")
Likelihood = Literal["bernoulli", "gaussian"]
MODEL_PREFIX, OPTIM_PREFIX = "model.", "optim."
PREVIEW_PAIRS = 16  # preview grid: 2 x 8 training pictures over their reconstructions, then 32 samples
KL_IMAGES = 1024  # pictures the per-dimension KL (slider ranking) is averaged over
_MIN_LOG_SIGMA = -6.0  # a learned Gaussian sigma stays above e^-6 = 0.0025 (a 1/400 grey step)


@dataclass(frozen=True)
class VaeConfig:
    size: int = 32
    channels: int = 1
    latent: int = 32
    width: int = 32  # channels of the full-resolution layer; up to 8x this at the bottom
    beta: float = 1.0
    likelihood: Likelihood = "bernoulli"
    warmup: int = 1000  # steps over which the KL weight rises from 0 to beta
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise UserError(
                f"The VAE image size must be one of {', '.join(map(str, SIZES))} px, not {self.size}."
            )
        if self.channels not in (1, 3):
            raise UserError(f"Images must have 1 (grey) or 3 (colour) channels, not {self.channels}.")
        if min(self.latent, self.width, self.batch_size) < 1 or self.lr <= 0 or self.warmup < 0:
            raise UserError(
                "The latent size, width and batch size must be at least 1, the learning rate above 0."
            )
        if not self.beta > 0:
            raise UserError(f"Beta must be above 0, not {self.beta}.")
        if self.likelihood not in LIKELIHOODS:
            raise UserError(f"The likelihood must be {' or '.join(LIKELIHOODS)}, not {self.likelihood}.")

    @property
    def base(self) -> int:
        """Side of the smallest feature map: 28 -> 14 -> 7; 32/64/128 -> ... -> 4."""
        return 7 if self.size == 28 else 4

    @property
    def halvings(self) -> int:
        return round(math.log2(self.size / self.base))

    @property
    def dimensions(self) -> int:
        return self.channels * self.size * self.size

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "VaeConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


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
        if self.config.likelihood == "bernoulli":
            nll = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            log_sigma = self.log_sigma.clamp(min=_MIN_LOG_SIGMA).view(1, -1, 1, 1)
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


def bits_per_dimension(nelbo_nats: float, config: VaeConfig) -> float:
    """A per-picture negative ELBO in nats as bits per pixel value (Gaussian: plus the 8-bit bins)."""
    bins = config.dimensions * math.log(256) if config.likelihood == "gaussian" else 0.0
    return (nelbo_nats + bins) / (config.dimensions * math.log(2))


def _unit(images: Tensor) -> Tensor:
    """ImageSet batches are in [-1, 1]; the VAE models [0, 1]."""
    return images.add(1.0).mul_(0.5)


class VaeTrainingJob(Resumable):
    """Train a VAE on an image set; returns the checkpoint path `out_dir / CHECKPOINT_NAME`.

    Step k uses the data set's batch for k and noise from a generator seeded with (seed, k), so a resumed
    run ends exactly where an uninterrupted one would (bit-identical on the CPU). A NaN or infinite loss
    stops training with a UserError and leaves the last good checkpoint in place.
    """

    title = "Train a VAE"

    def __init__(
        self,
        data: ImageSet | Callable[[JobContext], ImageSet],
        out_dir: Path,
        *,
        steps: int = 5000,
        size: int | None = None,
        latent: int = 32,
        width: int = 32,
        beta: float = 1.0,
        likelihood: Likelihood | None = None,  # None: Bernoulli for grey data, Gaussian for colour
        warmup: int | None = None,  # None: a fifth of the steps, at most 1000
        lr: float = 1e-3,
        batch_size: int = 128,
        seed: int = 0,
        sample_every: int = 100,
        checkpoint_every: int = 500,
        resume: Path | None = None,
        device: str | None = None,
        data_name: str = "",
    ) -> None:
        require_at_least_one(
            {"steps": steps, "sample interval": sample_every, "checkpoint interval": checkpoint_every}
        )
        self.data, self.out = data, Path(out_dir) / CHECKPOINT_NAME
        self.steps, self.size, self.likelihood = steps, size, likelihood
        self.settings: dict[str, Any] = dict(
            latent=latent, width=width, beta=beta, lr=lr, batch_size=batch_size, seed=seed,
            warmup=min(1000, steps // 5) if warmup is None else warmup,
        )  # fmt: skip
        self.sample_every, self.checkpoint_every = sample_every, checkpoint_every
        self.resume = None if resume is None else Path(resume)
        self.device, self.data_name = device, data_name

    def run(self, ctx: JobContext) -> Path:
        device = pick_device(self.device)
        data = read_data(self.data, ctx)
        check_new_model(self.out, self.resume)  # after the data's own checks, the first thing to hear of
        name = self.data_name or data.name
        stored = _read_checkpoint(self.resume)[1] if self.resume else None
        config = self._config(data, stored, ctx)
        data = data.resized(config.size)
        if data.channels != config.channels:
            raise UserError(f"{name} has {data.channels}-channel images; the model has {config.channels}.")

        model = _new_model(config).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        start, losses = self._restore(model, optimizer, config, ctx) if self.resume else (0, {})
        require_room_for(self.out, [model], [optimizer])
        ctx.message(f"Training on {len(data)} images of {name} ({config.size} px) on {device}.")

        preview_x = _unit(data.images[_preview_index(len(data), config.seed)].float().div(127.5).sub(1)).to(
            device
        )
        preview_z = latents(config.seed, 2 * PREVIEW_PAIRS, config.latent).to(device)
        step = start
        while step < self.steps and not ctx.stop_requested():
            step += 1
            losses = self._step(model, optimizer, data, config, step, device)
            if not all(math.isfinite(v) for v in losses.values()):
                raise self._diverged(step, config)
            ctx.progress(
                step - start, self.steps - start, losses, stage=f"Training: step {step} of {self.steps}"
            )
            if step % self.checkpoint_every == 0 and step < self.steps:
                self._save(model, optimizer, config, step, losses, data, name)
            if step % self.sample_every == 0:
                ctx.preview(
                    _preview(model, preview_x, preview_z), f"Step {step}: reconstructions, then samples"
                )
        if step < self.steps:
            ctx.message(f"Stopped at step {step} of {self.steps}; resume from {self.out} to go on.")
        self._save(model, optimizer, config, step, losses, data, name)
        return self.out

    def _config(self, data: ImageSet, stored: CheckpointInfo | None, ctx: JobContext) -> VaeConfig:
        """A new run's config from the data and the settings; a resumed run keeps its checkpoint's, except
        the learning rate (lowering it is the cure for a divergence)."""
        if stored is not None:
            config = VaeConfig.from_dict(stored.config)
            changed = sorted(
                k for k, v in self.settings.items() if k not in ("lr", "warmup") and getattr(config, k) != v
            )
            if changed:
                ctx.message(f"Resuming keeps the checkpoint's {', '.join(changed)}.")
            return replace(config, lr=self.settings["lr"])
        size = self.size or next((s for s in SIZES if s >= data.size), SIZES[-1])
        likelihood = self.likelihood or ("bernoulli" if data.channels == 1 else "gaussian")
        return VaeConfig(size=size, channels=data.channels, likelihood=likelihood, **self.settings)

    def _step(
        self,
        model: Vae,
        optimizer: torch.optim.Optimizer,
        data: ImageSet,
        config: VaeConfig,
        step: int,
        device: torch.device,
    ) -> dict[str, float]:
        images, _ = data.batch(step, config.batch_size, seed=config.seed, device=device)
        rng = torch.Generator(device).manual_seed(config.seed * 1_000_003 + step)
        with autocast(device):  # bf16 where the hardware has it; the likelihood and KL sums stay fp32
            terms = elbo(model, _unit(images), rng)
        kl_weight = config.beta * min(1.0, step / config.warmup) if config.warmup else config.beta
        loss = terms.reconstruction + kl_weight * terms.kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        values = torch.stack([terms.nelbo, terms.reconstruction, terms.kl]).detach().tolist()
        return dict(zip(("elbo", "reconstruction", "kl"), values, strict=True))

    def _diverged(self, step: int, config: VaeConfig) -> UserError:
        return diverged(f"at step {step}", self.out, f"lower the learning rate (now {config.lr:g})")

    def _restore(
        self, model: Vae, optimizer: torch.optim.Optimizer, config: VaeConfig, ctx: JobContext
    ) -> tuple[int, dict[str, float]]:
        """Load the model and Adam's state from `self.resume`; returns (step, its last losses)."""
        assert self.resume is not None
        tensors, info = _read_checkpoint(self.resume)
        step = resumed_step(info, self.resume, self.steps)
        with restoring(self.resume):
            model.load_state_dict(under_prefix(tensors, MODEL_PREFIX))
            restore_optimizer(optimizer, tensors, OPTIM_PREFIX, info.training["optimizer"], config.lr)
        ctx.message(f"Resuming from step {step} of {self.resume.name}.")
        return step, dict(info.training.get("losses", {}))

    def _save(
        self,
        model: Vae,
        optimizer: torch.optim.Optimizer,
        config: VaeConfig,
        step: int,
        losses: Mapping[str, float],
        data: ImageSet,
        data_name: str,
    ) -> None:
        """Write the checkpoint, unless a weight is no longer finite: never replace a good file by a bad."""
        if not all_finite([model]):
            raise self._diverged(step, config)
        tensors, param_groups = optimizer_tensors(optimizer, OPTIM_PREFIX)
        tensors.update({MODEL_PREFIX + k: v for k, v in model.state_dict().items()})
        training = {
            "step": step,
            "steps": self.steps,
            "data_set": data_name,
            "image_count": len(data),
            "losses": dict(losses),
            "kl_per_dimension": _average_kl(model, data, config),
            "optimizer": param_groups,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        save_checkpoint(
            self.out, tensors, kind=ModelKind.VAE, arch=ARCH, config=asdict(config), training=training
        )


def _preview_index(count: int, seed: int) -> Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:PREVIEW_PAIRS]


def _preview(model: Vae, x: Tensor, z: Tensor) -> Image.Image:
    """8 columns: two rows of training pictures each over its reconstruction, then four rows of samples."""
    with torch.inference_mode():
        recon = model.mean_image(model.encode(x)[0])
        half = len(x) // 2
        rows = [x[:half], recon[:half], x[half:], recon[half:], model.mean_image(z)]
    return grid([to_pil(x) for x in torch.cat(rows)], half)


def _average_kl(model: Vae, data: ImageSet, config: VaeConfig) -> list[float]:
    """The mean KL of each latent dimension over up to KL_IMAGES pictures of the set: how much the model
    uses it (the slider ranking)."""
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed))[:KL_IMAGES]
    device = next(model.parameters()).device
    with torch.inference_mode():
        mu, log_var = model.encode(_unit(data.images[index].float().div(127.5).sub(1)).to(device))
        return [round(v, 5) for v in kl_per_dimension(mu, log_var).mean(0).tolist()]


def _new_model(config: VaeConfig) -> Vae:
    """A fresh model initialised from the config's seed without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return Vae(config)


def _read_checkpoint(path: Path) -> tuple[dict[str, Tensor], CheckpointInfo]:
    return load_checkpoint(path, ModelKind.VAE, arch=ARCH)


class LoadedVae(NamedTuple):
    model: Vae  # eval mode, on the CPU
    config: VaeConfig
    info: CheckpointInfo

    @property
    def ranked_dimensions(self) -> list[int]:
        """Latent dimensions by their average KL over the training data, most used first."""
        kl = self.info.training.get("kl_per_dimension") or [0.0] * self.config.latent
        return sorted(range(len(kl)), key=lambda j: -kl[j])


def load_vae(path: str | Path) -> LoadedVae:
    """The trained VAE of a checkpoint, its config and info. The last few are kept loaded (keyed by the
    file's modification time, so a retrained file is read again): a latent slider decodes many times."""
    path = Path(path)
    try:
        modified = path.stat().st_mtime_ns
    except OSError:
        raise CheckpointError(f"{path} does not exist.") from None
    return _load_vae(path.resolve(), modified)


@functools.lru_cache(maxsize=4)
def _load_vae(path: Path, modified_ns: int) -> LoadedVae:
    tensors, info = _read_checkpoint(path)
    try:
        config = VaeConfig.from_dict(info.config)
        model = Vae(config)
        model.load_state_dict(under_prefix(tensors, MODEL_PREFIX))
    except (RuntimeError, TypeError, UserError):
        raise CheckpointError(f"{path.name} does not hold the weights of a {ARCH} VAE.") from None
    return LoadedVae(model.eval().requires_grad_(False), config, info)


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


def sample(
    model: "str | Path | LoadedVae", n: int, *, seed: int = 0, temperature: float = 1.0
) -> list[Image.Image]:
    """`n` new pictures decoded from the prior's points of `seed`, scaled by `temperature` (below 1: more
    typical and cleaner, above 1: wilder)."""
    if n < 1:
        raise UserError(f"Ask for at least 1 sample, not {n}.")
    if not 0.0 < temperature <= 3.0:
        raise UserError(f"The temperature must be above 0 and at most 3, not {temperature}.")
    loaded = _loaded(model)
    return decode(loaded, latents(seed, n, loaded.config.latent) * temperature)


def decode_with_offsets(
    model: "str | Path | LoadedVae",
    offsets: Mapping[int, float],
    *,
    image: Image.Image | None = None,
    seed: int = 0,
) -> Image.Image:
    """The picture at a latent point moved by `offsets` (dimension -> change, in prior standard deviations):
    from the code of `image`, or from the prior's point of `seed` when there is none. No offsets give the
    reconstruction of `image` (or `sample(seed=seed)[0]`)."""
    loaded = _loaded(model)
    base = encode(loaded, [image])[0] if image is not None else latents(seed, 1, loaded.config.latent)[0]
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
    """A grid of new pictures; `images` holds the single pictures once it has run."""

    title = "Sample a VAE"

    def __init__(self, path: Path, n: int = 16, seed: int = 0, temperature: float = 1.0) -> None:
        self.path, self.n, self.seed, self.temperature = Path(path), n, seed, temperature
        self.images: list[Image.Image] = []

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Sampling")
        self.images = sample(self.path, self.n, seed=self.seed, temperature=self.temperature)
        ctx.progress(1, 1, stage="Sampling")
        settings = _settings("vae-sample", self.path, n=self.n, seed=self.seed, temperature=self.temperature)
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
