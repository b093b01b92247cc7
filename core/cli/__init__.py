"""neural-easel-cli: the app's jobs without a window.

Each command builds the same core job the desktop app runs and drives it with a terminal progress bar;
the commands of each model family live in their own module here. Exit status: 0 done, 1 a problem with
the input (message on stderr), 2 bad usage, 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM; an
interrupted training run writes a resumable checkpoint first (`common.Interrupts`).
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from core import __version__, paths
from core.allocator import keep_freed_memory
from core.cli import classifier, gan, sequence, style, vae
from core.cli.common import INTERRUPTS
from core.errors import UserError, user_message
from core.logs import setup_logging

log = logging.getLogger(__name__)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neural-easel-cli", description="Neural Easel's jobs without a window."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or output path")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in (style, gan, vae, classifier, sequence):
        family.add_commands(commands)
    devices = commands.add_parser("devices", help="list the compute devices PyTorch can use here")
    devices.set_defaults(handler=_devices)

    models = commands.add_parser("models", help="list trained models")
    models.add_argument("folder", type=Path, nargs="?", help=f"default: {paths.models_dir()}")
    models.set_defaults(handler=_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    keep_freed_memory()
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        with INTERRUPTS.installed():
            code: int = args.handler(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return INTERRUPTS.status
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.exception("command %s failed", args.command)
        print(f"error: {user_message(exc)}", file=sys.stderr)
        return 1
    return code
