"""DRAW, with and without attention, beside the project's convolutional VAE, each trained for the same
time in the same run.

    python -m benchmarks.draw [--seconds 600] [--glimpses 16] [--vae-width N]

All three train on Fashion-MNIST's 60,000 training pictures (Debian's dataset-fashion-mnist, 28 px grey)
with the app's training jobs and their defaults, each for --seconds of wall time (the job is cancelled
then and keeps its last weights, as a user's Cancel does); then the test-set negative ELBO of each (nats
per image and bits per dimension, one-sample estimate with fixed noise, Bernoulli likelihood on the grey
values, the 10,000 test pictures) and its training throughput in images/s. Lower ELBO is better; all use
the same estimator and likelihood, so the numbers compare directly. The published DRAW reaches 80.97 nats
with attention and 87.40 without on binarized MNIST (Gregor et al. 2015), a different data set: context,
not a target.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.vae import train_for, train_ours_for
from core.checkpoints import read_info
from core.data import ImageSet
from core.devices import describe, pick_device
from core.sequence.draw_inference import evaluate_draw
from core.sequence.draw_training import DrawTrainingJob
from core.sequence.settings import DrawConfig
from core.vae.inference import evaluate


def report(name: str, result: dict[str, float], steps: int, rate: float) -> None:
    print(
        f"  {name}: {result['nelbo']:.1f} nats ({result['bits_per_dim']:.4f} bits/dim; reconstruction "
        f"{result['reconstruction']:.1f}, KL {result['kl']:.1f}) after {steps} steps, {rate:.0f} images/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="training time per model")
    parser.add_argument("--glimpses", type=int, default=DrawConfig().glimpses, help="DRAW's T")
    parser.add_argument("--vae-width", type=int, help="the VAE's width; default: the app's for the device")
    args = parser.parse_args()
    device = pick_device()
    print(f"device: {describe(device)}; torch {torch.__version__}; {torch.get_num_threads()} threads")
    train, test = ImageSet.fashion_mnist("train"), ImageSet.fashion_mnist("test")
    folder = Path(tempfile.mkdtemp(prefix="draw-bench-"))
    never = 10**6  # steps: the time ends the run, and no preview or checkpoint interrupts it

    defaults = DrawConfig()
    results = []
    for attention in (True, False):
        draw = DrawTrainingJob(
            train, folder / f"draw-{attention}", steps=never, glimpses=args.glimpses, attention=attention,
            sample_every=never, checkpoint_every=never,
        )  # fmt: skip
        start = time.perf_counter()
        path, steps = train_for(draw, args.seconds)
        results.append((attention, path, steps, steps * defaults.batch_size / (time.perf_counter() - start)))
    start = time.perf_counter()
    vae_path, vae_steps = train_ours_for(train, args.seconds, args.vae_width, 32)
    vae_rate = vae_steps * 128 / (time.perf_counter() - start)

    print(f"Fashion-MNIST test set, {args.seconds:.0f} s of training each on {device}:")
    for attention, path, steps, rate in results:
        what = "with attention" if attention else "without attention"
        report(f"DRAW ({what}, T = {args.glimpses})", evaluate_draw(path, test), steps, rate)
    width = read_info(vae_path).config["width"]
    report(f"conv VAE (width {width})", evaluate(vae_path, test), vae_steps, vae_rate)


if __name__ == "__main__":
    main()
