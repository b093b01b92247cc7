"""Fast style transfer: a feed-forward network per style (Johnson, Alahi, Fei-Fei, "Perceptual Losses for
Real-Time Style Transfer and Super-Resolution", ECCV 2016).

Training: a `TransformerNet` learns to map photos to stylizations that minimise the perceptual losses of
Gatys et al. (core.style.losses) against the VGG features of the photo (content) and the Gram matrices of
one painting (style), plus total variation:

    loss = content_weight * L_content + style_weight * L_style + tv_weight * L_tv

Once trained, a picture is stylized in one forward pass (milliseconds on a GPU) instead of an optimisation.
Checkpoints are ordinary `core.checkpoints` files of kind FAST_STYLE holding the network's weights and, for
resuming, the Adam state (tensors under "optim.", the rest in the training JSON).
"""

import math
import random
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from core.checkpoints import (
    SUFFIX,
    CheckpointInfo,
    ModelKind,
    load_checkpoint,
    model_name,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
)
from core.devices import autocast, memory_format, pick_device, precision_name
from core.errors import CheckpointError, ImageError, UserError
from core.features import VGGFeatures, load_features
from core.files import atomic_path
from core.images import list_images, load_image, resize_long_side, to_pil, to_tensor
from core.jobs import ImageResult, JobContext, Resumable
from core.safety import OutputType, check_new_model, require_suffix
from core.style.colour import KeepColours, preserve_colours
from core.style.losses import CONTENT_LAYERS, STYLE_LAYERS, content_loss, gram, style_loss, total_variation
from core.style.tiles import map_tiles
from core.training import (
    all_finite,
    diverged,
    require_at_least_one,
    require_room_for,
    restoring,
    resumed_step,
)

ARCH = "transformer-net-v1"
FAST_STYLE_NETWORK = OutputType("a fast style network", frozenset({SUFFIX}), f"a name ending in {SUFFIX}")
OPTIM_PREFIX = "optim."
LOSS_NAMES = ("style", "content", "tv", "total")

# Relative losses (core.style.losses) make the weights independent of the VGG source and the image size.
# Gatys' 10 starts from the photo; a network that learns from scratch loses the photo under it, 3 keeps it.
STYLE_WEIGHT = 3.0
TV_WEIGHT = 0.02

# The receptive field reaches 54 px, so a tile's output differs from the untiled one near its edges; over a
# 96 px feathered overlap what is left is < 0.04 at the worst pixel (measured: 64 px left 0.09).
TILE_OVERLAP = 96
GRID = 4  # the network's total stride: two stride-2 stages
MIN_TILE = 2 * TILE_OVERLAP + GRID
PREVIEW_SIDE = 256
MAX_PHOTOS = 1000  # 2,000 steps of 4 see 8,000 crops: more photos add memory, not variety
PHOTO_SIDE = 1.25  # photos are held with a short side of 1.25 x image_size, crops are resized from them
CROP_FRACTION = (0.6, 1.0)  # square crop side, as a fraction of the held photo's short side
STYLE_SIDE = 2.0  # the painting's long side, x image_size x style_scale: the scale of a whole photo
REPORT_EVERY_ON_ACCELERATOR = 10  # losses reach the host (a sync) every N steps; on CPU it costs nothing


