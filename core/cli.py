"""neural-easel-cli: the app's jobs without a window.

Each command builds the same core job the desktop app runs and drives it with a terminal progress bar.
Exit status: 0 done, 1 a problem with the input (message on stderr), 2 bad usage, 130 interrupted.
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core import __version__, paths
from core.errors import UserError, user_message
from core.images import load_image, save_image
from core.jobs import Event, ImageResult, Job, Message, Progress, run_job
from core.logs import setup_logging
from core.style.colour import COLOUR_MODES, ColourTransferJob

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


def _run_image_job(job: Job[ImageResult], output: Path, quiet: bool) -> int:
    progress = TerminalProgress(quiet)
    try:
        outcome = run_job(job, progress)
    finally:
        progress.close()
    if outcome.result is None:
        return 130
    save_image(outcome.result.image, output, outcome.result.settings)
    if not quiet:
        print(output)
    return 0


def _colour_transfer(args: argparse.Namespace) -> int:
    job = ColourTransferJob(load_image(args.content), load_image(args.palette), args.mode, args.strength)
    return _run_image_job(job, args.output, args.quiet)


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
