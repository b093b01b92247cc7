"""Tool panels, one per model family or built-in tool, shown in the Tools dock."""