class _InstanceNorm(nn.InstanceNorm2d):
    """Affine instance normalisation (Ulyanov, Vedaldi, Lempitsky 2016) that can also normalise with the
    statistics it measured on another image: tiles of a large picture then all share the whole picture's
    statistics instead of each stretching its own contrast (which shows as a patchwork)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        self.measure = False
        self.shared: tuple[Tensor, Tensor] | None = None  # (mean, var), each (N, C, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.measure:
            var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)
            self.shared = (mean, var)
        if self.shared is None:
            return super().forward(x)
        mean, var = self.shared
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, *, upsample: bool = False) -> list[nn.Module]:
    """[nearest x2 upsample], reflection pad, conv, instance norm, ReLU. No conv bias: the norm removes it.

    Upsample-then-convolve instead of a transposed convolution avoids checkerboard artefacts (Odena,
    Dumoulin, Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016)."""
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
    layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride, bias=False)]
    return [*layers, _InstanceNorm(c_out), nn.ReLU(inplace=True)]


class _Residual(nn.Module):
    """x + norm(conv(relu(norm(conv(x))))), 128 channels at 1/4 resolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv(channels, channels, 3), *_conv(channels, channels, 3)[:-1])

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # type: ignore[no-any-return]


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network as in pytorch/examples fast_neural_style (~1.68M
    parameters): conv 9x9/32, 3x3/64 stride 2, 3x3/128 stride 2, five residual blocks, two upsample-convs,
    conv 9x9/3. RGB in [0, 1] (N, 3, H, W) -> RGB in [0, 1], same size.

    The output goes through a sigmoid: it stays in the image range without clamping, whose zero gradient
    outside [0, 1] lets saturated pixels get stuck during training.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(*_conv(3, 32, 9), *_conv(32, 64, 3, 2), *_conv(64, 128, 3, 2))
        self.residuals = nn.Sequential(*(_Residual(128) for _ in range(5)))
        self.decoder = nn.Sequential(
            *_conv(128, 64, 3, upsample=True),
            *_conv(64, 32, 3, upsample=True),
            nn.ReflectionPad2d(4),
            nn.Conv2d(32, 3, 9),
        )

    def forward(self, rgb: Tensor) -> Tensor:
        # Two stride-2 stages: pad to a multiple of 4 so the decoder restores the exact size, then crop.
        height, width = rgb.shape[-2:]
        x = F.pad(rgb, (0, (-width) % GRID, 0, (-height) % GRID), mode="reflect")
        x = self.decoder(self.residuals(self.encoder(x)))
        return torch.sigmoid(x)[..., :height, :width]

    @contextmanager
    def shared_statistics(self, image: Tensor) -> Iterator[None]:
        """Within the block, every instance norm uses the statistics it measured on `image` (1, 3, h, w),
        e.g. the whole picture at a size that fits, instead of each input's own."""
        norms = [m for m in self.modules() if isinstance(m, _InstanceNorm)]
        for norm in norms:
            norm.measure = True
        try:
            self(image)
        finally:
            for norm in norms:
                norm.measure = False
        try:
            yield
        finally:
            for norm in norms:
                norm.shared = None


def load_transformer(path: str | Path) -> tuple[TransformerNet, CheckpointInfo]:
    """A trained network (on the CPU, in eval mode) and its checkpoint info."""
    tensors, info = _read_checkpoint(Path(path))
    net = TransformerNet()
    try:
        net.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(OPTIM_PREFIX)})
    except RuntimeError:
        raise CheckpointError(
            f"{Path(path).name} does not hold the weights of a fast style network."
        ) from None
    return net.eval(), info


def _read_checkpoint(path: Path) -> tuple[dict[str, Tensor], CheckpointInfo]:
    return load_checkpoint(path, ModelKind.FAST_STYLE, arch=ARCH)


