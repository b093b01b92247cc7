"""Neural Easel's window: PySide6 widgets that drive core jobs on background threads."""
