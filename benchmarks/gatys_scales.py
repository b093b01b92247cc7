"""Coarse-to-fine against single-scale Gatys at a large size, judged at one fixed analysis resolution.

    python -m benchmarks.gatys_scales [--size 1024] [--pair sample.jpg:starry_night.jpg]
                                      [--coarse 32 48 64 96] [--scales 3] [--analysis 512] [--out FOLDER]

VGG's deep Gram statistics depend on the resolution they are computed at, so a loss measured at each
result's own size cannot compare a 1024 px result with another: both results are downsampled to
--analysis px (Lanczos) and judged there, against the style image at that size and the photo at that
size, with the product's own balance at strength 1:

    quality loss = L_content + STYLE_WEIGHT * L_style / L_style(photo)      (core.style.gatys, no TV)

The reference is single-scale's 100-iteration result at --size (scales 1, L-BFGS, the window's other
defaults). Then coarse-to-fine runs at --scales levels, with each --coarse count of iterations at the
coarsest (each finer level runs half as many: core.style.settings.GatysSettings.schedule). Printed per run,
with the device: wall time (set-up included), the time relative to single-scale's, the quality loss and its
two terms. The goal (issue 18): a coarse-to-fine run at or below single-scale's quality loss in at most a
third of its time. --out writes each result downsampled to the analysis size, to look at side by side.
"""

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from benchmarks.gatys_balance import find
from core.devices import describe, pick_device
from core.features import load_features
from core.images import load_image, resize_long_side, to_tensor
from core.jobs import run_job
from core.style.gatys import STYLE_WEIGHT, GatysJob
from core.style.losses import CONTENT_LAYERS, STYLE_LAYERS, content_loss, gram, style_loss
from core.style.settings import GatysSettings, StyleImage

Score = tuple[float, float, float]  # (quality loss, content term, style term)


def judge(
    photo: Image.Image, style: Image.Image, side: int, device: torch.device
) -> Callable[[Image.Image], Score]:
    """A function scoring a result at `side` px against the photo and the style at `side` px."""
    net = load_features().net.to(device)
    photo_t = to_tensor(resize_long_side(photo, side), device)
    with torch.no_grad():
        style_features = net(to_tensor(resize_long_side(style, side), device), STYLE_LAYERS)
        targets = {layer: gram(f) for layer, f in style_features.items()}
        content_targets = net(photo_t, CONTENT_LAYERS)
        start = float(style_loss(net(photo_t, STYLE_LAYERS), targets))  # L_style(photo)

    def score(result: Image.Image) -> Score:
        image = result.resize((photo_t.shape[-1], photo_t.shape[-2]), Image.Resampling.LANCZOS)
        with torch.no_grad():
            features = net(to_tensor(image, device), (*CONTENT_LAYERS, *STYLE_LAYERS))
            content = float(content_loss(features, content_targets))
            style = float(style_loss(features, targets))
        return content + STYLE_WEIGHT * style / start, content, style

    return score


def stylize(photo: Image.Image, style: Image.Image, settings: GatysSettings) -> tuple[Image.Image, float]:
    """(the result, wall seconds with set-up: targets and every scale)."""
    start = time.perf_counter()
    result = run_job(GatysJob(photo, [StyleImage(style)], settings)).result
    assert result is not None  # nothing cancels it
    return result.image, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--pair", default="sample.jpg:starry_night.jpg", help="CONTENT:STYLE")
    parser.add_argument("--coarse", type=int, nargs="+", default=[32, 48, 64, 96])
    parser.add_argument("--scales", type=int, default=3)
    parser.add_argument("--analysis", type=int, default=512)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = pick_device()
    content_name, style_name = args.pair.split(":")
    photo, style = (load_image(find(name)) for name in (content_name, style_name))
    score = judge(photo, style, args.analysis, device)
    print(f"device: {describe(device)}; {args.pair} at {args.size} px, judged at {args.analysis} px")
    load_features()  # the network is loaded once, before any run is timed
    base = GatysSettings(size=args.size, preview_every=10**6)

    runs = [("single scale, 100 iterations", replace(base, scales=1, iterations=100))]
    for coarse in args.coarse:
        settings = replace(base, scales=args.scales, iterations=coarse)
        plan = " -> ".join(f"{side} px x {its}" for side, its in settings.schedule())
        runs.append((f"coarse-to-fine {plan}", settings))
    reference: float | None = None
    for name, settings in runs:
        image, seconds = stylize(photo, style, settings)
        total, content, style_term = score(image)
        reference = reference or seconds
        print(
            f"{name}: {seconds:.1f} s ({seconds / reference:.2f} of single scale); quality loss "
            f"{total:.4f} (content {content:.4f}, style {style_term:.5f})",
            flush=True,
        )
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            tag = "single" if settings.scales == 1 else f"c2f-{settings.iterations}"
            resize_long_side(image, args.analysis).save(args.out / f"{tag}.png")


if __name__ == "__main__":
    main()
