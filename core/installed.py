"""What this installation holds: data files inside installed packages, and the optional torchvision.

Both work the same in a virtual environment and in the frozen app (packaging/), where packages live in
the bundle folder and torchvision may be absent (the CPU build has none).
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from core.errors import UserError


def package_file(package: str, inner: str) -> Path | None:
    """The file `inner` ("models/x.onnx") inside the installed package `package`, or None.

    Found through the import system's spec, which does not run the package's code (the weights packages
    import libraries of their own) and points into the bundle folder of a frozen app."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder, *inner.split("/"))
        if path.is_file():
            return path
    return None


def torchvision(feature: str) -> ModuleType:
    """torchvision with its models and data sets, or a UserError saying that `feature` needs it."""
    try:
        import torchvision.datasets
        import torchvision.models
    except (ImportError, RuntimeError) as exc:  # RuntimeError: a torchvision built for another torch
        raise UserError(
            f"{feature} needs torchvision, which this installation of Neural Easel does not have "
            f"({exc}). Install the app with pip (see the README) to use it."
        ) from None
    module: ModuleType = torchvision
    return module
