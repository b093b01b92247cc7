"""The ConvLSTM forecaster on Moving Fashion-MNIST, beside copying the last frame, in the same run.

    python -m benchmarks.sequence [--seconds 1200] [--width 64] [--layers 2] [--batch-size 16]

Trains the app's forecaster (its training job and defaults: 10 frames read, 10 predicted, 64 px) on
Moving Fashion-MNIST generated as it goes (core.sequence.sequences, from Debian's dataset-fashion-mnist)
for --seconds of wall time (cancelled then, as a user's Cancel does, keeping its last weights); then, on
the 1,000 fixed held-out sequences made of Fashion-MNIST's test pictures, the mean squared error per pixel
and the SSIM of each of the 10 predicted frames, for the model and for copying the last frame read (which
predicts that nothing moves). The goal of issue 15: the model's MSE averaged over the 10 frames at most
0.6 of copying's. Also: training throughput (sequences and frames per second), the time to continue one
sequence by 10 frames (median of 20), and the process's peak memory.
"""

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from benchmarks.vae import train_for
from core.devices import describe, pick_device
from core.sequence.forecast_inference import continue_frames, evaluate_forecaster, load_forecaster
from core.sequence.forecast_training import ForecastTrainingJob
from core.sequence.sequences import moving_fashion_mnist
from core.sequence.settings import ForecastConfig

DEFAULTS = ForecastConfig()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1200, help="training time")
    parser.add_argument("--width", type=int, default=DEFAULTS.width, help="hidden channels per layer")
    parser.add_argument("--layers", type=int, default=DEFAULTS.layers)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr)
    args = parser.parse_args()
    device = pick_device()
    print(f"device: {describe(device)}; torch {torch.__version__}; {torch.get_num_threads()} threads")
    never = 10**6  # steps: the time ends the run, and no preview or checkpoint interrupts it
    job = ForecastTrainingJob(
        moving_fashion_mnist(), Path(tempfile.mkdtemp(prefix="sequence-bench-")), steps=never,
        width=args.width, layers=args.layers, batch_size=args.batch_size, lr=args.lr,
        sample_every=never, checkpoint_every=never,
    )  # fmt: skip
    start = time.perf_counter()
    path, steps = train_for(job, args.seconds)
    elapsed = time.perf_counter() - start
    config = load_forecaster(path).config
    rate = steps * config.batch_size / elapsed
    print(
        f"ConvLSTM (width {config.width}, {config.layers} + {config.layers} layers, batch "
        f"{config.batch_size}): {steps} steps in {elapsed:.0f} s, {rate:.1f} sequences/s "
        f"({rate * config.frames:.0f} frames/s)"
    )

    held_out = moving_fashion_mnist("test").held_out(config.frames)
    result = evaluate_forecaster(path, held_out, device=device)
    print(f"Held-out Moving Fashion-MNIST ({len(held_out)} sequences), per predicted frame:")
    print("frame    MSE   copy-last MSE   SSIM   copy-last SSIM")
    rows = zip(result["mse"], result["copy_last_mse"], result["ssim"], result["copy_last_ssim"], strict=True)
    for index, (mse, copy_mse, ssim, copy_ssim) in enumerate(rows, 1):
        print(f"{index:5d}  {mse:.4f}  {copy_mse:13.4f}  {ssim:5.3f}  {copy_ssim:15.3f}")
    mean = {key: statistics.fmean(values) for key, values in result.items()}
    print(
        f"mean   {mean['mse']:.4f}  {mean['copy_last_mse']:13.4f}  {mean['ssim']:5.3f}  "
        f"{mean['copy_last_ssim']:15.3f}"
    )
    print(f"MSE relative to copying the last frame: {mean['mse'] / mean['copy_last_mse']:.3f} (goal <= 0.6)")

    first = [Image.fromarray(frame[0].numpy()) for frame in held_out[0, : config.input_frames]]
    continue_frames(path, first, config.output_frames)  # loads the model
    times = []
    for _ in range(20):
        began = time.perf_counter()
        continue_frames(path, first, config.output_frames)
        times.append(time.perf_counter() - began)
    print(f"continue one sequence by {config.output_frames} frames: {1000 * statistics.median(times):.1f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print(f"peak memory (RSS): {peak:.2f} GiB")


if __name__ == "__main__":
    main()
