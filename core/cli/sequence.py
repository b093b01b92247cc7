"""Sequence studio commands: train-draw, sample-draw, reconstruct-draw, evaluate-draw (DRAW); train-sequence,
continue-sequence, evaluate-sequence (the ConvLSTM forecaster)."""

import argparse
import functools
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
from core.errors import UserError
from core.images import PICTURE, PICTURE_OR_GIF, load_image, own_size, save_gif, save_image
from core.jobs import run_job
from core.safety import check_output, check_output_folder
from core.sequence.settings import (
    DRAW_SIZES,
    FORECAST_SIZES,
    MOVING_FASHION_MNIST,
    DrawConfig,
    ForecastConfig,
)

_DEFAULTS = DrawConfig()
_FORECAST = ForecastConfig()


def frame_name(index: int) -> str:
    """The file of predicted frame `index` (from 0) in continue-sequence's output folder."""
    return f"frame-{index:03d}.png"


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


def _train_sequence(args: argparse.Namespace) -> int:
    from core.sequence.forecast_training import ForecastTrainingJob
    from core.sequence.sequences import open_sequences, sequence_shape

    size, frames = sequence_shape(args.resume, args.size, args.input_frames + args.output_frames)
    job = ForecastTrainingJob(
        lambda ctx: open_sequences(args.data, size, frames, report=ctx.message),
        args.out,
        steps=args.steps,
        input_frames=args.input_frames,
        output_frames=args.output_frames,
        width=args.width,
        layers=args.layers,
        batch_size=args.batch_size,
        lr=args.lr,
        resume=args.resume,
        device=args.device,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        data_name=Path(str(args.data)).name,
    )
    return report_result(run_with_progress(job, args.quiet), args.quiet)


def _continue_sequence(args: argparse.Namespace) -> int:
    from core.sequence.jobs import ContinueSequenceJob
    from core.video import read_frames

    output: Path = args.output
    as_gif = output.suffix.lower() == ".gif"
    inputs = [args.checkpoint, args.frames]
    if as_gif:
        check_output(output, inputs, PICTURE_OR_GIF)
    else:  # a folder of frames: never over its own frames, nor over an earlier run's
        targets = [output / frame_name(i) for i in range(args.frames_out)]
        check_output_folder(output, targets, inputs)
        taken = next((target for target in targets if target.exists()), None)
        if taken is not None:
            raise UserError(f"{output} already holds {taken.name}: choose a new or empty folder.")
    job = ContinueSequenceJob(args.checkpoint, functools.partial(read_frames, args.frames), args.frames_out)
    outcome = run_job(job)
    if outcome.result is None:
        return 130
    if as_gif:  # the frames read, then the predicted ones: the sequence as it goes on
        save_gif(job.frames, output)
    else:
        for index, frame in enumerate(job.predicted):
            save_image(frame, output / frame_name(index), {**outcome.result.settings, "index": index})
    if not args.quiet:
        print(output)
    return 0


def _evaluate_sequence(args: argparse.Namespace) -> int:
    from core.sequence.jobs import ForecastEvaluateJob

    result = run_job(ForecastEvaluateJob(args.checkpoint, args.data, args.device)).result
    if result is None:
        return 130
    print(f"{args.data}: per predicted frame, the model beside copying the last frame read")
    print("frame      MSE   copy-last MSE    SSIM   copy-last SSIM")
    rows = zip(result["mse"], result["copy_last_mse"], result["ssim"], result["copy_last_ssim"], strict=True)
    for index, (mse, copy_mse, ssim, copy_ssim) in enumerate(rows, 1):
        print(f"{index:5d}  {mse:7.4f}  {copy_mse:14.4f}  {ssim:6.3f}  {copy_ssim:15.3f}")
    mean = {key: sum(values) / len(values) for key, values in result.items()}
    print(
        f" mean  {mean['mse']:7.4f}  {mean['copy_last_mse']:14.4f}  {mean['ssim']:6.3f}  "
        f"{mean['copy_last_ssim']:15.3f}"
    )
    print(f"MSE relative to copying the last frame: {mean['mse'] / mean['copy_last_mse']:.3f}")
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

    train_sequence = commands.add_parser(
        "train-sequence", help="train a ConvLSTM that continues image sequences (Shi et al. 2015)"
    )
    train_sequence.add_argument(
        "data",
        help=f"a folder of sequences (subfolders of frames, GIFs, videos), one GIF or video, or "
        f"{MOVING_FASHION_MNIST}",
    )
    train_sequence.add_argument(
        "--size", type=int, choices=FORECAST_SIZES, help="frame size in px (default 64)"
    )
    train_sequence.add_argument("--steps", type=int, default=3000)
    train_sequence.add_argument("--out", type=Path, required=True, help="folder for sequence.safetensors")
    train_sequence.add_argument(
        "--input-frames", type=int, default=_FORECAST.input_frames, help="frames the model reads"
    )
    train_sequence.add_argument(
        "--output-frames", type=int, default=_FORECAST.output_frames, help="frames it learns to predict"
    )
    train_sequence.add_argument(
        "--width", type=int, default=_FORECAST.width, help="hidden channels of each ConvLSTM layer"
    )
    train_sequence.add_argument("--layers", type=int, default=_FORECAST.layers, help="ConvLSTM layers")
    train_sequence.add_argument("--batch-size", type=int, default=_FORECAST.batch_size)
    train_sequence.add_argument("--lr", type=float, default=_FORECAST.lr, help="Adam's learning rate")
    train_sequence.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train_sequence.add_argument("--sample-every", type=int, default=100)
    train_sequence.add_argument(
        "--checkpoint-every", type=int, default=500, help=CHECKPOINT_EVERY_HELP.format(unit="steps")
    )
    train_sequence.add_argument("--device", help=DEVICE_HELP)
    train_sequence.set_defaults(handler=_train_sequence)

    continue_sequence = commands.add_parser(
        "continue-sequence", help="predict the frames that follow a sequence with a trained ConvLSTM"
    )
    continue_sequence.add_argument("checkpoint", type=Path)
    continue_sequence.add_argument(
        "frames", type=Path, help="the sequence: a folder of frames (name order), a GIF or a video"
    )
    continue_sequence.add_argument(
        "--frames", dest="frames_out", type=int, default=10, help="how many frames to predict"
    )
    continue_sequence.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="a .gif (the frames read, then the predicted ones) or a folder for one PNG per predicted frame",
    )
    continue_sequence.set_defaults(handler=_continue_sequence)

    evaluate_sequence = commands.add_parser(
        "evaluate-sequence", help="per-frame MSE and SSIM of the predictions beside copying the last frame"
    )
    evaluate_sequence.add_argument("checkpoint", type=Path)
    evaluate_sequence.add_argument(
        "data", help=f"{MOVING_FASHION_MNIST} (its fixed held-out sequences) or a folder of sequences"
    )
    evaluate_sequence.add_argument("--device", help=DEVICE_HELP)
    evaluate_sequence.set_defaults(handler=_evaluate_sequence)
