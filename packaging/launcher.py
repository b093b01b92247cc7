"""The frozen app's one entry point: the window and the CLI are the same program under two names, so
both executables share one bundle folder (one copy of torch and Qt) and one PyInstaller analysis."""

import multiprocessing
import sys
from pathlib import Path


def main() -> int:
    multiprocessing.freeze_support()  # a frozen child process must not start a second app
    if Path(sys.executable).stem.startswith("neural-easel-cli"):
        from core.cli import main as run
    else:
        from desktop.app import main as run
    return run()


if __name__ == "__main__":
    sys.exit(main())
