"""One log file for both front ends: tracebacks go here, never into a dialog."""

import logging
import logging.handlers

from core import paths


def setup_logging(level: int = logging.INFO) -> None:
    """Log to a rotating file in the user log folder (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        return
    handler = logging.handlers.RotatingFileHandler(
        paths.log_file(), maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
