"""core must import and work with Qt absent (docs/architecture.md, Layers)."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

BLOCK_QT = """
import importlib.abc, sys

class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"PySide6", "shiboken6", "PyQt5", "PyQt6", "qtpy", "desktop"}:
            raise ImportError(f"{name} is blocked: core must not import it")
        return None

sys.meta_path.insert(0, BlockQt())
"""


def test_every_core_module_imports_with_qt_blocked() -> None:
    root = Path(core.__file__).parent
    modules = [m.name for m in pkgutil.walk_packages([str(root)], prefix="core.")]
    assert "core.cli" in modules
    assert "core.style.colour" in modules
    script = BLOCK_QT + "".join(f"import {name}\n" for name in modules)
    script += "from core.cli import main\nraise SystemExit(main(['models']))\n"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
