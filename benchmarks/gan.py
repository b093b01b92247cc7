"""GAN speed and sample quality, beside a plain DCGAN measured in the same run.

    python -m benchmarks.gan [--seconds 300] [--folder 6000] [--samples 1000] [--steps 20]

1. Training throughput (images/s) at batch 64, 64 px RGB and 32 px grey: our training job (spectral
   norm, hinge loss, DiffAugment, EMA) at DCGAN's width 64 and at its default width, and pytorch/examples'
   DCGAN step (nz=100, ngf=ndf=64, BCE, Adam 2e-4 / 0.5), each on the same images: the median
   step after the first two.
2. Sample quality at equal training time, on the paths users take: a folder of --folder Fashion-MNIST
   pictures exported as PNG files (read as `train-gan FOLDER` reads it: 32 px, grey) and Debian's full
   60,000-picture training set. Our job runs with the CLI's defaults (`train-gan DATA --out DIR`: width 32
   on a CPU, DiffAugment below 10,000 pictures), which are the window's default preset's too, the plain
   DCGAN on the same images; each trains for --seconds, then a Frechet distance (Heusel et al. 2017)
   between --samples generated images and as many real test images, on the features of a fixed
   pretrained network: the app's VGG16 (relu5_3, global average), since no Inception weights are
   available offline. Lower is better; only the comparison within one run means something.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.classifier import export_folders
from core.data import ImageSet, open_data_set
from core.devices import describe, pick_device
from core.features import load_features
from core.gan.inference import load_generator
from core.gan.settings import DEFAULT_WIDTH, SIZES
from core.gan.training import GanTrainingJob
from core.images import own_size
from core.jobs import CancelToken, Event, Progress, run_job
from core.presets import device_class

BATCH = 64


def dcgan(nz: int, ngf: int, ndf: int, channels: int, size: int) -> tuple[nn.Module, nn.Module]:
    """pytorch/examples' DCGAN (64 px: 4 up-convolutions; 32 px: one fewer)."""
    blocks = int(np.log2(size)) - 3  # 64 px: 3 middle blocks
    g_layers: list[nn.Module] = [nn.ConvTranspose2d(nz, ngf * 2**blocks, 4, 1, 0, bias=False)]
    g_layers += [nn.BatchNorm2d(ngf * 2**blocks), nn.ReLU(True)]
    for i in range(blocks, 0, -1):
        g_layers += [nn.ConvTranspose2d(ngf * 2**i, ngf * 2 ** (i - 1), 4, 2, 1, bias=False)]
        g_layers += [nn.BatchNorm2d(ngf * 2 ** (i - 1)), nn.ReLU(True)]
    g_layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
    d_layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for i in range(blocks):
        d_layers += [nn.Conv2d(ndf * 2**i, ndf * 2 ** (i + 1), 4, 2, 1, bias=False)]
        d_layers += [nn.BatchNorm2d(ndf * 2 ** (i + 1)), nn.LeakyReLU(0.2, True)]
    d_layers += [nn.Conv2d(ndf * 2**blocks, 1, 4, 1, 0, bias=False), nn.Flatten(), nn.Sigmoid()]
    return nn.Sequential(*g_layers), nn.Sequential(*d_layers)


class PlainDcgan:
    """The reference training loop, stepping on batches from an ImageSet."""

    def __init__(self, channels: int, size: int, device: torch.device) -> None:
        torch.manual_seed(0)
        self.g, self.d = (m.to(device) for m in dcgan(100, 64, 64, channels, size))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.device, self.loss = device, nn.BCELoss()

    def step(self, real: Tensor) -> None:
        z = torch.randn(len(real), 100, 1, 1, device=self.device)
        fake = self.g(z)
        ones, zeros = (
            torch.ones(len(real), 1, device=self.device),
            torch.zeros(len(real), 1, device=self.device),
        )
        self.opt_d.zero_grad()
        d_loss = self.loss(self.d(real), ones) + self.loss(self.d(fake.detach()), zeros)
        d_loss.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        g_loss = self.loss(self.d(fake), ones)
        g_loss.backward()
        self.opt_g.step()

    def samples(self, n: int) -> Tensor:
        self.g.eval()
        with torch.inference_mode():
            images: Tensor = self.g(torch.randn(n, 100, 1, 1, device=self.device)).cpu()
        return images


def ours_throughput(data: ImageSet, steps: int, width: int | None) -> float:
    """Images/s of our training job at `width` (None: its default): the median interval between progress
    events (one per step on a CPU) after the first two steps, so a passing disturbance does not count."""
    stamps: list[float] = []
    job = GanTrainingJob(
        data, _tmp("throughput"), steps=steps + 2, width=width, batch_size=BATCH, sample_every=10**6
    )
    run_job(job, lambda e: stamps.append(time.perf_counter()) if isinstance(e, Progress) and e.step else None)
    return BATCH / float(np.median(np.diff(stamps[1:])))


