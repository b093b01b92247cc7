"""Training a fast style network (core.style.networks) for one style (Johnson, Alahi, Fei-Fei,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016).

A `TransformerNet` learns to map photos to stylizations that minimise the perceptual losses of Gatys et
al. (core.style.losses) against the VGG features of the photo (content) and the Gram matrices of one
painting (style), plus total variation:

    loss = content_weight * L_content + style_weight * L_style + tv_weight * L_tv

Checkpoints (kind FAST_STYLE, the layout of core.training) name the network "net" and its Adam optimiser
"optim"; the config is `asdict(FastStyleConfig)` plus the loss layers.

`step_seconds` times this step on synthetic crops for the presets' time estimates (core.presets).
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core.checkpoints import SUFFIX, ModelKind
from core.devices import autocast, memory_format, pick_device
from core.errors import ImageError, UserError
from core.features import VGGFeatures, load_features
from core.images import list_images, load_image, resize_long_side, to_pil, to_tensor
from core.jobs import JobContext, Resumable
from core.presets import StepShape, StepTiming
from core.safety import OutputType, check_new_model, require_suffix
from core.style.losses import CONTENT_LAYERS, STYLE_LAYERS, content_loss, gram, style_loss, total_variation
from core.style.networks import ARCH, TransformerNet
from core.style.settings import FAST_STYLE_STEPS, FAST_STYLE_WEIGHT, FAST_TV_WEIGHT, FastStyleConfig
from core.training import (
    StepLoop,
    TrainingState,
    diverged,
    read_resumable,
    require_at_least_one,
    resumed_config,
    seeded,
    step_timing,
    time_steps,
)

FAST_STYLE_NETWORK = OutputType("a fast style network", frozenset({SUFFIX}), f"a name ending in {SUFFIX}")
LOSS_NAMES = ("style", "content", "tv", "total")

PREVIEW_SIDE = 256
MAX_PHOTOS = 1000  # 2,000 steps of 4 see 8,000 crops: more photos add memory, not variety
PHOTO_SIDE = 1.25  # photos are held with a short side of 1.25 x image_size, crops are resized from them
CROP_FRACTION = (0.6, 1.0)  # square crop side, as a fraction of the held photo's short side
STYLE_SIDE = 2.0  # the painting's long side, x image_size x style_scale: the scale of a whole photo


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
        steps: int = FAST_STYLE_STEPS,
        batch_size: int = 4,
        image_size: int = 256,
        style_weight: float = FAST_STYLE_WEIGHT,
        content_weight: float = 1.0,
        tv_weight: float = FAST_TV_WEIGHT,
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
            {"steps": steps, "checkpoint interval": checkpoint_every, "preview interval": preview_every}
        )
        self.requested = FastStyleConfig(
            image_size=image_size, style_scale=style_scale, style_weight=style_weight,
            content_weight=content_weight, tv_weight=tv_weight, batch_size=batch_size, lr=lr, seed=seed,
        )  # fmt: skip
        self.style, self.photos, self.out = style, Path(photos), Path(out)
        self.steps, self.device = steps, device
        self.checkpoint_every, self.preview_every = checkpoint_every, preview_every
        self.resume = None if resume is None else Path(resume)
        self.style_name = style_name
        self.timing: StepTiming | None = None  # measured by `run`, for the next estimate

    def run(self, ctx: JobContext) -> Path:
        require_suffix(self.out, FAST_STYLE_NETWORK)
        check_new_model(self.out, self.resume)
        device = pick_device(self.device)
        layout = memory_format(device)
        resumed = read_resumable(self.resume, ModelKind.FAST_STYLE, ARCH, self.steps)
        config = self.requested
        if resumed is not None:
            kept = resumed_config(resumed.info.config, asdict(config), ("lr",), ctx)
            config = FastStyleConfig.from_dict(kept)
        with seeded(config.seed):
            net = TransformerNet().to(device).to(memory_format=layout)
        state = TrainingState({"net": net}, {"optim": torch.optim.Adam(net.parameters(), lr=config.lr)})
        if resumed is not None:
            state.restore(resumed, lrs={"optim": config.lr})
            ctx.message(f"Resuming from step {state.step} of {resumed.path.name}.")
        state.require_room(self.out)

        photos, preview = self._read_photos(ctx, config)
        loaded = load_features()
        ctx.message(f"Loss network: {loaded.source}. Device: {device}.")
        vgg = loaded.net.to(device).to(memory_format=layout)
        style_targets = self._style_targets(vgg, config, device)
        preview_input = to_tensor(preview, device).contiguous(memory_format=layout)
        optimizer = state.optimizers["optim"]

        def step(k: int) -> Tensor:
            batch = self._batch(photos, config, k, device).contiguous(memory_format=layout)
            return _train_step(net, vgg, optimizer, style_targets, config, batch, device)

        def preview_step(k: int) -> None:
            with torch.inference_mode(), autocast(device):
                ctx.preview(to_pil(net(preview_input).float()), f"Step {k} of {self.steps}")

        def save() -> None:
            record = {
                "steps": self.steps,
                "style": self.style_name,
                "photos": self.photos.name,
                "photo_count": len(photos),
            }
            state.save(
                self.out, kind=ModelKind.FAST_STYLE, arch=ARCH, training=record,
                config={**asdict(config), "content_layers": CONTENT_LAYERS, "style_layers": STYLE_LAYERS},
                diverged=lambda: self._diverged(state.step, config),
            )  # fmt: skip

        loop = StepLoop(
            ctx, state, LOSS_NAMES, self.steps, save, lambda k: self._diverged(k, config),
            checkpoint_every=self.checkpoint_every, preview_every=self.preview_every, preview=preview_step,
            report_every=StepLoop.report_interval(device),
        )  # fmt: skip
        loop.train(step, self.out)
        self.timing = step_timing(loop, device, StepShape(config.image_size, config.batch_size))
        return self.out

    def _diverged(self, step: int, config: FastStyleConfig) -> UserError:
        cure = (
            f"lower the learning rate (now {config.lr:g}) or the style weight (now {config.style_weight:g})"
        )
        return diverged(f"at step {step}", self.out, cure)

    def _read_photos(self, ctx: JobContext, config: FastStyleConfig) -> tuple[list[Tensor], Image.Image]:
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
            paths = sorted(random.Random(config.seed).sample(paths, MAX_PHOTOS))
        short_side = round(PHOTO_SIDE * config.image_size)
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

    def _batch(
        self, photos: list[Tensor], config: FastStyleConfig, step: int, device: torch.device
    ) -> Tensor:
        """The training batch of `step` (batch_size, 3, image_size, image_size) in [0, 1] on `device`, drawn
        from an RNG seeded with (seed, step) alone. Crops travel as uint8 (pinned, asynchronous on CUDA) and
        are resized on the device."""
        rng = random.Random(f"fast-style {config.seed} {step}")  # str seeds are hashed: stable across runs
        crops = []
        for _ in range(config.batch_size):
            photo = photos[rng.randrange(len(photos))]
            height, width = photo.shape[1:]
            side = max(1, round(min(height, width) * rng.uniform(*CROP_FRACTION)))
            top, left = rng.randint(0, height - side), rng.randint(0, width - side)
            crop = photo[None, :, top : top + side, left : left + side]
            if device.type == "cuda":
                crop = crop.pin_memory()
            crop = crop.to(device, non_blocking=True).float().div_(255.0)
            crop = F.interpolate(
                crop, size=(config.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
            crops.append(crop.flip(-1) if rng.random() < 0.5 else crop)
        return torch.cat(crops)  # bilinear weights are >= 0: no overshoot, no clamp needed

    def _style_targets(
        self, vgg: VGGFeatures, config: FastStyleConfig, device: torch.device
    ) -> dict[str, Tensor]:
        """Gram targets (1, C, C) of the painting, its long side STYLE_SIDE x image_size x style_scale."""
        side = max(32, round(STYLE_SIDE * config.image_size * config.style_scale))
        style = to_tensor(resize_long_side(self.style, side), device)
        with torch.no_grad(), autocast(device):
            features = vgg(style.contiguous(memory_format=memory_format(device)), STYLE_LAYERS)
        return {name: gram(f.float()) for name, f in features.items()}


def _train_step(
    net: TransformerNet,
    vgg: VGGFeatures,
    optimizer: torch.optim.Optimizer,
    style_targets: dict[str, Tensor],
    config: FastStyleConfig,
    batch: Tensor,
    device: torch.device,
) -> Tensor:
    """One Adam step of `net` on `batch` (B, 3, S, S) in [0, 1]; returns LOSS_NAMES."""
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
    style, content, tv = parts
    total = config.style_weight * style + config.content_weight * content + config.tv_weight * tv
    optimizer.zero_grad(set_to_none=True)
    total.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return torch.stack([*parts, total])


def step_seconds(
    shapes: Sequence[StepShape], device: torch.device, budget_s: float, check: Callable[[], None]
) -> dict[StepShape, float]:
    """Seconds per training step of each shape on `device` (core.training.time_steps), on random crops
    against a random painting's Gram matrices (their size does not depend on the crops')."""
    layout = memory_format(device)
    vgg = (
        load_features(allow_download=False).net.to(device).to(memory_format=layout)
    )  # a probe never downloads
    painting = torch.rand(1, 3, 256, 256, generator=torch.Generator()).to(device)
    with torch.no_grad():
        style_targets = {name: gram(f.float()) for name, f in vgg(painting, STYLE_LAYERS).items()}

    def make_step(shape: StepShape) -> Callable[[int], Tensor]:
        config = FastStyleConfig(image_size=shape.size, batch_size=shape.batch_size)
        with seeded(config.seed):
            net = TransformerNet().to(device).to(memory_format=layout)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        crops = torch.rand(shape.batch_size, 3, shape.size, shape.size, generator=torch.Generator())
        batch = crops.to(device).contiguous(memory_format=layout)
        return lambda _: _train_step(net, vgg, optimizer, style_targets, config, batch, device)

    return time_steps(shapes, make_step, budget_s, check)
