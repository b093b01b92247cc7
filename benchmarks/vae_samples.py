"""How much VAE samples look like Fashion-MNIST: a Frechet distance on a fixed classifier's features.

    python -m benchmarks.vae_samples [--steps 1500] [--width 16] [--latent 32] [--samples 10000]
                                     [--classifier-epochs 2] [--out FOLDER]

1. The judge: the project's scratch classifier (CompactResNet, width 24, the training job's defaults with
   --classifier-epochs, seed 0) trained on the 60,000 Fashion-MNIST training pictures (Debian's
   dataset-fashion-mnist, 28 px grey), cached in the temp folder for the next run; its test accuracy is
   printed. Features: its pooled (penultimate) features, what its linear head reads (96 numbers).
2. Our VAE (the app's training job, 28 px, --steps) and pytorch/examples' MLP VAE (benchmarks.vae)
   trained for the same wall time.
3. The Frechet distance (Heusel et al. 2017, "FID" on this classifier rather than Inception) between
   --samples pictures of each kind and the 10,000 test pictures: our VAE's samples from the standard prior
   N(0, I), from the density fitted to the training codes (core.vae.density, the default), the MLP VAE's
   prior samples, and as the floor, as many training pictures. Samples are the decoders' mean pictures,
   rounded to 8 bits as the app saves them. Lower is better.

With --out, an 8 x 8 grid of each kind is written there (real.png, ours-standard.png, ours-fitted.png,
mlp.png).
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor

from benchmarks.vae import train_mlp_for
from core.checkpoints import read_info
from core.classifier.inference import load_classifier
from core.classifier.networks import ClassifierNet
from core.classifier.training import ClassifierTrainingJob
from core.data import ImageSet
from core.devices import describe, pick_device
from core.images import grid, to_pil
from core.jobs import JobContext
from core.vae.inference import latent_points, load_vae
from core.vae.training import VaeTrainingJob

CACHE = Path(tempfile.gettempdir()) / "neural-easel-fid-classifier"


def judge(epochs: int) -> Path:
    """The Fashion-MNIST classifier whose features the distances use: the cached one for these epochs
    (an interrupted one is resumed)."""
    folder = CACHE / f"epochs-{epochs}"
    path = folder / "classifier.safetensors"
    if path.exists() and read_info(path).training.get("epoch", 0) >= epochs:
        return path
    resume = path if path.exists() else None
    job = ClassifierTrainingJob(ImageSet.fashion_mnist("train"), folder, epochs=epochs, seed=0, resume=resume)
    return job.run(JobContext())


def features(net: ClassifierNet, images: Tensor) -> Tensor:
    """(N, 1, 28, 28) uint8 -> (N, F) float64 pooled features, as the classifier sees pictures."""
    with torch.inference_mode():
        parts = [net.pooled(part.float().div(127.5).sub(1)) for part in torch.split(images, 500)]
    return torch.cat(parts).double()


def accuracy(net: ClassifierNet, test: ImageSet) -> float:
    assert test.labels is not None
    with torch.inference_mode():
        logits = torch.cat([net(p.float().div(127.5).sub(1)) for p in torch.split(test.images, 500)])
    return float((logits.argmax(1) == test.labels).float().mean())


def frechet(a: Tensor, b: Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) of two (N, F) feature sets; the trace of the
    square root is that of the symmetric S_a^1/2 S_b S_a^1/2, whose eigenvalues are real."""
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float((a.mean(0) - b.mean(0)).square().sum() + torch.trace(cov_a + cov_b) - 2 * cross)


def as_pictures(mean_images: Tensor) -> Tensor:
    """Decoder means in [0, 1] -> uint8 pictures, as saved."""
    return mean_images.mul(255).round().clamp(0, 255).to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="our VAE's training steps")
    parser.add_argument("--width", type=int, default=16, help="our network width")
    parser.add_argument("--latent", type=int, default=32, help="our latent dimensions")
    parser.add_argument("--samples", type=int, default=10_000, help="pictures per kind")
    parser.add_argument("--classifier-epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="folder for a grid of each kind")
    args = parser.parse_args()
    device = pick_device()
    print(f"device: {describe(device)}; torch {torch.__version__}; {torch.get_num_threads()} threads")

    train, test = ImageSet.fashion_mnist("train"), ImageSet.fashion_mnist("test")
    start = time.perf_counter()
    net = load_classifier(judge(args.classifier_epochs)).net
    print(
        f"judge: scratch CompactResNet, {args.classifier_epochs} epochs, seed 0, test accuracy "
        f"{accuracy(net, test):.2%} ({time.perf_counter() - start:.0f} s, cached in {CACHE})"
    )

    start = time.perf_counter()
    job = VaeTrainingJob(
        train, Path(tempfile.mkdtemp(prefix="vae-samples-")), steps=args.steps, width=args.width,
        latent=args.latent, sample_every=10**6, checkpoint_every=10**6,
    )  # fmt: skip
    ours = load_vae(job.run(JobContext()))
    seconds = time.perf_counter() - start
    assert ours.density is not None
    mlp, mlp_steps = train_mlp_for(train, seconds)
    print(
        f"ours: conv VAE, width {args.width}, latent {args.latent}, {args.steps} steps in {seconds:.0f} s "
        f"(density fit included: {ours.info.training['density']}); "
        f"MLP VAE: {mlp_steps} steps in the same time"
    )

    n = args.samples
    real = train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]]
    with torch.inference_mode():
        kinds = {"real": real}
        for prior in ("standard", "fitted"):
            z = latent_points(ours, n, seed=1, prior=prior)
            kinds[f"ours-{prior}"] = torch.cat(
                [as_pictures(ours.model.mean_image(p)) for p in torch.split(z, 500)]
            )
        z = torch.randn(n, 20, generator=torch.Generator().manual_seed(1))
        kinds["mlp"] = as_pictures(torch.sigmoid(mlp.fc4(torch.relu(mlp.fc3(z)))).view(n, 1, 28, 28))
    reference = features(net, test.images)
    names = {
        "real": "training pictures (the floor)",
        "ours-standard": "ours, standard prior N(0, I)",
        "ours-fitted": "ours, fitted density (default)",
        "mlp": "pytorch/examples MLP VAE, prior",
    }
    print(f"Frechet distance to the 10,000 test pictures on the judge's features, {n} pictures each:")
    for kind, pictures in kinds.items():
        print(f"  {names[kind]}: {frechet(features(net, pictures), reference):.2f}")
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            grid([to_pil(p.float().div(255)) for p in pictures[:64]], 8).save(args.out / f"{kind}.png")


if __name__ == "__main__":
    main()
