"""Each model family's `settings` module stays torch-free, so the window's panels and the CLI can import it
without the seconds torch takes to load (docs/architecture.md, Model families); and its names agree with
the torch side that they stand in for."""

import subprocess
import sys
from pathlib import Path

import pytest

import core

ROOT = Path(core.__file__).parent.parent

# module -> the top-level packages it must not load, directly or through what it imports
TORCH_FREE = {
    "core.gan.settings": ("torch", "numpy", "PIL"),
    "core.vae.settings": ("torch", "numpy", "PIL"),
    "core.classifier.settings": ("torch", "numpy", "PIL"),
    "core.sequence.settings": ("torch", "numpy", "PIL"),
    "core.style.settings": ("torch",),  # its requests carry PIL images
    "core.presets": ("torch", "numpy", "PIL"),  # what the settings' presets are made of
}


def loaded_after_import(module: str, packages: tuple[str, ...]) -> list[str]:
    """Which of `packages` a fresh interpreter has loaded once it has imported `module`."""
    code = (
        f"import importlib, sys\nimportlib.import_module({module!r})\n"
        f"print(' '.join(p for p in {packages!r} if p in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@pytest.mark.parametrize(("module", "packages"), TORCH_FREE.items())
def test_settings_import_without_torch(module: str, packages: tuple[str, ...]) -> None:
    assert loaded_after_import(module, packages) == []


def test_the_check_sees_torch() -> None:
    """The subprocess check itself is real: a module that imports torch is caught."""
    assert loaded_after_import("core.gan.networks", ("torch",)) == ["torch"]


def test_backbone_names_are_the_backbones() -> None:
    from core.classifier.backbones import BACKBONES
    from core.classifier.settings import BACKBONE_NAMES

    assert tuple(BACKBONES) == BACKBONE_NAMES


def test_augment_names_are_the_diffaugment_ops() -> None:
    from core.gan import networks
    from core.gan.settings import AUGMENTS

    assert tuple(networks._AUGMENTS) == AUGMENTS
