"""VAE commands: train-vae, sample-vae, reconstruct, interpolate-vae, evaluate-vae."""

import argparse
from pathlib import Path
from typing import Any

from core.cli.common import (
    CHECKPOINT_EVERY_HELP,
    DEVICE_HELP,
    GRID,
    report_result,
    run_image_job,
    run_with_progress,
    save_frames,
    save_samples,
)
from core.images import PICTURE, PICTURE_OR_GIF, load_image, own_size
from core.jobs import run_job
from core.safety import check_output
from core.vae.settings import LIKELIHOODS, PRIORS, SIZES


def _train_vae(args: argparse.Namespace) -> int:
    from core.data import training_data
    from core.vae.training import VaeTrainingJob

    size = args.size or own_size(args.data, SIZES)
    job = VaeTrainingJob(
        lambda ctx: training_data(args.data, size, args.resume, report=ctx.message),
        args.out,
        steps=args.steps,
        size=size,
        latent=args.latent,
        width=args.width,
        beta=args.beta,
        likelihood=args.likelihood,
        batch_size=args.batch_size,
        resume=args.resume,
        device=args.device,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        data_name=Path(str(args.data)).name,
    )
    return report_result(run_with_progress(job, args.quiet), args.quiet)


def _sample_vae(args: argparse.Namespace) -> int:
    from core.vae.jobs import SampleJob

    check_output(args.out / GRID, [args.checkpoint], PICTURE)
    job = SampleJob(args.checkpoint, args.n, args.seed, args.temperature, args.prior)
    outcome = run_job(job)
    return 130 if outcome.result is None else save_samples(job.images, outcome.result, args.out, args.quiet)


def _reconstruct(args: argparse.Namespace) -> int:
    from core.vae.jobs import ReconstructJob

    check_output(args.output, [args.checkpoint, args.image], PICTURE)
    return run_image_job(ReconstructJob(args.checkpoint, load_image(args.image)), args.output, args.quiet)


def _interpolate_vae(args: argparse.Namespace) -> int:
    from core.vae.jobs import InterpolateJob

    check_output(args.output, [args.checkpoint, args.a, args.b], PICTURE_OR_GIF)
    job = InterpolateJob(args.checkpoint, load_image(args.a), load_image(args.b), args.steps)
    outcome = run_job(job)
    return 130 if outcome.result is None else save_frames(job.frames, outcome.result, args.output, args.quiet)


def _evaluate_vae(args: argparse.Namespace) -> int:
    from core.data import open_data_set
    from core.vae.inference import evaluate, load_vae

    loaded = load_vae(args.checkpoint)
    data = open_data_set(args.data, loaded.config.size, grey=loaded.config.channels == 1, split=args.split)
    result = evaluate(loaded, data)
    print(
        f"{data.name}: {len(data)} images, negative ELBO {result['nelbo']:.2f} nats per image "
        f"({result['bits_per_dim']:.4f} bits/dim; reconstruction {result['reconstruction']:.2f}, "
        f"KL {result['kl']:.2f})"
    )
    return 0


def add_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    train = commands.add_parser("train-vae", help="train a VAE on a folder of images or a data set")
    train.add_argument("data", help="a folder of images, fashion-mnist, or torchvision:NAME (downloads)")
    train.add_argument(
        "--size", type=int, choices=SIZES, help="default: the pictures' own (28 for fashion-mnist), photos 64"
    )
    train.add_argument("--latent", type=int, default=32, help="latent dimensions")
    train.add_argument("--steps", type=int, default=5000)
    train.add_argument("--out", type=Path, required=True, help="folder for vae.safetensors")
    train.add_argument("--beta", type=float, default=1.0, help="KL weight (beta-VAE); above 1 disentangles")
    train.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        help="default: bernoulli for grey data, gaussian with a learned variance for colour",
    )
    train.add_argument("--width", type=int, help="network width; default: 16 on a CPU, 32 on a GPU")
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument("--sample-every", type=int, default=100)
    train.add_argument(
        "--checkpoint-every", type=int, default=500, help=CHECKPOINT_EVERY_HELP.format(unit="steps")
    )
    train.add_argument("--device", help=DEVICE_HELP)
    train.set_defaults(handler=_train_vae)

    sample = commands.add_parser("sample-vae", help="draw new images from a trained VAE")
    sample.add_argument("checkpoint", type=Path)
    sample.add_argument("-n", type=int, default=64, help="how many images")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--temperature", type=float, default=1.0, help="below 1: tamer, above 1: wilder")
    sample.add_argument(
        "--prior",
        choices=PRIORS,
        default="fitted",
        help="fitted: where the training pictures' codes lie (models trained before it: standard); "
        "standard: the normal prior N(0, I)",
    )
    sample.add_argument("--out", type=Path, required=True, help="folder: one PNG per sample + grid.png")
    sample.set_defaults(handler=_sample_vae)

    reconstruct = commands.add_parser("reconstruct", help="a picture beside its VAE reconstruction")
    reconstruct.add_argument("checkpoint", type=Path)
    reconstruct.add_argument("image", type=Path)
    reconstruct.add_argument("-o", "--output", type=Path, required=True)
    reconstruct.set_defaults(handler=_reconstruct)

    interpolate = commands.add_parser("interpolate-vae", help="morph between two pictures")
    interpolate.add_argument("checkpoint", type=Path)
    interpolate.add_argument("a", type=Path, help="the first picture")
    interpolate.add_argument("b", type=Path, help="the last picture")
    interpolate.add_argument("--steps", type=int, default=10)
    interpolate.add_argument("-o", "--output", type=Path, required=True, help="a .png strip or a .gif")
    interpolate.set_defaults(handler=_interpolate_vae)

    evaluate = commands.add_parser("evaluate-vae", help="negative ELBO of a data set (nats, bits/dim)")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("data", help="a folder of images, fashion-mnist, or torchvision:NAME")
    evaluate.add_argument("--split", choices=("train", "test"), default="test", help="of a built-in set")
    evaluate.set_defaults(handler=_evaluate_vae)
