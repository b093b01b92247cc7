"""Sequence studio commands: train-draw, sample-draw, reconstruct-draw, evaluate-draw."""

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
from core.images import PICTURE, PICTURE_OR_GIF, load_image, own_size, save_gif
from core.jobs import run_job
from core.safety import check_output
from core.sequence.settings import DRAW_SIZES, DrawConfig

_DEFAULTS = DrawConfig()


def _train_draw(args: argparse.Namespace) -> int:
    from core.data import training_data
    from core.sequence.draw_training import DrawTrainingJob

    size = args.size or own_size(args.data, DRAW_SIZES)
    job = DrawTrainingJob(
        lambda ctx: training_data(args.data, size, args.resume, report=ctx.message),
        args.out,
        steps=args.steps,
        size=size,
        glimpses=args.glimpses,
        attention=not args.no_attention,
        hidden=args.hidden,
        latent=args.latent,
        batch_size=args.batch_size,
        lr=args.lr,
        resume=args.resume,
        device=args.device,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        data_name=Path(str(args.data)).name,
    )
    return report_result(run_with_progress(job, args.quiet), args.quiet)


def _sample_draw(args: argparse.Namespace) -> int:
    from core.sequence.jobs import DrawSampleJob

    check_output(args.out / GRID, [args.checkpoint], PICTURE)
    job = DrawSampleJob(args.checkpoint, args.n, args.seed)
    outcome = run_job(job)
    if outcome.result is None:
        return 130
    if args.gif:  # one animation per sample, beside its PNG: the canvas after each glimpse
        for index, drawing in enumerate(job.drawings):
            save_gif(drawing, args.out / f"sample-{index:03d}.gif")
    return save_samples([drawing[-1] for drawing in job.drawings], outcome.result, args.out, args.quiet)


def _reconstruct_draw(args: argparse.Namespace) -> int:
    from core.sequence.jobs import DrawReconstructJob

    check_output(args.output, [args.checkpoint, args.image], PICTURE_OR_GIF)
    job = DrawReconstructJob(args.checkpoint, load_image(args.image))
    outcome = run_job(job)
    return 130 if outcome.result is None else save_frames(job.frames, outcome.result, args.output, args.quiet)


def _evaluate_draw(args: argparse.Namespace) -> int:
    from core.sequence.jobs import DrawEvaluateJob

    result = run_job(DrawEvaluateJob(args.checkpoint, args.data, args.device, split=args.split)).result
    if result is None:
        return 130
    print(
        f"{args.data} ({args.split}): negative ELBO {result['nelbo']:.2f} nats per image "
        f"({result['bits_per_dim']:.4f} bits/dim; reconstruction {result['reconstruction']:.2f}, "
        f"KL {result['kl']:.2f})"
    )
    return 0


def add_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    train = commands.add_parser(
        "train-draw", help="train DRAW, a recurrent VAE that draws a picture glimpse by glimpse"
    )
    train.add_argument("data", help="a folder of images, fashion-mnist, or torchvision:NAME (downloads)")
    train.add_argument(
        "--size", type=int, choices=DRAW_SIZES, help="default: the pictures' own (28 for fashion-mnist)"
    )
    train.add_argument("--steps", type=int, default=3000)
    train.add_argument("--out", type=Path, required=True, help="folder for draw.safetensors")
    train.add_argument(
        "--glimpses", type=int, default=_DEFAULTS.glimpses, help="T: how many strokes a drawing takes"
    )
    train.add_argument(
        "--no-attention", action="store_true", help="read and write the whole canvas at every glimpse"
    )
    train.add_argument("--hidden", type=int, default=_DEFAULTS.hidden, help="LSTM units of each network")
    train.add_argument("--latent", type=int, default=_DEFAULTS.latent, help="latent dimensions per glimpse")
    train.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    train.add_argument("--lr", type=float, default=_DEFAULTS.lr, help="Adam's learning rate")
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument("--sample-every", type=int, default=100)
    train.add_argument(
        "--checkpoint-every", type=int, default=500, help=CHECKPOINT_EVERY_HELP.format(unit="steps")
    )
    train.add_argument("--device", help=DEVICE_HELP)
    train.set_defaults(handler=_train_draw)

    sample = commands.add_parser("sample-draw", help="new drawings from a trained DRAW model")
    sample.add_argument("checkpoint", type=Path)
    sample.add_argument("-n", type=int, default=16, help="how many drawings")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument(
        "--out", type=Path, required=True, help="folder: one PNG per drawing + grid.png (and GIFs)"
    )
    sample.add_argument("--gif", action="store_true", help="also one animated GIF per drawing")
    sample.set_defaults(handler=_sample_draw)

    reconstruct = commands.add_parser(
        "reconstruct-draw", help="DRAW redrawing a picture: it beside its redrawing, or the glimpses as a GIF"
    )
    reconstruct.add_argument("checkpoint", type=Path)
    reconstruct.add_argument("image", type=Path)
    reconstruct.add_argument("-o", "--output", type=Path, required=True, help="a .png or a .gif")
    reconstruct.set_defaults(handler=_reconstruct_draw)

    evaluate = commands.add_parser("evaluate-draw", help="negative ELBO of a data set (nats, bits/dim)")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("data", help="a folder of images, fashion-mnist, or torchvision:NAME")
    evaluate.add_argument("--split", choices=("train", "test"), default="test", help="of a built-in set")
    evaluate.add_argument("--device", help=DEVICE_HELP)
    evaluate.set_defaults(handler=_evaluate_draw)
