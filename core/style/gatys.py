"""Style transfer by optimisation (Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural
Networks", CVPR 2016), coarse-to-fine and tiled so it reaches 4K in a fixed memory budget.

The picture's pixels are optimised so that its VGG activations keep the content image's (relu4_2) while
its Gram matrices match the style images' (relu1_1 ... relu5_1), with total variation for smoothness:

    loss = CONTENT_WEIGHT * L_content + strength * STYLE_WEIGHT * L_style / L_style(photo)
           + smoothing * TV_WEIGHT * L_tv

L_style(photo) is the photo's own style loss against this run's targets (at the first scale, floored at
START_STYLE_FLOOR): how far apart this pair's styles are to begin with. Dividing by it makes strength 1
ask for the same *fraction* of that gap to be closed for every pair. With a fixed weight (before: 10 *
L_style) a pair whose styles start far apart pushed the photo away as hard as it took to close a gap up
to ten times larger (at the first scale of a 256 px run the sample photo under the Starry Night starts at
0.55, the dusk picture under the Scream at 3.2) and lost it under the painting. STYLE_WEIGHT = 5 keeps
about the old balance for pairs that start close (5 / 0.55 is 9). The window's slider goes to 10 (1000 %):
a far pair's old default balance is 10 * 3.2 / 5 = 6.5 in these units, so the top still reaches full
abstraction for it. benchmarks/gatys_balance.py measures both balances per pair.

Coarse-to-fine: the first scale starts from the content (or noise) at 1/2^(n-1) of the size; each finer
scale starts from the previous result upsampled and runs half as many iterations, since the large
structures are already in place (benchmarks/style_transfer.py measures what that buys). A finest
scale larger than `tile` is optimised tile by tile (overlapping, feathered), each tile against the same
global style targets (their Grams also summed tile by tile), so memory depends on the tile, not the
picture.
"""

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from core.devices import autocast, memory_format, pick_device, precision_name
from core.errors import UserError
from core.features import VGGFeatures, load_features
from core.images import resize_long_side, to_pil, to_tensor
from core.jobs import ImageResult, JobCancelled, JobContext, Progress, run_job
from core.style.colour import ColourTransferJob, KeepColours, preserve_colours
from core.style.losses import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    blend_grams,
    content_loss,
    gram,
    gram_loss,
    style_loss,
    total_variation,
)
from core.style.settings import GatysSettings, StyleImage
from core.style.tiles import map_tiles, plan_tiles

# Relative losses (core.style.losses) make these independent of the VGG source and the image size.
CONTENT_WEIGHT = 1.0
STYLE_WEIGHT = 5.0  # per unit of the photo's own style loss (module docstring)
# A style that matches the photo already leaves nothing to close: the floor keeps its weight finite.
START_STYLE_FLOOR = 0.1
TV_WEIGHT = 0.02
TILE_OVERLAP = 96
GRAM_ALIGN = 16  # VGG's stride at relu5_1: pieces of a style image start on its grid
GRAM_MARGIN = 96  # context around each piece when style Grams are summed in pieces


@dataclass
class _Run:
    """Shared state of one optimisation: targets, counters and the latest complete picture."""

    ctx: JobContext
    net: VGGFeatures
    settings: GatysSettings
    device: torch.device
    work_total: int  # progress in units of pixels optimised per iteration / 1024: ETA stays honest
    style_targets: dict[str, Tensor] = field(default_factory=dict)
    start_style_loss: float = 1.0  # L_style(photo) of the module docstring, set at the first scale
    work_done: int = 0
    iterations_done: int = 0
    latest: Tensor | None = None
    last_losses: dict[str, float] = field(default_factory=dict)


