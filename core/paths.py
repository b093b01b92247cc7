"""Where the app keeps its files: user models, the weights cache and logs.

Everything lives under one per-user folder chosen by platformdirs (e.g. ~/.local/share/neural-easel on
Linux). `NEURAL_EASEL_HOME` overrides it, which tests and portable installs use.
"""

import os
import time
from pathlib import Path

import platformdirs

APP_NAME = "neural-easel"


def data_dir() -> Path:
    override = os.environ.get("NEURAL_EASEL_HOME")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    """Trained models (checkpoints) the model picker lists."""
    return _ensure(data_dir() / "models")


def new_run_folder(name: str, suffix: str = "") -> Path:
    """A fresh path in the models folder for a training run called `name` (its model's name): a folder,
    or with `suffix` a file. Never one that exists: a new run never replaces a trained model."""
    base, number = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}", 1
    while True:
        path = models_dir() / f"{base}{f'-{number}' if number > 1 else ''}{suffix}"
        if not path.exists():
            return path
        number += 1


def cache_dir() -> Path:
    """Converted pretrained weights and other files the app can rebuild."""
    return _ensure(data_dir() / "cache")


def log_dir() -> Path:
    return _ensure(data_dir() / "logs")


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file() -> Path:
    return log_dir() / "neural-easel.log"
