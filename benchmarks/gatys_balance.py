"""How far Gatys style transfer moves the photo, per content x style pair: the fixed balance of the method
before vs the adaptive default (core.style.gatys: the style term divided by the photo's own style loss).

    python -m benchmarks.gatys_balance [--pairs CONTENT:STYLE ...] [--size 256] [--iterations 300]
                                       [--seed 1] [--max-strength 10] [--out FOLDER] [--device DEVICE]

Prints, with the device, for each pair: the photo's own style loss (L_style(photo), what the adaptive
balance divides by), then for the old fixed balance (10 * L_style) at strength 1, the adaptive default at
strength 1 and the adaptive balance at the window slider's top (--max-strength): the content distance
(||F - F_photo|| / ||F_photo|| at relu4_2: 0 is the photo, about 0.9 is full abstraction after 300
iterations) and the final style loss, raw and relative to the photo's. The old balance is the adaptive one
at strength 10 * L_style(photo) / STYLE_WEIGHT: the same loss, reproduced here, not kept in the product.
Pairs are CONTENT:STYLE, each a file name in resources/images or tests/data, or a path (default: the app's
own pictures and public-domain paintings, from close to far apart in style). --out writes a contact sheet,
gatys_balance.png: per pair the photo, the style, old, default, maximum.
"""

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from core.devices import describe, pick_device
from core.features import load_features
from core.images import load_image, to_tensor
from core.jobs import ImageResult, run_job
from core.style.gatys import STYLE_WEIGHT, GatysJob
from core.style.losses import CONTENT_LAYERS, content_loss
from core.style.settings import GatysSettings, StyleImage

REPO = Path(__file__).resolve().parents[1]
FOLDERS = (REPO / "resources" / "images", REPO / "tests" / "data")
DEFAULT_PAIRS = ("sample.jpg:starry_night.jpg", "dusk.jpg:the_scream.jpg", "ocean.jpg:shipwreck.jpg")
OLD_STYLE_WEIGHT = 10.0  # the fixed weight before the adaptive balance
THUMB = 160  # contact sheet cell, px


@dataclass(frozen=True)
class Outcome:
    image: Image.Image
    distance: float
    style: float


def find(name: str) -> Path:
    """A picture by file name in the project's folders, or a path."""
    return next((folder / name for folder in FOLDERS if (folder / name).exists()), Path(name))


def distance(image: Image.Image, photo: Image.Image, device: torch.device) -> float:
    """Relative relu4_2 distance of `image` from `photo` (resized to `image`'s size)."""
    net = load_features().net.to(device)
    reference = photo.resize(image.size, Image.Resampling.LANCZOS)
    with torch.no_grad():
        ours, theirs = (net(to_tensor(im, device), CONTENT_LAYERS) for im in (image, reference))
    return math.sqrt(float(content_loss(ours, theirs)))


def stylize(photo: Image.Image, style: Image.Image, settings: GatysSettings) -> ImageResult:
    result = run_job(GatysJob(photo, [StyleImage(style)], settings)).result
    assert result is not None  # nothing cancels it
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, metavar="CONTENT:STYLE")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-strength", type=float, default=10.0, help="the window's slider top: 1000 %%")
    parser.add_argument("--out", type=Path, metavar="FOLDER", help="write a contact sheet there")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    pairs = [tuple(find(name) for name in pair.split(":", 1)) for pair in args.pairs]
    for path in (path for pair in pairs for path in pair):
        if not path.exists():
            parser.error(f"{path} does not exist")
    device = pick_device(args.device)
    print(f"device: {describe(device)}; torch {torch.__version__}; feature network: {load_features().source}")
    print(
        f"{args.size} px, {args.iterations} iterations, seed {args.seed}; distance = relu4_2 from the photo"
    )
    print("pair | photo's style loss | balance | strength | content distance | style loss (/ photo's) | s")
    rows: list[list[Image.Image]] = []
    for content_path, style_path in pairs:
        photo, style = load_image(content_path), load_image(style_path)
        base = GatysSettings(
            size=args.size,
            iterations=args.iterations,
            seed=args.seed,
            device=args.device,
            preview_every=10**6,
        )
        # The default run first: it measures the photo's style loss, which the old balance's strength needs.
        outcomes: dict[str, Outcome] = {}
        start_style = 0.0
        for balance in ("default", "old fixed", "maximum"):
            strength = {"default": 1.0, "maximum": args.max_strength}.get(
                balance, OLD_STYLE_WEIGHT * start_style / STYLE_WEIGHT
            )
            started = time.perf_counter()
            result = stylize(photo, style, dataclasses.replace(base, style_strength=strength))
            start_style = result.settings["start_style_loss"]
            final_style = result.settings["losses"]["style"]
            outcomes[balance] = Outcome(result.image, distance(result.image, photo, device), final_style)
            print(
                f"{content_path.stem} x {style_path.stem} | {start_style:.3f} | {balance} | {strength:.2f} | "
                f"{outcomes[balance].distance:.3f} | {final_style:.4f} ({final_style / start_style:.3f}) | "
                f"{time.perf_counter() - started:.0f}",
                flush=True,
            )
        rows.append([photo, style, *(outcomes[name].image for name in ("old fixed", "default", "maximum"))])
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        sheet = contact_sheet(rows)
        sheet.save(args.out / "gatys_balance.png")
        print(f"contact sheet (photo, style, old fixed, default, maximum): {args.out / 'gatys_balance.png'}")


def contact_sheet(rows: list[list[Image.Image]]) -> Image.Image:
    """Each row's pictures fitted into THUMB x THUMB cells, on white."""
    columns = max(len(row) for row in rows)
    sheet = Image.new("RGB", (columns * THUMB, len(rows) * THUMB), "white")
    for y, row in enumerate(rows):
        for x, picture in enumerate(row):
            cell = picture.copy()
            cell.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
            sheet.paste(cell, (x * THUMB + (THUMB - cell.width) // 2, y * THUMB + (THUMB - cell.height) // 2))
    return sheet


if __name__ == "__main__":
    main()
