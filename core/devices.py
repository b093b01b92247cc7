"""Which device runs the tensors: CUDA > Apple MPS > CPU, unless the user chose one."""

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from core.errors import DeviceError

AUTO = "auto"
# Lets a user or a test force a device without a flag; the CLI's --device and the settings win over it.
ENV_VAR = "NEURAL_EASEL_DEVICE"


def available_devices() -> list[str]:
    """Device names usable here, best first: e.g. ["cuda:0", "cuda:1", "cpu"]."""
    names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if torch.backends.mps.is_available():
        names.append("mps")
    return [*names, "cpu"]


def pick_device(preference: str | None = None) -> torch.device:
    """Resolve "auto", "cpu", "cuda", "cuda:N" or "mps" to a device that exists, or raise DeviceError."""
    choice = (preference or os.environ.get(ENV_VAR) or AUTO).strip().lower()
    available = available_devices()
    if choice == AUTO:
        return torch.device(available[0])
    try:
        device = torch.device("cuda:0" if choice == "cuda" else choice)
    except RuntimeError:
        raise DeviceError(f"Unknown device '{choice}': choose auto, cpu, cuda, cuda:N or mps.") from None
    if str(device) not in available:
        raise DeviceError(
            f"Device '{choice}' is not available on this machine (available: {', '.join(available)})."
        )
    return device


def describe(device: torch.device) -> str:
    """A short human description, e.g. "NVIDIA H100 80GB HBM3 (cuda:0, 79 GiB)"."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({device}, {props.total_memory / 2**30:.0f} GiB)"
    if device.type == "mps":
        return "Apple GPU (mps)"
    return f"CPU ({torch.get_num_threads()} threads)"


def autocast(device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast on CUDA GPUs that have it; plain fp32 elsewhere. (fp16 would need loss scaling, and
    Caffe VGG's activations, in the thousands, square to beyond its range in Gram matrices.)"""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()
