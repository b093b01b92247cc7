"""What a trained ConvLSTM forecaster does: continue a sequence of frames (`continue_frames`) and measure
its predictions on held-out sequences (`evaluate_forecaster`: per-frame mean squared error and SSIM,
beside the copy-last-frame baseline, which predicts that nothing moves)."""

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core.checkpoints import CheckpointInfo, ModelKind, cached_by_file, load_model
from core.errors import UserError
from core.images import to_pil
from core.sequence.forecast import Forecaster
from core.sequence.sequences import frames_to_tensor
from core.sequence.settings import FORECAST_ARCH, ForecastConfig

MAX_CONTINUE = 1000  # frames a continuation may ask for
# SSIM as Wang, Bovik, Sheikh, Simoncelli 2004 compute it: an 11 x 11 Gaussian window of sigma 1.5 over
# the valid part of the picture, C1 = (0.01 L)^2 and C2 = (0.03 L)^2 for the dynamic range L = 1.
SSIM_WINDOW, SSIM_SIGMA, SSIM_C1, SSIM_C2 = 11, 1.5, 0.01**2, 0.03**2


class LoadedForecaster(NamedTuple):
    model: Forecaster  # eval mode, on the CPU
    config: ForecastConfig
    info: CheckpointInfo


@cached_by_file
def load_forecaster(path: Path) -> LoadedForecaster:
    """The trained forecaster of a checkpoint, its config and info (the last few stay loaded)."""
    build = lambda info: Forecaster(ForecastConfig.from_dict(info.config))  # noqa: E731
    model, info = load_model(path, ModelKind.SEQUENCE, FORECAST_ARCH, build, "model.")
    return LoadedForecaster(model, model.config, info)


def _loaded(model: "str | Path | LoadedForecaster") -> LoadedForecaster:
    return model if isinstance(model, LoadedForecaster) else load_forecaster(model)


def _seen(config: ForecastConfig, frames: Sequence[Image.Image]) -> Tensor:
    """The last input_frames of `frames`, each its centre square at the model's size, grey for a grey
    model: uint8 (T, C, S, S). Fewer frames than the model reads are refused."""
    if len(frames) < config.input_frames:
        raise UserError(
            f"The model reads {config.input_frames} frames to continue a sequence; this one has "
            f"{len(frames)}. Give at least {config.input_frames} frames."
        )
    return frames_to_tensor(frames[-config.input_frames :], config.size, grey=config.channels == 1)


def as_seen(model: "str | Path | LoadedForecaster", frames: Sequence[Image.Image]) -> list[Image.Image]:
    """The frames the model reads to continue `frames`, as RGB pictures (`_seen`)."""
    return [to_pil(frame.float().div(255)) for frame in _seen(_loaded(model).config, frames)]


def continue_frames(
    model: "str | Path | LoadedForecaster", frames: Sequence[Image.Image], count: int
) -> list[Image.Image]:
    """The `count` frames the model predicts after the frames it reads of `frames` (`as_seen`), as RGB
    pictures at the model's size."""
    if not 1 <= count <= MAX_CONTINUE:
        raise UserError(f"Ask for 1 to {MAX_CONTINUE} frames, not {count}.")
    loaded = _loaded(model)
    seen = _seen(loaded.config, frames).unsqueeze(0).float().div(255)
    with torch.inference_mode():
        return [to_pil(frame) for frame in loaded.model.predict(seen, count)[0]]


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """The structural similarity of pictures a and b (N, C, H, W) in [0, 1], per picture (N,), the mean over
    channels and over the valid positions of the window (both sides at least SSIM_WINDOW px)."""
    coords = torch.arange(SSIM_WINDOW, dtype=a.dtype, device=a.device) - SSIM_WINDOW // 2
    g = torch.exp(-coords.square() / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    channels = a.shape[1]
    window = (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, window, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.square()
    var_b = blur(b * b) - mu_b.square()
    cov = blur(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    denominator = (mu_a.square() + mu_b.square() + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return (numerator / denominator).flatten(1).mean(1)


def evaluate_forecaster(
    model: "str | Path | LoadedForecaster",
    sequences: Tensor,
    *,
    batch_size: int = 100,
    device: torch.device | None = None,
    check: Callable[[], None] = lambda: None,
) -> dict[str, list[float]]:
    """Per predicted frame (output_frames of them), the mean over `sequences` (N, T, C, S, S) uint8 of the
    mean squared error per pixel and of the SSIM, for the model ("mse", "ssim") and for copying the last
    frame read ("copy_last_mse", "copy_last_ssim"). `check` runs before each batch."""
    loaded = _loaded(model)
    config = loaded.config
    if sequences.shape[1] < config.frames or tuple(sequences.shape[2:]) != (
        config.channels,
        config.size,
        config.size,
    ):
        raise UserError(
            f"These sequences ({sequences.shape[1]} frames of {sequences.shape[-1]} px, {sequences.shape[2]} "
            f"channels) do not fit the model: {config.frames} frames of {config.size} px, {config.channels} "
            "channels."
        )
    device = device or torch.device("cpu")
    # The cached model stays on the CPU for the window's other jobs; a copy goes to another device.
    network = loaded.model if device.type == "cpu" else copy.deepcopy(loaded.model).to(device)
    sums = {
        key: torch.zeros(config.output_frames) for key in ("mse", "ssim", "copy_last_mse", "copy_last_ssim")
    }
    with torch.inference_mode():
        for part in torch.split(sequences[:, : config.frames], batch_size):
            check()
            frames = part.to(device).float().div(255)
            seen, future = frames[:, : config.input_frames], frames[:, config.input_frames :]
            copied = seen[:, -1:].expand_as(future)
            for name, guess in (("", network.predict(seen, config.output_frames)), ("copy_last_", copied)):
                sums[f"{name}mse"] += (guess - future).square().mean((2, 3, 4)).sum(0).cpu()
                flat = (guess.flatten(0, 1), future.flatten(0, 1))
                sums[f"{name}ssim"] += ssim(*flat).view(len(part), -1).sum(0).cpu()
    return {key: (total / len(sequences)).tolist() for key, total in sums.items()}
