"""neural-easel-cli: the app's jobs without a window.

Each command builds the same core job the desktop app runs and drives it with a terminal progress bar.
Exit status: 0 done, 1 a problem with the input (message on stderr), 2 bad usage, 130 interrupted.
"""

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from core import __version__, paths
from core.errors import UserError, user_message
from core.images import load_image, save_image
from core.jobs import Event, ImageResult, Job, Message, Outcome, Progress, R, run_job
from core.logs import setup_logging
from core.style.colour import COLOUR_MODES, ColourTransferJob, KeepColours

log = logging.getLogger(__name__)


class TerminalProgress:
    """Turns job events into one tqdm bar on stderr, titled with the current stage."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: tqdm[Any] | None = None

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, Progress):
            if self._bar is None:
                self._bar = tqdm(total=event.total, unit="step", file=sys.stderr)
            self._bar.set_description(event.stage, refresh=False)
            self._bar.n = event.step
            if event.losses:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in event.losses.items()}, refresh=False)
            self._bar.refresh()
        elif isinstance(event, Message):
            tqdm.write(event.text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _run_with_progress(job: Job[R], quiet: bool) -> Outcome[R]:
    progress = TerminalProgress(quiet)
    try:
        return run_job(job, progress)
    finally:
        progress.close()


def _run_image_job(job: Job[ImageResult], output: Path, quiet: bool) -> int:
    outcome = _run_with_progress(job, quiet)
    if outcome.result is None:
        return 130
    save_image(outcome.result.image, output, outcome.result.settings)
    if not quiet:
        print(output)
    return 0


def _colour_transfer(args: argparse.Namespace) -> int:
    job = ColourTransferJob(load_image(args.content), load_image(args.palette), args.mode, args.strength)
    return _run_image_job(job, args.output, args.quiet)


def _stylize(args: argparse.Namespace) -> int:
    from core.style.batch import BatchJob

    make_job = _stylize_job_factory(args)
    if args.content.is_dir():
        outcome = _run_with_progress(
            BatchJob(args.content, args.output, make_job, suffix=args.suffix), args.quiet
        )
        if outcome.result is None:
            return 130
        if not args.quiet:
            print("\n".join(map(str, outcome.result.written)))
        for path, reason in outcome.result.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        return 130 if outcome.cancelled else 0
    return _run_image_job(make_job(load_image(args.content)), args.output, args.quiet)


def _stylize_job_factory(args: argparse.Namespace) -> Callable[[Image.Image], Job[ImageResult]]:
    """The per-picture job the options describe (the same for one picture and for a folder)."""
    keep: KeepColours = args.keep_colors or "off"
    if args.method == "fast":
        from core.style.fast import FastStyleJob, load_transformer

        if args.model is None:
            raise UserError("--method fast needs --model FILE (a network trained with train-style).")
        load_transformer(args.model)  # refuse a wrong or damaged model before any picture is read
        return lambda picture: FastStyleJob(
            picture, args.model, keep_colours=keep, tile=args.tile, device=args.device
        )
    from core.style.gatys import GatysJob
    from core.style.settings import GatysSettings, StyleImage

    if not args.style:
        raise UserError("Give at least one --style image (or --method fast --model FILE).")
    weights = args.style_weight or []
    if len(weights) > len(args.style):
        raise UserError(f"{len(weights)} --style-weight values for {len(args.style)} --style images.")
    weights += [1.0] * (len(args.style) - len(weights))
    styles = [StyleImage(load_image(p), w, p.stem) for p, w in zip(args.style, weights, strict=True)]
    settings = GatysSettings(
        size=args.size,
        iterations=args.iterations,
        scales=args.scales,
        style_strength=args.strength,
        smoothing=args.smoothing,
        style_scale=args.style_scale,
        optimiser=args.optimiser,
        init=args.init,
        seed=args.seed,
        keep_colours=keep,
        tile=args.tile,
        device=args.device,
        weights_file=str(args.vgg_weights) if args.vgg_weights else None,
    )
    return lambda picture: GatysJob(picture, styles, settings)


def _train_style(args: argparse.Namespace) -> int:
    from core.style.fast import FastStyleTrainingJob

    job = FastStyleTrainingJob(
        load_image(args.style),
        args.photos,
        args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        image_size=args.image_size,
        device=args.device,
        resume=args.resume,
        style_name=args.style.stem,
    )
    outcome = _run_with_progress(job, args.quiet)
    if outcome.result is not None and not args.quiet:
        print(outcome.result)
    return 130 if outcome.cancelled else 0


def _train_gan(args: argparse.Namespace) -> int:
    from core.data import open_data_set
    from core.gan import GanTrainingJob

    job = GanTrainingJob(
        lambda ctx: open_data_set(args.data, args.size, report=ctx.message),
        args.out,
        steps=args.steps,
        size=args.size,
        width=args.width,
        batch_size=args.batch_size,
        conditional=args.conditional,
        resume=args.resume,
        device=args.device,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        data_name=Path(str(args.data)).name,
    )
    outcome = _run_with_progress(job, args.quiet)
    if outcome.result is not None and not args.quiet:
        print(outcome.result)
    return 130 if outcome.cancelled else 0


def _sample_gan(args: argparse.Namespace) -> int:
    from core.gan import SampleJob

    job = SampleJob(args.checkpoint, args.n, args.seed, args.truncation, args.class_name)
    outcome = run_job(job)
    if outcome.result is None:
        return 130
    for index, image in enumerate(job.images):
        save_image(image, args.out / f"sample-{index:03d}.png", {**outcome.result.settings, "index": index})
    save_image(outcome.result.image, args.out / "grid.png", outcome.result.settings)
    if not args.quiet:
        print(args.out / "grid.png")
    return 0


def _interpolate_gan(args: argparse.Namespace) -> int:
    from core.gan import InterpolateJob, save_gif

    job = InterpolateJob(args.checkpoint, args.steps, args.seed_a, args.seed_b, args.class_name)
    outcome = run_job(job)
    if outcome.result is None:
        return 130
    if args.output.suffix.lower() == ".gif":
        save_gif(job.frames, args.output)
    else:
        save_image(outcome.result.image, args.output, outcome.result.settings)
    if not args.quiet:
        print(args.output)
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from core.style.fast import export_onnx

    difference = export_onnx(args.model, args.output)
    if not args.quiet:
        print(f"{args.output} (onnxruntime agrees with PyTorch to {difference:.1e})")
    return 0


def _devices(args: argparse.Namespace) -> int:
    from core import devices

    for name in devices.available_devices():
        print(f"{name}\t{devices.describe(devices.pick_device(name))}")
    print(f"auto -> {devices.pick_device()}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from core.catalog import scan_models

    folder = args.folder or paths.models_dir()
    scan = scan_models(folder)
    for model in scan.models:
        print(f"{model.info.kind}\t{model.info.arch}\t{model.info.created}\t{model.path}")
    for path, reason in scan.unreadable:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not scan.models:
        print(f"No trained models in {folder}.", file=sys.stderr)
    return 0


def _strength(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neural-easel-cli", description="Neural Easel's jobs without a window."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or output path")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    colour = commands.add_parser("colour-transfer", help="give a picture the colours of a palette image")
    colour.add_argument("content", type=Path, help="the picture to recolour")
    colour.add_argument("palette", type=Path, help="the image whose colours to take")
    colour.add_argument("-o", "--output", type=Path, required=True, help="output file (.png, .jpg, .webp)")
    colour.add_argument(
        "--mode",
        choices=COLOUR_MODES,
        default="reinhard",
        help="reinhard: per-channel colour statistics (default); covariance: full RGB covariance; "
        "luminance: brightness and contrast only, keep the picture's colours",
    )
    colour.add_argument("--strength", type=_strength, default=1.0, help="0..1, blend with the original")
    colour.set_defaults(handler=_colour_transfer)

    stylize = commands.add_parser(
        "stylize", help="paint a picture (or every picture in a folder) in the style of paintings"
    )
    stylize.add_argument("content", type=Path, help="a picture, or a folder of pictures")
    stylize.add_argument("--style", type=Path, action="append", help="a style image (repeat to blend)")
    stylize.add_argument(
        "--style-weight",
        type=float,
        action="append",
        help="blend weight of each --style, in order (default 1)",
    )
    stylize.add_argument("--method", choices=("optimise", "fast"), default="optimise")
    stylize.add_argument("--model", type=Path, help="with --method fast: a network trained by train-style")
    stylize.add_argument("--size", type=int, default=512, help="long side of the output in px (optimise)")
    stylize.add_argument("--iterations", type=int, default=200, help="at the coarsest scale (optimise)")
    stylize.add_argument("--scales", type=int, default=3, help="coarse-to-fine levels; 1 = single scale")
    stylize.add_argument("--strength", type=float, default=1.0, help="style strength")
    stylize.add_argument("--smoothing", type=float, default=1.0, help="total-variation smoothing")
    stylize.add_argument(
        "--style-scale", type=float, default=1.0, help="brush-stroke size (style image scale)"
    )
    stylize.add_argument("--optimiser", choices=("lbfgs", "adam"), default="lbfgs")
    stylize.add_argument("--init", choices=("content", "noise"), default="content")
    stylize.add_argument("--seed", type=int, default=0)
    stylize.add_argument(
        "--keep-colors",
        nargs="?",
        const="luminance",
        choices=("luminance", "match"),
        help="keep the picture's colours: luminance-only transfer (default) or match the styles' colours",
    )
    stylize.add_argument("--tile", type=int, default=768, help="work in tiles above this size (memory)")
    stylize.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    stylize.add_argument("--vgg-weights", type=Path, help="a VGG weights file to use instead of the built-in")
    stylize.add_argument("--suffix", default=".png", help="output type for a folder (.png, .jpg, .webp)")
    stylize.add_argument(
        "-o", "--output", type=Path, required=True, help="output file, or folder for a folder"
    )
    stylize.set_defaults(handler=_stylize)

    train = commands.add_parser("train-style", help="train a fast style network on a folder of photos")
    train.add_argument("style", type=Path, help="the style image")
    train.add_argument("--photos", type=Path, required=True, help="a folder of photos to learn from")
    train.add_argument("--out", type=Path, required=True, help="the network file to write (.safetensors)")
    train.add_argument("--steps", type=int, default=2000)
    train.add_argument("--batch-size", type=int, default=4)
    train.add_argument("--image-size", type=int, default=256)
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    train.set_defaults(handler=_train_style)

    export = commands.add_parser("export-onnx", help="export a fast style network to ONNX (checked)")
    export.add_argument("model", type=Path, help="a network trained by train-style")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    export.set_defaults(handler=_export_onnx)

    train_gan = commands.add_parser("train-gan", help="train a GAN on a folder of images or a data set")
    train_gan.add_argument("data", help="a folder of images, fashion-mnist, or torchvision:NAME (downloads)")
    train_gan.add_argument("--size", type=int, choices=(32, 64, 128), default=64)
    train_gan.add_argument("--steps", type=int, default=5000)
    train_gan.add_argument("--out", type=Path, required=True, help="folder for gan.safetensors")
    train_gan.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train_gan.add_argument(
        "--conditional", action="store_true", help="one class per subfolder; pick at sampling"
    )
    train_gan.add_argument(
        "--width", type=int, default=64, help="network width (16-32 trains faster on a CPU)"
    )
    train_gan.add_argument("--batch-size", type=int, default=64)
    train_gan.add_argument("--sample-every", type=int, default=100)
    train_gan.add_argument("--checkpoint-every", type=int, default=500)
    train_gan.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    train_gan.set_defaults(handler=_train_gan)

    sample_gan = commands.add_parser("sample-gan", help="draw images from a trained GAN")
    sample_gan.add_argument("checkpoint", type=Path)
    sample_gan.add_argument("-n", type=int, default=64, help="how many images")
    sample_gan.add_argument("--seed", type=int, default=0)
    sample_gan.add_argument("--truncation", type=float, default=1.0, help="0-1: lower is tamer (1 = off)")
    sample_gan.add_argument("--class", dest="class_name", help="the class to draw (conditional models)")
    sample_gan.add_argument("--out", type=Path, required=True, help="folder: one PNG per sample + grid.png")
    sample_gan.set_defaults(handler=_sample_gan)

    interpolate_gan = commands.add_parser("interpolate-gan", help="morph between two GAN samples")
    interpolate_gan.add_argument("checkpoint", type=Path)
    interpolate_gan.add_argument("--steps", type=int, default=16)
    interpolate_gan.add_argument("--seed-a", type=int, default=0)
    interpolate_gan.add_argument("--seed-b", type=int, default=1)
    interpolate_gan.add_argument("--class", dest="class_name")
    interpolate_gan.add_argument(
        "-o", "--output", type=Path, required=True, help="a .gif, or .png for a strip"
    )
    interpolate_gan.set_defaults(handler=_interpolate_gan)

    devices = commands.add_parser("devices", help="list the compute devices PyTorch can use here")
    devices.set_defaults(handler=_devices)

    models = commands.add_parser("models", help="list trained models")
    models.add_argument("folder", type=Path, nargs="?", help=f"default: {paths.models_dir()}")
    models.set_defaults(handler=_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("Interrupted: nothing was written.", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.exception("command %s failed", args.command)
        print(f"error: {user_message(exc)}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
