"""Style commands: colour-transfer, stylize (a picture or a folder), train-style, export-onnx."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from core.cli.common import (
    CHECKPOINT_EVERY_HELP,
    DEVICE_HELP,
    INTERRUPTS,
    exit_status,
    fraction,
    report_result,
    run_image_job,
    run_with_progress,
)
from core.errors import UserError
from core.export import ONNX_MODEL
from core.images import PICTURE, load_image
from core.jobs import ImageResult, Job
from core.safety import check_output
from core.style.colour import COLOUR_MODES, ColourTransferJob, KeepColours
from core.style.settings import FAST_STYLE_STEPS


def _colour_transfer(args: argparse.Namespace) -> int:
    check_output(args.output, [args.content, args.palette], PICTURE)
    job = ColourTransferJob(load_image(args.content), load_image(args.palette), args.mode, args.strength)
    return run_image_job(job, args.output, args.quiet)


def _stylize(args: argparse.Namespace) -> int:
    from core.style.batch import BatchJob

    inputs = [*(args.style or []), args.model, args.vgg_weights]
    if args.content.is_dir():
        batch = BatchJob(
            args.content,
            args.output,
            _stylize_job_factory(args),
            suffix=args.suffix,
            other_inputs=[p for p in inputs if p is not None],
        )
        outcome = run_with_progress(batch, args.quiet)
        if outcome.result is None:
            return INTERRUPTS.status
        if not args.quiet:
            print("\n".join(map(str, outcome.result.written)))
        for path, reason in outcome.result.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        return exit_status(outcome)
    check_output(args.output, [args.content, *inputs], PICTURE)
    make_job = _stylize_job_factory(args)
    return run_image_job(make_job(load_image(args.content)), args.output, args.quiet)


def _stylize_job_factory(args: argparse.Namespace) -> Callable[[Image.Image], Job[ImageResult]]:
    """The per-picture job the options describe (the same for one picture and for a folder)."""
    keep: KeepColours = args.keep_colors or "off"
    if args.method == "fast":
        from core.style.fast import FastStyleJob
        from core.style.networks import load_transformer

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
    from core.style.training import FastStyleTrainingJob

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
        checkpoint_every=args.checkpoint_every,
    )
    return report_result(run_with_progress(job, args.quiet), args.quiet)


def _export_onnx(args: argparse.Namespace) -> int:
    from core.style.fast import export_onnx

    check_output(args.output, [args.model], ONNX_MODEL)
    difference = export_onnx(args.model, args.output)
    if not args.quiet:
        print(f"{args.output} (onnxruntime agrees with PyTorch to {difference:.1e})")
    return 0


def add_commands(commands: "argparse._SubParsersAction[Any]") -> None:
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
    colour.add_argument("--strength", type=fraction, default=1.0, help="0..1, blend with the original")
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
    stylize.add_argument("--device", help=DEVICE_HELP)
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
    train.add_argument("--steps", type=int, default=FAST_STYLE_STEPS)
    train.add_argument("--batch-size", type=int, default=4)
    train.add_argument("--image-size", type=int, default=256)
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument(
        "--checkpoint-every", type=int, default=500, help=CHECKPOINT_EVERY_HELP.format(unit="steps")
    )
    train.add_argument("--device", help=DEVICE_HELP)
    train.set_defaults(handler=_train_style)

    export = commands.add_parser("export-onnx", help="export a fast style network to ONNX (checked)")
    export.add_argument("model", type=Path, help="a network trained by train-style")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    export.set_defaults(handler=_export_onnx)
