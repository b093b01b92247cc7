"""Which device runs the tensors: CUDA > Apple MPS > CPU, unless the user chose one."""

import os
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any

import torch

from core.errors import DeviceError

AUTO = "auto"
# Lets a user or a test force a device without a flag; the CLI's --device and the settings win over it.
ENV_VAR = "NEURAL_EASEL_DEVICE"
# "fp32" turns bf16 off everywhere (for results exactly as in fp32, or to compare); anything else is "auto".
PRECISION_VAR = "NEURAL_EASEL_PRECISION"


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
    """A short human description, e.g. "NVIDIA H100 80GB HBM3 (cuda:0, 79 GiB, bf16)"."""
    precision = ", bf16" if precision_name(device) == "bf16" else ""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({device}, {props.total_memory / 2**30:.0f} GiB{precision})"
    if device.type == "mps":
        return "Apple GPU (mps)"
    return f"CPU ({torch.get_num_threads()} threads{precision})"


def native_bf16(device: torch.device) -> bool:
    """Whether to compute in bfloat16 on `device`: where the hardware has it (CUDA GPUs from Ampere on, CPUs
    with AMX or AVX-512 BF16 through oneDNN; elsewhere bf16 is emulated and slower than fp32), unless
    NEURAL_EASEL_PRECISION=fp32."""
    if os.environ.get(PRECISION_VAR, "").strip().lower() == "fp32":
        return False
    return _hardware_bf16(device)


def precision_name(device: torch.device) -> str:
    """ "bf16" or "fp32": what the heavy tensor work runs in on `device` (recorded with results)."""
    return "bf16" if native_bf16(device) else "fp32"


@cache  # asked on every optimisation step
def _hardware_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        # bf16 tensor cores from Ampere (compute capability 8) on; torch.cuda.is_bf16_supported() also says
        # yes for older GPUs that only emulate it, slower than fp32. AMD GPUs under ROCm all have it.
        return bool(torch.version.hip) or torch.cuda.get_device_properties(device).major >= 8
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False
    # torch.cpu names these checks with a leading underscore; an older or newer torch without them gets fp32.
    checks = (
        getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    )
    return any(check() for check in checks if check is not None)


def autocast(device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast where the hardware has it (convolutions and matrix products in bf16, reductions and
    losses in fp32); plain fp32 elsewhere. (fp16 would need loss scaling, and Caffe VGG's activations, in
    the thousands, square to beyond its range in Gram matrices.) What it buys: the README's Performance."""
    if native_bf16(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """NHWC where convolutions are fastest in it: cuDNN's tensor cores and oneDNN's bf16 kernels."""
    return torch.channels_last if device.type == "cuda" or native_bf16(device) else torch.contiguous_format