class GatysJob:
    title = "Stylize (optimise)"

    def __init__(
        self,
        content: Image.Image,
        styles: Sequence[StyleImage],
        settings: GatysSettings,
        allow_download: bool = True,
    ) -> None:
        if not styles:
            raise UserError("Add at least one style image.")
        if sum(s.weight for s in styles) <= 0:
            raise UserError("At least one style needs a weight above zero.")
        if settings.size < 64 or settings.size > 8192:
            raise UserError(f"Output size must be between 64 and 8192 px, not {settings.size}.")
        self.content, self.styles, self.settings = content, list(styles), settings
        self.allow_download = allow_download
        # After a run: its seconds per pixel-iteration (GatysSettings.pixel_iterations), loading the
        # network left out (once per session), the style targets and every scale counted.
        self.seconds_per_pixel_iteration: float | None = None

    def run(self, ctx: JobContext) -> ImageResult:
        s = self.settings
        device = pick_device(s.device)
        loaded = load_features(s.weights_file, allow_download=self.allow_download)
        ctx.message(f"Feature network: {loaded.source}. Device: {device}.")
        started = time.perf_counter()
        schedule = s.schedule()
        sizes = s.sizes(self.content.size)  # the output's is s.output_size(...), as the window shows it
        work = sum(_work(h, w, s.tile) * its for (w, h), (_, its) in zip(sizes, schedule, strict=True))
        net = loaded.net.to(device).to(memory_format=memory_format(device))
        run = _Run(ctx, net, s, device, work_total=work)
        styles = self._styles_to_use()
        image: Tensor | None = None
        try:
            for level, ((side, iterations), (width, height)) in enumerate(
                zip(schedule, sizes, strict=True), 1
            ):
                content = to_tensor(_resized(self.content, (width, height)), device)
                run.style_targets = self._style_targets(run.net, styles, side, device)
                if level == 1:  # one balance for the whole run: every scale and tile shares it
                    run.start_style_loss = _start_style_loss(run, content)
                start = self._first_image(content) if image is None else _resize(image, height, width)
                stage = f"Scale {level} of {len(schedule)} ({width} x {height} px)"
                if side > s.tile:
                    pair = torch.cat([start, content], dim=1).cpu()  # (1, 6, H, W): tiles carry both
                    optimise_tile = partial(_optimise_pair, run, iterations=iterations, stage=stage)
                    image = map_tiles(optimise_tile, pair, s.tile, TILE_OVERLAP, ctx.stop_requested).to(
                        device
                    )
                else:
                    image = _optimise(run, start, content, iterations, stage)
                run.latest = image
        except JobCancelled:
            pass  # keep the latest complete picture
        if run.latest is None:
            raise JobCancelled  # cancelled before the first scale finished: nothing to keep
        width, height = sizes[-1]  # a run cancelled at a coarser scale still delivers the size asked for
        picture = preserve_colours(
            to_pil(_resize(run.latest, height, width)), self.content, _post(s.keep_colours)
        )
        record = {"operation": "stylize", "method": "optimise", **asdict(s)}
        record |= {"iterations_done": run.iterations_done, "feature_network": loaded.source}
        record |= {"precision": precision_name(device)}
        record |= {"styles": [{"name": st.name, "weight": st.weight} for st in self.styles]}
        record |= {"losses": run.last_losses, "start_style_loss": run.start_style_loss}
        if not ctx.token.cancelled:  # all the work asked for was done: a rate for the next estimate
            work = s.pixel_iterations(self.content.size)
            self.seconds_per_pixel_iteration = (time.perf_counter() - started) / work
        return ImageResult(picture, record)

    def _styles_to_use(self) -> list[StyleImage]:
        """The style images, recoloured with the content's colours when "match" keeps colours (Gatys et al.
        2016, colour histogram matching)."""
        if self.settings.keep_colours != "match":
            return self.styles
        return [
            StyleImage(
                ColourTransferJob(st.image, self.content, "covariance").run(JobContext()).image, st.weight
            )
            for st in self.styles
        ]

    def _first_image(self, content: Tensor) -> Tensor:
        if self.settings.init == "content":
            return content
        noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(self.settings.seed))
        return noise.to(content.device)

    def _style_targets(
        self, net: VGGFeatures, styles: Sequence[StyleImage], side: int, device: torch.device
    ) -> dict[str, Tensor]:
        """Blended Gram targets with the style images scaled to `style_scale` times the output's size."""
        style_side = max(32, round(side * self.settings.style_scale))
        with torch.no_grad():
            grams = [
                _grams(net, to_tensor(resize_long_side(style.image, style_side), device), self.settings.tile)
                for style in styles
            ]
        return blend_grams(grams, [st.weight for st in styles])