def plain_throughput(data: ImageSet, steps: int, device: torch.device) -> float:
    """Images/s of the plain DCGAN step: the median step time after the first two steps."""
    model = PlainDcgan(data.channels, data.size, device)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        model.step(data.batch(step, BATCH, device=device)[0])
        times.append(time.perf_counter() - start)
    return BATCH / float(np.median(times[2:]))


def train_ours_for(data: ImageSet, seconds: float) -> tuple[Tensor, int]:
    """Our job with the CLI's defaults, stopped after `seconds`: (2000 samples of its EMA G, steps)."""
    token, start = CancelToken(), time.perf_counter()
    steps: list[int] = []

    def sink(event: Event) -> None:
        if isinstance(event, Progress):
            steps.append(event.step)
            if time.perf_counter() - start > seconds:
                token.cancel()

    out = _tmp("quality")
    job = GanTrainingJob(data, out, steps=10**6, sample_every=10**6, conditional=False)
    run_job(job, sink, token)
    loaded = load_generator(out / "gan.safetensors")
    with torch.inference_mode():
        z = torch.randn(2000, loaded.config.latent, generator=torch.Generator().manual_seed(1))
        return loaded.generator(z).cpu(), max(steps)


def train_plain_for(data: ImageSet, seconds: float, device: torch.device) -> tuple[Tensor, int]:
    model, start, step = PlainDcgan(data.channels, data.size, device), time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step += 1
        model.step(data.batch(step, BATCH, device=device)[0])
    return model.samples(2000), step


def vgg_features(images: Tensor) -> np.ndarray:
    """(N, C, S, S) in [-1, 1] -> (N, 512) relu5_3 features averaged over space, at 64 px."""
    net = load_features().net
    rgb = ((images.float() + 1) / 2).clamp(0, 1).expand(-1, 3, -1, -1)
    rgb = nn.functional.interpolate(rgb, size=64, mode="bilinear", align_corners=False)
    with torch.inference_mode():
        chunks = [rgb[i : i + 200] for i in range(0, len(rgb), 200)]
        return np.concatenate([net(c, ["relu5_3"])["relu5_3"].mean(dim=(2, 3)).numpy() for c in chunks])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). Tr((S_a S_b)^(1/2)) is computed as the sum of
    the square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which is symmetric."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.maximum(values, 0))) @ vectors.T
    cross = np.sqrt(np.maximum(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def _tmp(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"gan-bench-{name}-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=300, help="training time per model for quality (0: throughput only)"
    )
    parser.add_argument("--folder", type=int, default=6000, help="pictures in the exported folder")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20, help="timed steps for throughput")
    args = parser.parse_args()
    device = pick_device()
    print(f"device: {describe(device)}; torch {torch.__version__}")

    width = DEFAULT_WIDTH[device_class(device.type)]
    for size, channels in ((64, 3), (32, 1)):
        noise = torch.randint(0, 256, (512, channels, size, size), dtype=torch.uint8)
        data = ImageSet(noise, name="noise")
        same, default = (ours_throughput(data, args.steps, w) for w in (64, None))
        plain_rate = plain_throughput(data, args.steps, device)
        print(
            f"train step, batch {BATCH}, {size} px, {channels} channel(s): ours {same:.1f} images/s at "
            f"DCGAN's width 64, {default:.1f} at the default width {width} "
            f"| plain DCGAN {plain_rate:.1f} images/s"
        )

    if args.seconds <= 0:
        return
    start = time.perf_counter()
    folder = export_folders(_tmp("folder"), args.folder)[0]
    exported = time.perf_counter() - start
    start = time.perf_counter()
    from_folder = open_data_set(folder, own_size(folder, SIZES))
    print(
        f"exported {args.folder} PNG files in {exported:.0f} s; read them in "
        f"{time.perf_counter() - start:.1f} s at {from_folder.size} px, {from_folder.channels} channel(s)"
    )
    real = vgg_features(ImageSet.fashion_mnist("test", size=32).images[: args.samples].float() / 127.5 - 1)
    for data in (from_folder, ImageSet.fashion_mnist("train", size=32)):
        ours, ours_steps = train_ours_for(data, args.seconds)
        plain, plain_steps = train_plain_for(data, args.seconds, device)
        fd_ours = frechet_distance(vgg_features(ours[: args.samples]), real)
        fd_plain = frechet_distance(vgg_features(plain[: args.samples]), real)
        print(
            f"{len(data)} pictures ({data.name}), {args.seconds:.0f} s of training each: Frechet distance "
            f"(VGG16 relu5_3) ours {fd_ours:.1f} ({ours_steps} steps) | plain DCGAN {fd_plain:.1f} "
            f"({plain_steps} steps)"
        )


if __name__ == "__main__":
    main()
