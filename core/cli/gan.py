"""GAN commands: train-gan, sample-gan, interpolate-gan."""

import argparse
from pathlib import Path
from typing import Any

from core.cli.common import (
    CHECKPOINT_EVERY_HELP,
    DEVICE_HELP,
    GRID,
    report_result,
    run_with_progress,
    save_frames,
    save_samples,
)
from core.gan.settings import SIZES
from core.images import PICTURE, PICTURE_OR_GIF, own_size
from core.jobs import run_job
from core.safety import check_output


def _train_gan(args: argparse.Namespace) -> int:
    from core.data import training_data
    from core.gan.training import GanTrainingJob

    size = args.size or own_size(args.data, SIZES)
    job = GanTrainingJob(
        lambda ctx: training_data(args.data, size, args.resume, report=ctx.message),
        args.out,
        steps=args.steps,
        size=size,
        width=args.width,
        batch_size=args.batch_size,
        conditional=args.conditional,
        resume=args.resume,
        device=args.device,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        data_name=Path(str(args.data)).name,
    )
    return report_result(run_with_progress(job, args.quiet), args.quiet)


def _sample_gan(args: argparse.Namespace) -> int:
    from core.gan.jobs import SampleJob

    check_output(args.out / GRID, [args.checkpoint], PICTURE)
    job = SampleJob(args.checkpoint, args.n, args.seed, args.truncation, args.class_name)
    outcome = run_job(job)
    return 130 if outcome.result is None else save_samples(job.images, outcome.result, args.out, args.quiet)


def _interpolate_gan(args: argparse.Namespace) -> int:
    from core.gan.jobs import InterpolateJob

    check_output(args.output, [args.checkpoint], PICTURE_OR_GIF)
    job = InterpolateJob(args.checkpoint, args.steps, args.seed_a, args.seed_b, args.class_name)
    outcome = run_job(job)
    return 130 if outcome.result is None else save_frames(job.frames, outcome.result, args.output, args.quiet)


def add_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    train_gan = commands.add_parser("train-gan", help="train a GAN on a folder of images or a data set")
    train_gan.add_argument("data", help="a folder of images, fashion-mnist, or torchvision:NAME (downloads)")
    train_gan.add_argument(
        "--size", type=int, choices=SIZES, help="default: the pictures' own (32 for 28 px ones), photos 64"
    )
    train_gan.add_argument("--steps", type=int, default=5000)
    train_gan.add_argument("--out", type=Path, required=True, help="folder for gan.safetensors")
    train_gan.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train_gan.add_argument(
        "--conditional", action="store_true", help="one class per subfolder; pick at sampling"
    )
    train_gan.add_argument("--width", type=int, help="network width (default: 32 on a CPU, 64 on a GPU)")
    train_gan.add_argument("--batch-size", type=int, default=64)
    train_gan.add_argument("--sample-every", type=int, default=100)
    train_gan.add_argument(
        "--checkpoint-every", type=int, default=500, help=CHECKPOINT_EVERY_HELP.format(unit="steps")
    )
    train_gan.add_argument("--device", help=DEVICE_HELP)
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
