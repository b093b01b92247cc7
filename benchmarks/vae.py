"""VAE quality and speed on Fashion-MNIST, beside pytorch/examples' MLP VAE measured the same way.

    python -m benchmarks.vae [--seconds 600] [--width 16|32] [--latent 32]

1. Test-set negative ELBO (nats per image and bits per dimension, one-sample estimate with fixed noise,
   Bernoulli likelihood on the grey values, 28 px, the 10,000 test images of Debian's
   dataset-fashion-mnist) after --seconds of training each: our convolutional VAE (the app's training job)
   and pytorch/examples' VAE (784-400-20 MLP, ReLU, BCE + KL, Adam 1e-3, batch 128), written here from
   that description. Lower is better; both use the same estimator, so the numbers compare directly.
2. Training throughput of each (images/s).
3. Latent-slider latency: milliseconds for one slider move (encode the picture, move the point, decode;
   what the VAE panel runs per move) at 28 / 32 / 64 / 128 px, median of 50, untrained weights of the
   default width.
"""

import argparse
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from core.checkpoints import ModelKind, read_info, save_checkpoint
from core.data import ImageSet
from core.devices import describe, pick_device
from core.jobs import CancelToken, Event, Job, Progress, run_job
from core.vae.inference import decode_with_offsets, evaluate, load_vae
from core.vae.networks import Vae
from core.vae.settings import ARCH, SIZES, VaeConfig
from core.vae.training import VaeTrainingJob

BATCH = 128


class MlpVae(nn.Module):
    """pytorch/examples' VAE: 784 -> 400 -> (mu, log var) in 20 dims -> 400 -> 784 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def nelbo(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Per-image means of (negative ELBO, reconstruction, KL) in nats for x (B, 784) in [0, 1]."""
        hidden = F.relu(self.fc1(x))
        mu, log_var = self.fc21(hidden), self.fc22(hidden)
        z = mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape, generator=generator)
        logits = self.fc4(F.relu(self.fc3(z)))
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = 0.5 * (mu.square() + log_var.exp() - 1 - log_var).sum() / len(x)
        return reconstruction + kl, reconstruction, kl


def train_mlp_for(train: ImageSet, seconds: float) -> tuple[MlpVae, int]:
    torch.manual_seed(0)
    model = MlpVae()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start, step = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step += 1
        images, _ = train.batch(step, BATCH)
        loss = model.nelbo(images.add(1).div(2).flatten(1))[0]
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return model, step


def evaluate_mlp(model: MlpVae, test: ImageSet) -> float:
    generator, total = torch.Generator().manual_seed(0), 0.0
    with torch.inference_mode():
        for part in torch.split(test.images, 500):
            total += float(model.nelbo(part.float().div(255).flatten(1), generator)[0]) * len(part)
    return total / len(test)


def train_for(job: Job[Path], seconds: float) -> tuple[Path, int]:
    """(checkpoint, steps) of a training job cancelled once `seconds` have passed since its start
    (reading the data included); it keeps its last weights, as a user's Cancel does."""
    token, start, steps = CancelToken(), time.perf_counter(), [0]

    def sink(event: Event) -> None:
        if isinstance(event, Progress) and event.losses:
            steps.append(event.step)
            if time.perf_counter() - start > seconds:
                token.cancel()

    outcome = run_job(job, sink, token)
    assert outcome.result is not None
    return outcome.result, max(steps)


def train_ours_for(train: ImageSet, seconds: float, width: int | None, latent: int) -> tuple[Path, int]:
    never = 10**6  # steps: the time ends the run, and no preview or checkpoint interrupts it
    job = VaeTrainingJob(
        train, Path(tempfile.mkdtemp(prefix="vae-bench-")), steps=never, width=width, latent=latent,
        warmup=1000, sample_every=never, checkpoint_every=never,
    )  # fmt: skip
    return train_for(job, seconds)


def slider_latency_ms(size: int, width: int, latent: int) -> float:
    """Median ms of one slider move on an untrained model of this size."""
    config = VaeConfig(size=size, channels=1 if size == 28 else 3, width=width, latent=latent)
    path = Path(tempfile.mkdtemp(prefix="vae-bench-")) / "vae.safetensors"
    state = {f"model.{k}": v for k, v in Vae(config).state_dict().items()}
    save_checkpoint(path, state, kind=ModelKind.VAE, arch=ARCH, config=asdict(config))
    loaded = load_vae(path)
    picture = Image.new("RGB", (size * 2, size * 2), "orange")
    times = []
    for move in range(51):
        start = time.perf_counter()
        decode_with_offsets(loaded, {0: move / 20}, image=picture)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="training time per model")
    parser.add_argument("--width", type=int, help="our network width; default: the app's for the device")
    parser.add_argument("--latent", type=int, default=32, help="our latent dimensions")
    args = parser.parse_args()
    device = pick_device()
    print(f"device: {describe(device)}; torch {torch.__version__}; {torch.get_num_threads()} threads")

    for size in SIZES:
        print(
            f"slider move (encode + decode) at {size} px, width 32: {slider_latency_ms(size, 32, 32):.1f} ms"
        )

    train, test = ImageSet.fashion_mnist("train"), ImageSet.fashion_mnist("test")
    path, our_steps = train_ours_for(train, args.seconds, args.width, args.latent)
    width = read_info(path).config["width"]
    ours = evaluate(path, test)
    mlp, mlp_steps = train_mlp_for(train, args.seconds)
    mlp_nelbo = evaluate_mlp(mlp, test)
    dims = 28 * 28 * 0.6931471805599453
    print(f"Fashion-MNIST test set, {args.seconds:.0f} s of training each on {device}:")
    print(
        f"  ours (conv, width {width}, latent {args.latent}): {ours['nelbo']:.1f} nats "
        f"({ours['nelbo'] / dims:.4f} bits/dim; reconstruction {ours['reconstruction']:.1f}, "
        f"KL {ours['kl']:.1f}) "
        f"after {our_steps} steps, {our_steps * BATCH / args.seconds:.0f} images/s"
    )
    print(
        f"  pytorch/examples MLP VAE (latent 20): {mlp_nelbo:.1f} nats ({mlp_nelbo / dims:.4f} bits/dim) "
        f"after {mlp_steps} steps, {mlp_steps * BATCH / args.seconds:.0f} images/s"
    )


if __name__ == "__main__":
    main()