def _grams(net: VGGFeatures, image: Tensor, tile: int) -> dict[str, Tensor]:
    """Style Gram matrices of `image` (1, 3, H, W). A picture larger than `tile` goes through VGG in pieces
    of `tile` px plus a margin of context on each side; only each piece's own positions are counted, so the
    summed F F^T equal the whole picture's up to the margin's reach, in the memory of one piece (a 4K
    style image at once would need ~3 GB of first-layer activations)."""
    height, width = image.shape[-2:]
    if max(height, width) <= tile:
        return {layer: gram(f) for layer, f in net(image, STYLE_LAYERS).items()}
    step = max(GRAM_ALIGN, tile // GRAM_ALIGN * GRAM_ALIGN)  # piece edges on the deepest layer's grid
    sums: dict[str, Tensor] = {}
    positions: dict[str, int] = {}
    for top in range(0, height, step):
        for left in range(0, width, step):
            y0, x0 = max(0, top - GRAM_MARGIN), max(0, left - GRAM_MARGIN)
            y1, x1 = min(height, top + step + GRAM_MARGIN), min(width, left + step + GRAM_MARGIN)
            features = net(image[..., y0:y1, x0:x1], STYLE_LAYERS)
            for layer, f in features.items():
                stride = 2 ** (int(layer[4]) - 1)  # reluB_i sits after B - 1 poolings
                rows = slice((top - y0) // stride, -(-(min(height, top + step) - y0) // stride))
                cols = slice((left - x0) // stride, -(-(min(width, left + step) - x0) // stride))
                flat = f[..., rows, cols].flatten(2)  # (1, C, positions of this piece)
                sums[layer] = sums.get(layer, 0) + flat @ flat.transpose(1, 2)
                positions[layer] = positions.get(layer, 0) + flat.shape[-1]
    return {layer: total / (total.shape[-1] * positions[layer]) for layer, total in sums.items()}


def _start_style_loss(run: _Run, content: Tensor) -> float:
    """The content picture's own style loss against the run's targets, floored (module docstring)."""
    with torch.no_grad():
        grams = _grams(run.net, content, run.settings.tile)
    return max(START_STYLE_FLOOR, float(gram_loss(grams, run.style_targets)))


def _optimise_pair(run: _Run, pair: Tensor, iterations: int, stage: str) -> Tensor:
    """A tile of (picture, content) stacked on channels, (1, 6, h, w) -> the optimised picture tile."""
    picture, content = pair[:, :3].to(run.device), pair[:, 3:].to(run.device)
    return _optimise(run, picture, content, iterations, stage, whole_picture=False)


def _optimise(
    run: _Run, start: Tensor, content: Tensor, iterations: int, stage: str, whole_picture: bool = True
) -> Tensor:
    """Optimise the pixels of `start` (1, 3, H, W) for `iterations` steps; returns the result in [0, 1]."""
    s, ctx = run.settings, run.ctx
    with torch.no_grad():
        content_targets = _features(run, content, CONTENT_LAYERS)
    # The pixels stay contiguous (L-BFGS flattens their gradient); the network sees them in its layout.
    image = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    style_weight = STYLE_WEIGHT * s.style_strength / run.start_style_loss
    tv_weight = TV_WEIGHT * s.smoothing
    losses: dict[str, Tensor] = {}

    def closure() -> Tensor:
        optimiser.zero_grad()
        feats = _features(run, image, (*CONTENT_LAYERS, *STYLE_LAYERS))
        losses["content"] = content_loss(feats, content_targets)
        losses["style"] = style_loss(feats, run.style_targets)
        losses["tv"] = total_variation(image)
        total = CONTENT_WEIGHT * losses["content"] + style_weight * losses["style"] + tv_weight * losses["tv"]
        total.backward()  # type: ignore[no-untyped-call]
        losses["total"] = total
        return total

    optimiser: torch.optim.Optimizer = (
        torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=20)
        if s.optimiser == "lbfgs"
        else torch.optim.Adam([image], lr=0.02)
    )
    for i in range(1, iterations + 1):
        if ctx.stop_requested():
            if whole_picture and i > 1:
                run.latest = image.detach().clamp(0, 1)  # cancel keeps the picture as far as it got
            raise JobCancelled
        optimiser.step(closure)  # type: ignore[arg-type]
        if s.optimiser == "adam":
            with torch.no_grad():
                image.clamp_(0, 1)
        run.iterations_done += 1
        run.work_done += max(1, image.shape[-1] * image.shape[-2] // 1024)
        report = i == iterations or i % s.preview_every == 0
        if report:  # .item() syncs with the device: only when reporting
            run.last_losses = {name: float(value.detach()) for name, value in losses.items()}
            if not math.isfinite(run.last_losses["total"]):
                raise UserError("The optimisation diverged (the loss became NaN): lower the style strength.")
        ctx.progress(
            run.work_done,
            run.work_total,
            run.last_losses,
            stage=f"{stage} · iteration {i} of {iterations}",
            at=(run.iterations_done, "iteration"),
        )
        if i % s.preview_every == 0:
            preview = to_pil(image.detach())
            ctx.preview(preview, f"{stage}, iteration {i}", on_canvas=True)
    return image.detach().clamp(0, 1)


def _features(run: _Run, image: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """VGG activations, computed in bf16 where the device has it (half the time of fp32 on a CPU with AMX,
    see benchmarks/style_transfer.py) and handed to the losses in fp32: Grams sum many products."""
    with autocast(run.device):
        features = run.net(image.contiguous(memory_format=memory_format(run.device)), layers)
    return {layer: f.float() for layer, f in features.items()}


def _work(height: int, width: int, tile: int) -> int:
    """Progress units of one iteration over a height x width picture (see _Run.work_total)."""
    if max(height, width) <= tile:
        return max(1, height * width // 1024)
    tiles = plan_tiles(height, width, tile, TILE_OVERLAP)
    return sum(max(1, t.height * t.width // 1024) for t in tiles)


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` at `size` (width, height), Lanczos as core.images.resize_long_side; itself when it is."""
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _resize(image: Tensor, height: int, width: int) -> Tensor:
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)


def _post(mode: KeepColours) -> KeepColours:
    """ "match" recolours the style images up front; only "luminance" acts on the result."""
    return "luminance" if mode == "luminance" else "off"


class GatysTimingJob:
    """Measures this device's seconds per pixel-iteration (`GatysSettings.pixel_iterations`) with a short
    optimisation of a synthetic 192 x 144 picture (a few seconds on a laptop CPU), so the window can say
    how long Stylize will take before the first real run. Only the iterations are timed, from the first
    progress report to the last: loading the network happens once per session and would swamp a probe
    this short."""

    title = "Timing style transfer on this device"
    WIDTH, HEIGHT, ITERATIONS = 192, 144, 8

    def __init__(self, weights_file: str | None = None, device: str | None = None) -> None:
        self.settings = GatysSettings(
            size=self.WIDTH, iterations=self.ITERATIONS, scales=1, weights_file=weights_file, device=device
        )

    def run(self, ctx: JobContext) -> float:
        generator = torch.Generator().manual_seed(0)
        noise = torch.randint(0, 256, (self.HEIGHT, self.WIDTH, 3), generator=generator, dtype=torch.uint8)
        picture = Image.fromarray(noise.numpy(), "RGB")
        styles = [StyleImage(picture.transpose(Image.Transpose.ROTATE_180))]
        job = GatysJob(picture, styles, self.settings, allow_download=False)  # a probe never downloads
        reports: list[tuple[float, int]] = []  # (when, work done) of each progress report

        def record(event: object) -> None:
            if isinstance(event, Progress):
                reports.append((time.perf_counter(), event.step))

        ctx.progress(0, 1, stage="Timing a short optimisation")
        if run_job(job, record, ctx.token).cancelled:
            raise JobCancelled
        (start, done_at_start), (end, done) = reports[0], reports[-1]
        timed = (done - done_at_start) / max(1, done)  # the share of the run's work between the two
        ctx.progress(1, 1)
        return (end - start) / (timed * self.settings.pixel_iterations(picture.size))
