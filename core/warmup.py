"""Start-up warm-up: import torch, choose the device and run one tiny step while the artist looks at
the window.

Importing torch takes seconds and, while its native libraries load, holds the GIL (a ~200 ms stall of
the GUI thread measured here: benchmarks/ui_responsiveness.py). Doing it once, right after the window
is up, keeps that out of the first real job. This module stays torch-free so the GUI can import it.
"""

from core.jobs import JobContext


class WarmUpJob:
    title = "Preparing PyTorch"

    def __init__(self, preference: str | None = None) -> None:
        self.preference = preference

    def run(self, ctx: JobContext) -> str:
        """A description of the device jobs will use, e.g. "CPU (2 threads)"."""
        import torch

        from core import devices

        device = devices.pick_device(self.preference)
        # One tiny training step: loads the optimiser and autograd code paths and, on a GPU, creates the
        # CUDA context (seconds on first use) before any real job needs them.
        layer = torch.nn.Conv2d(3, 3, 3).to(device)
        optimiser = torch.optim.Adam(layer.parameters())
        layer(torch.zeros(1, 3, 8, 8, device=device)).sum().backward()
        optimiser.step()
        return devices.describe(device)