class FastStyleTrainingJob(Resumable):
    """Train a TransformerNet for one style on a folder of photos; returns the checkpoint path.

    Each step draws `batch_size` random square crops (random size and position, random mirror) of the
    photos, resized to `image_size`. The draw for step k depends only on (seed, k), so a resumed run sees
    exactly the batches an uninterrupted one would: on the CPU it ends with bit-identical weights.
    Photos are held in memory, downscaled (about 0.4 MB each at image_size 256), at most MAX_PHOTOS.
    """

    title = "Train a fast style"

    def __init__(
        self,
        style: Image.Image,
        photos: Path,
        out: Path,
        *,
        steps: int = 2000,
        batch_size: int = 4,
        image_size: int = 256,
        style_weight: float = STYLE_WEIGHT,
        content_weight: float = 1.0,
        tv_weight: float = TV_WEIGHT,
        lr: float = 1e-3,
        style_scale: float = 1.0,
        device: str | None = None,
        checkpoint_every: int = 500,
        preview_every: int = 50,
        resume: Path | None = None,
        seed: int = 0,
        style_name: str = "",
    ) -> None:
        require_at_least_one(
            {
                "steps": steps,
                "batch size": batch_size,
                "checkpoint interval": checkpoint_every,
                "preview interval": preview_every,
            }
        )
        if not 32 <= image_size <= 2048:
            raise UserError(f"The training image size must be between 32 and 2048 px, not {image_size}.")
        if min(style_weight, content_weight, tv_weight) < 0 or lr <= 0 or style_scale <= 0:
            raise UserError("Loss weights must be 0 or more; the learning rate and style scale above 0.")
        self.style, self.photos, self.out = style, Path(photos), Path(out)
        self.steps, self.batch_size, self.image_size = steps, batch_size, image_size
        self.style_weight, self.content_weight, self.tv_weight = style_weight, content_weight, tv_weight
        self.lr, self.style_scale, self.device, self.seed = lr, style_scale, device, seed
        self.checkpoint_every, self.preview_every = checkpoint_every, preview_every
        self.resume = None if resume is None else Path(resume)
        self.style_name = style_name

    @property
    def config(self) -> dict[str, Any]:
        """What shapes the learned style; stored in the checkpoint for display and to retrain alike."""
        return {
            "image_size": self.image_size,
            "style_scale": self.style_scale,
            "style_weight": self.style_weight,
            "content_weight": self.content_weight,
            "tv_weight": self.tv_weight,
            "content_layers": list(CONTENT_LAYERS),
            "style_layers": list(STYLE_LAYERS),
        }

    def run(self, ctx: JobContext) -> Path:
        require_suffix(self.out, FAST_STYLE_NETWORK)
        check_new_model(self.out, self.resume)
        device = pick_device(self.device)
        layout = memory_format(device)
        net = self._new_net().to(device).to(memory_format=layout)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        start, losses = self._restore(net, optimizer, ctx) if self.resume else (0, {})
        require_room_for(self.out, [net], [optimizer])

        photos, preview = self._read_photos(ctx)
        loaded = load_features()
        ctx.message(f"Loss network: {loaded.source}. Device: {device}.")
        vgg = loaded.net.to(device).to(memory_format=layout)
        style_targets = self._style_targets(vgg, device)
        preview_input = to_tensor(preview, device).contiguous(memory_format=layout)
        report_every = 1 if device.type == "cpu" else REPORT_EVERY_ON_ACCELERATOR
        window = torch.zeros(len(LOSS_NAMES), device=device)  # loss sums since the last report
        in_window = 0

        def report(step: int) -> None:
            """Bring the window's mean losses to the host, check them, show them."""
            nonlocal losses, in_window
            if in_window == 0:
                return
            losses = dict(zip(LOSS_NAMES, (window / in_window).tolist(), strict=True))
            window.zero_()
            in_window = 0
            if not all(math.isfinite(v) for v in losses.values()):
                raise self._diverged(step)
            ctx.progress(
                step - start, self.steps - start, losses, stage=f"Training: step {step} of {self.steps}"
            )

        step = start
        while step < self.steps and not ctx.stop_requested():
            step += 1
            batch = self._batch(photos, step, device).contiguous(memory_format=layout)
            with autocast(device):
                with torch.no_grad():
                    content_targets = vgg(batch, CONTENT_LAYERS)
                stylized = net(batch)
                features = vgg(stylized, (*CONTENT_LAYERS, *STYLE_LAYERS))
            # Losses in fp32: Gram matrices sum over H x W products, too many for bf16's 8-bit mantissa.
            features = {name: f.float() for name, f in features.items()}
            content_targets = {name: f.float() for name, f in content_targets.items()}
            parts = (
                style_loss(features, style_targets),
                content_loss(features, content_targets),
                total_variation(stylized.float()),
            )
            total = self.style_weight * parts[0] + self.content_weight * parts[1] + self.tv_weight * parts[2]
            optimizer.zero_grad(set_to_none=True)
            total.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            window += torch.stack([*parts, total]).detach()
            in_window += 1

            checkpoint_due = step % self.checkpoint_every == 0 and step < self.steps
            if step % report_every == 0 or checkpoint_due or step == self.steps:
                report(step)
            if checkpoint_due:
                self._save(net, optimizer, step, losses, photos_count=len(photos))
            if step % self.preview_every == 0:
                with torch.inference_mode(), autocast(device):
                    ctx.preview(to_pil(net(preview_input).float()), f"Step {step} of {self.steps}")

        report(step)
        if step < self.steps:
            ctx.message(f"Stopped at step {step} of {self.steps}; resume from {self.out.name} to go on.")
        self._save(net, optimizer, step, losses, photos_count=len(photos))
        return self.out

    def _new_net(self) -> TransformerNet:
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
            torch.manual_seed(self.seed)
            return TransformerNet()

    def _diverged(self, step: int) -> UserError:
        cure = f"lower the learning rate (now {self.lr:g}) or the style weight (now {self.style_weight:g})"
        return diverged(f"at step {step}", self.out, cure)

    def _restore(
        self, net: TransformerNet, optimizer: torch.optim.Optimizer, ctx: JobContext
    ) -> tuple[int, dict[str, float]]:
        """Load weights and Adam state from `self.resume`; returns (step, its last losses)."""
        assert self.resume is not None
        tensors, info = _read_checkpoint(self.resume)
        step = resumed_step(info, self.resume, self.steps)
        changed = sorted(k for k, v in self.config.items() if info.config.get(k, v) != v)
        if changed:
            ctx.message(f"Resuming with different settings than before: {', '.join(changed)}.")
        with restoring(self.resume):
            net.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(OPTIM_PREFIX)})
            restore_optimizer(optimizer, tensors, OPTIM_PREFIX, info.training["optimizer"], self.lr)
        ctx.message(f"Resuming from step {step} of {self.resume.name}.")
        return step, dict(info.training.get("losses", {}))

    def _save(
        self,
        net: TransformerNet,
        optimizer: torch.optim.Optimizer,
        step: int,
        losses: Mapping[str, float],
        *,
        photos_count: int,
    ) -> None:
        """Write the checkpoint, unless the weights are no longer finite: a diverged model must never
        replace the last good file."""
        if not all_finite([net]):
            raise self._diverged(step)
        tensors, param_groups = optimizer_tensors(optimizer, OPTIM_PREFIX)
        tensors.update(net.state_dict())
        training = {
            "step": step,
            "steps": self.steps,
            "style": self.style_name,
            "losses": dict(losses),
            "photos": self.photos.name,
            "photo_count": photos_count,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
            "optimizer": param_groups,
        }
        save_checkpoint(
            self.out, tensors, kind=ModelKind.FAST_STYLE, arch=ARCH, config=self.config, training=training
        )

    def _read_photos(self, ctx: JobContext) -> tuple[list[Tensor], Image.Image]:
        """(training photos as uint8 (3, h, w) tensors, the preview photo). The first readable photo is
        the preview and is held out of training when there are others."""
        paths = list_images(self.photos)
        if not paths:
            raise UserError(
                f"{self.photos.name} has no pictures (PNG, JPEG, WebP, BMP, TIFF or GIF) to train on: "
                "choose a folder of photos."
            )
        if len(paths) > MAX_PHOTOS:
            ctx.message(f"Training on {MAX_PHOTOS} photos picked at random from the folder's {len(paths)}.")
            paths = sorted(random.Random(self.seed).sample(paths, MAX_PHOTOS))
        short_side = round(PHOTO_SIDE * self.image_size)
        photos: list[Tensor] = []
        preview: Image.Image | None = None
        problems: list[str] = []
        for done, path in enumerate(paths, start=1):
            ctx.check()
            try:
                image = load_image(path)
            except ImageError as exc:
                problems.append(str(exc))
                continue
            if preview is None:
                preview = resize_long_side(image, min(PREVIEW_SIDE, max(image.size)))
            scale = min(1.0, short_side / min(image.size))
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
            photos.append(torch.from_numpy(np.array(image)).permute(2, 0, 1))
            ctx.progress(done, len(paths), stage="Reading the photos")
        if preview is None:
            raise UserError(
                f"None of the {len(paths)} files in {self.photos.name} could be read as a picture "
                f"(first problem: {problems[0]})"
            )
        if problems:
            ctx.message(
                f"Skipped {len(problems)} of {len(paths)} files that could not be read: {problems[0]}"
            )
        return (photos[1:] if len(photos) > 1 else photos), preview

    def _batch(self, photos: list[Tensor], step: int, device: torch.device) -> Tensor:
        """The training batch of `step` (batch_size, 3, image_size, image_size) in [0, 1] on `device`, drawn
        from an RNG seeded with (seed, step) alone. Crops travel as uint8 (pinned, asynchronous on CUDA) and
        are resized on the device."""
        rng = random.Random(f"fast-style {self.seed} {step}")  # str seeds are hashed: stable across runs
        crops = []
        for _ in range(self.batch_size):
            photo = photos[rng.randrange(len(photos))]
            height, width = photo.shape[1:]
            side = max(1, round(min(height, width) * rng.uniform(*CROP_FRACTION)))
            top, left = rng.randint(0, height - side), rng.randint(0, width - side)
            crop = photo[None, :, top : top + side, left : left + side]
            if device.type == "cuda":
                crop = crop.pin_memory()
            crop = crop.to(device, non_blocking=True).float().div_(255.0)
            crop = F.interpolate(
                crop, size=(self.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
            crops.append(crop.flip(-1) if rng.random() < 0.5 else crop)
        return torch.cat(crops)  # bilinear weights are >= 0: no overshoot, no clamp needed

    def _style_targets(self, vgg: VGGFeatures, device: torch.device) -> dict[str, Tensor]:
        """Gram targets (1, C, C) of the painting, its long side STYLE_SIDE x image_size x style_scale."""
        side = max(32, round(STYLE_SIDE * self.image_size * self.style_scale))
        style = to_tensor(resize_long_side(self.style, side), device)
        with torch.no_grad(), autocast(device):
            features = vgg(style.contiguous(memory_format=memory_format(device)), STYLE_LAYERS)
        return {name: gram(f.float()) for name, f in features.items()}


class FastStyleJob:
    """Stylize a picture with a trained network: one forward pass, or tiles for pictures larger than
    `tile` px (which then share the whole picture's normalisation statistics, measured at a size that
    fits: see `TransformerNet.shared_statistics`)."""

    title = "Stylize (fast network)"

    def __init__(
        self,
        content: Image.Image,
        model: Path,
        *,
        keep_colours: KeepColours = "off",
        tile: int = 1024,
        device: str | None = None,
    ) -> None:
        if keep_colours not in get_args(KeepColours):
            raise UserError(f"Unknown colour option '{keep_colours}': choose off, luminance or match.")
        if tile < MIN_TILE:
            raise UserError(f"The tile size must be at least {MIN_TILE} px, not {tile}.")
        self.content, self.model, self.keep_colours = content, Path(model), keep_colours
        self.tile, self.device = tile, device

    def run(self, ctx: JobContext) -> ImageResult:
        device = pick_device(self.device)
        layout = memory_format(device)
        net, _ = load_transformer(self.model)
        net.to(device).to(memory_format=layout)
        image = to_tensor(self.content)  # (1, 3, H, W) on the CPU: a large picture's canvas stays off the GPU
        height, width = image.shape[-2:]

        def stylize(part: Tensor) -> Tensor:
            with autocast(device):
                out: Tensor = net(part.to(device).contiguous(memory_format=layout))
            return out.float().cpu()

        with torch.inference_mode():
            if max(height, width) <= self.tile:
                ctx.progress(0, 1, stage="Stylizing")
                result = stylize(image)
                ctx.progress(1, 1, stage="Stylizing")
            else:
                # Statistics from the whole picture scaled to about one tile's area (the memory budget).
                scale = self.tile / math.sqrt(height * width)
                size = (max(32, round(height * scale)), max(32, round(width * scale)))
                whole = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
                with net.shared_statistics(whole.to(device).contiguous(memory_format=layout)):
                    result = map_grid_tiles(
                        stylize,
                        image,
                        self.tile,
                        should_stop=ctx.stop_requested,
                        on_tile=lambda done, total: ctx.progress(done, total, stage="Stylizing tiles"),
                    )
        stylized = preserve_colours(to_pil(result), self.content, self.keep_colours)
        settings = {
            "operation": "stylize",
            "method": "fast",
            "model": model_name(self.model),
            "keep_colours": self.keep_colours,
            "precision": precision_name(device),
        }
        return ImageResult(stylized, settings)


def map_grid_tiles(
    fn: Callable[[Tensor], Tensor],
    image: Tensor,
    tile: int,
    should_stop: Callable[[], bool] | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> Tensor:
    """`core.style.tiles.map_tiles` with every tile starting on the network's 4-px grid: image (1, 3, H, W)
    -> fn's output (1, 3, H, W), tiles of at most `tile` px overlapping by TILE_OVERLAP px.

    The stride-2 stages make the network's output depend on the phase of its input relative to that grid
    (aliasing), so two tiles on different phases disagree across their whole overlap. Tiling the image
    as 4 x 4 pixel blocks (pixel-unshuffled into 48 channels, (1, 48, H/4, W/4)) puts every tile on the grid;
    the feathered blend then ramps in 4-px steps.
    """
    height, width = image.shape[-2:]
    blocks = F.pixel_unshuffle(F.pad(image, (0, (-width) % GRID, 0, (-height) % GRID), mode="reflect"), GRID)
    out = map_tiles(
        lambda part: F.pixel_unshuffle(fn(F.pixel_shuffle(part, GRID)), GRID),
        blocks,
        tile // GRID,
        TILE_OVERLAP // GRID,
        should_stop=should_stop,
        on_tile=on_tile,
    )
    return F.pixel_shuffle(out, GRID)[..., :height, :width]


def export_onnx(model: str | Path, out: str | Path, *, check: bool = True) -> float | None:
    """Export a trained network to ONNX (opset 17) with dynamic batch, height and width, written atomically.

    With `check`, onnxruntime runs the exported file on an input of another size than the one traced and
    the max abs difference from torch is returned (a UserError above 1e-3, and no file is written).
    """
    net, _ = load_transformer(model)
    generator = torch.Generator().manual_seed(0)
    traced = torch.rand(1, 3, 256, 256, generator=generator)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            # The TorchScript exporter (the torch.export one needs onnxscript) warns that it is deprecated,
            # and that instance norm exports in "training" mode: which it is, statistics of each input.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                (traced,),
                str(tmp),
                dynamo=False,
                opset_version=17,
                input_names=["image"],
                output_names=["stylized"],
                dynamic_axes={"image": axes, "stylized": axes},
            )
        if not check:
            return None
        import onnxruntime  # here, not at the top: it takes a while to import and only exports need it

        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        probe = torch.rand(1, 3, 197, 141, generator=generator)  # odd sizes: the padding path too
        with torch.inference_mode():
            expected = net(probe)
        (got,) = session.run(None, {"image": probe.numpy()})
        difference = float((torch.from_numpy(got) - expected).abs().max())
        if difference > 1e-3:
            raise UserError(f"The ONNX export differs from the model by {difference:.2g}: not saved.")
    return difference
