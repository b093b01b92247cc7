"""Neural Easel's model layer: jobs, images, devices, checkpoints and the models themselves.

Qt-free by contract (see pyproject's import-linter section): the desktop app and the CLI both drive it.
"""

__version__ = "0.1.0"
