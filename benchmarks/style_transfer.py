"""Style-transfer speed and memory, with reference points measured in the same run.

    python -m benchmarks.style_transfer [--quick] [--skip-memory] [--content PATH] [--style PATH]
                                        [--photos FOLDER]

Prints, with the device:
- Gatys: seconds per L-BFGS iteration at 256/512/1024 px with our pipeline (VGG from the offline
  package, relative losses; bf16 where the hardware has it, and then fp32 too), beside a plain
  single-scale Gatys loop on torchvision's VGG19 (Gatys' layers, weights not needed for timing);
- time to reach a fixed style loss at 512 px: single scale (bf16 and fp32) vs coarse-to-fine, for three
  targets: the style losses single-scale reaches after 1/4, 1/2 and all of --target-iterations;
- fast network: ms per image at 512/1024/2048 px through FastStyleJob, beside a bare fp32 forward pass of the
  same TransformerNet shape as pytorch/examples (about 1.7M parameters); training steps per second;
- peak memory (VmHWM of a fresh process, Linux) of a 3840 x 2160 stylization: Gatys tiled (one iteration per
  tile) and the fast network tiled.
Inputs: --content (default: the app's photo-like sample picture, resources/images/sample.jpg), --style
(default: the Starry Night, tests/data/starry_night.jpg) and --photos, the folder fast-network training reads
(default: the content picture's folder). The README's figures name the pictures they were measured on.
"""

import argparse
import dataclasses
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from core.devices import PRECISION_VAR, describe, native_bf16, pick_device
from core.features import load_features
from core.images import load_image, resize_long_side
from core.jobs import Event, Progress, run_job
from core.style.gatys import GatysJob
from core.style.settings import GatysSettings, StyleImage

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONTENT = REPO / "resources" / "images" / "sample.jpg"
DEFAULT_STYLE = REPO / "tests" / "data" / "starry_night.jpg"


@dataclass(frozen=True)
class Inputs:
    content: Path  # the picture to stylize
    style: Path  # the painting
    photos: Path  # a folder of pictures for fast-network training


def gatys_seconds_per_iteration(inputs: Inputs, side: int, iterations: int, device: str) -> float:
    settings = GatysSettings(
        size=side, iterations=iterations + 1, scales=1, device=device, preview_every=10**6
    )
    stamps: list[float] = []
    run_job(
        GatysJob(load_image(inputs.content), [StyleImage(load_image(inputs.style))], settings),
        lambda e: stamps.append(time.perf_counter()) if isinstance(e, Progress) else None,
    )
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)  # from the first step on: no loading or targets


def plain_gatys_seconds_per_iteration(side: int, iterations: int, device: torch.device) -> float:
    """The textbook loop: torchvision VGG19, max pooling, MSE content and Gram losses, L-BFGS."""
    import torchvision

    vgg = torchvision.models.vgg19().features.to(device).eval().requires_grad_(False)
    style_ids, content_id = [1, 6, 11, 20, 29], 22  # relu1_1 ... relu5_1, relu4_2

    def activations(x: torch.Tensor) -> dict[int, torch.Tensor]:
        out = {}
        for i, layer in enumerate(vgg[:30]):
            x = layer(x)
            out[i] = x
        return out

    def gram(f: torch.Tensor) -> torch.Tensor:
        c = f.shape[1]
        flat = f.reshape(c, -1)
        return flat @ flat.T / flat.numel()

    content = torch.rand(1, 3, side * 3 // 4, side, device=device)
    style = torch.rand(1, 3, side * 3 // 4, side, device=device)
    with torch.no_grad():
        targets = {i: gram(f) for i, f in activations(style).items() if i in style_ids}
        content_target = activations(content)[content_id]
    image = content.clone().requires_grad_(True)
    optimiser: torch.optim.Optimizer = torch.optim.LBFGS([image], max_iter=1)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        feats = activations(image)
        loss = torch.nn.functional.mse_loss(feats[content_id], content_target)
        loss = loss + 1e3 * sum(torch.nn.functional.mse_loss(gram(feats[i]), targets[i]) for i in style_ids)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(iterations):
        optimiser.step(closure)  # type: ignore[arg-type]
    return (time.perf_counter() - start) / iterations


def style_loss_curve(inputs: Inputs, settings: GatysSettings) -> list[tuple[float, float]]:
    """[(seconds since the job started, style loss)] after each iteration of the finest scale: the seconds
    include loading VGG, the style targets and the coarser scales."""
    start, curve = time.perf_counter(), []
    finest = f"Scale {len(settings.schedule())} of"

    def sink(event: Event) -> None:
        if isinstance(event, Progress) and event.stage.startswith(finest) and event.losses:
            curve.append((time.perf_counter() - start, event.losses["style"]))

    run_job(GatysJob(load_image(inputs.content), [StyleImage(load_image(inputs.style))], settings), sink)
    return curve


def seconds_to(curve: list[tuple[float, float]], target: float) -> float:
    """When a curve first reaches `target` (NaN if it never does)."""
    return next((seconds for seconds, loss in curve if loss <= target), float("nan"))


@contextmanager
def precision(name: str) -> Iterator[None]:
    """Run with NEURAL_EASEL_PRECISION=name ("auto" or "fp32")."""
    before = os.environ.get(PRECISION_VAR)
    os.environ[PRECISION_VAR] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ[PRECISION_VAR]
        else:
            os.environ[PRECISION_VAR] = before


def fast_ms_per_image(
    inputs: Inputs, side: int, model: Path, device: str, repeats: int
) -> tuple[float, float]:
    from core.style.fast import FastStyleJob
    from core.style.networks import load_transformer

    content = resize_long_side(load_image(inputs.content), side)
    run_job(FastStyleJob(content, model, device=device, tile=4096))  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        run_job(FastStyleJob(content, model, device=device, tile=4096))
    ours = (time.perf_counter() - start) / repeats * 1000
    net, _ = load_transformer(model)
    net = net.to(device).eval()
    x = torch.rand(1, 3, content.height, content.width, device=device)
    with torch.inference_mode():
        net(x)
        start = time.perf_counter()
        for _ in range(repeats):
            net(x)
        if x.is_cuda:
            torch.cuda.synchronize()
    return ours, (time.perf_counter() - start) / repeats * 1000


def fast_training_steps_per_second(inputs: Inputs, device: str, steps: int) -> float:
    """Steps/s of FastStyleTrainingJob (256 px crops, batch 4: the defaults) on the pictures in
    `inputs.photos`, timed between progress events after the first step."""
    from core.style.training import FastStyleTrainingJob

    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        job = FastStyleTrainingJob(
            load_image(inputs.style),
            inputs.photos,
            Path(folder) / "style.safetensors",
            steps=steps + 1,
            device=device,
        )
        run_job(
            job, lambda e: stamps.append(time.perf_counter()) if isinstance(e, Progress) and e.step else None
        )
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


MEMORY_CHILD = """
import sys
from core.images import load_image
from core.jobs import run_job
kind, model, device = sys.argv[1], sys.argv[2], sys.argv[3]
content = load_image(sys.argv[4]).resize((3840, 2160))
if kind == "gatys":
    from core.style.gatys import GatysJob
    from core.style.settings import GatysSettings, StyleImage
    style = load_image(sys.argv[5])
    settings = GatysSettings(size=3840, iterations=1, scales=1, device=device)
    job = GatysJob(content, [StyleImage(style)], settings)
else:
    from core.style.fast import FastStyleJob
    job = FastStyleJob(content, model, device=device)
run_job(job)
# VmHWM: this process's own peak. ru_maxrss would also count the parent's peak, inherited across fork.
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 2**20)
"""


def peak_memory_gib(inputs: Inputs, kind: str, model: Path, device: str) -> float:
    pictures = [str(inputs.content), str(inputs.style)]
    args = [sys.executable, "-c", MEMORY_CHILD, kind, str(model), device, *pictures]
    return float(subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and iterations")
    parser.add_argument("--device", default=None)
    parser.add_argument("--target-iterations", type=int, default=100)
    parser.add_argument("--coarse-iterations", type=int, default=100, help="coarsest scale (128 px)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--content", type=Path, default=DEFAULT_CONTENT, metavar="PATH", help="%(default)s")
    parser.add_argument("--style", type=Path, default=DEFAULT_STYLE, metavar="PATH", help="%(default)s")
    parser.add_argument(
        "--photos", type=Path, metavar="FOLDER", help="for fast-network training; default: the content's"
    )
    args = parser.parse_args()
    inputs = Inputs(args.content, args.style, args.photos or args.content.parent)
    for path in (inputs.content, inputs.style, inputs.photos):
        if not path.exists():
            parser.error(f"{path} does not exist")
    device = pick_device(args.device)
    print(
        f"device: {describe(device)}; {platform.processor() or platform.machine()}; torch {torch.__version__}"
    )
    print(f"content {inputs.content.name}, style {inputs.style.name}, training photos in {inputs.photos}")
    print(f"feature network: {load_features().source}")
    sides = (256, 512) if args.quick else (256, 512, 1024)
    iterations = 3 if args.quick else 5

    default = "bf16" if native_bf16(device) else "fp32"
    for side in sides:
        ours = gatys_seconds_per_iteration(inputs, side, iterations, str(device))
        line = f"Gatys {side} px: {ours:.2f} s/iteration (ours, {default})"
        if default == "bf16":
            with precision("fp32"):
                fp32 = gatys_seconds_per_iteration(inputs, side, iterations, str(device))
                line += f" | {fp32:.2f} s (ours, fp32)"
        plain = plain_gatys_seconds_per_iteration(side, iterations, device)
        print(f"{line} | {plain:.2f} s (plain, torchvision VGG19, fp32)", flush=True)

    # Time to a style loss at 512 px: the targets are the losses single-scale reaches after a quarter, half
    # and all of --target-iterations; every time counts from the job's start, set-up included.
    target_its = 30 if args.quick else args.target_iterations
    single = GatysSettings(size=512, iterations=target_its, scales=1, device=str(device), preview_every=1)
    curves = {f"single scale, {default}": style_loss_curve(inputs, single)}
    if default == "bf16":
        with precision("fp32"):
            curves["single scale, fp32"] = style_loss_curve(inputs, single)
    for coarsest in (args.coarse_iterations, 2 * args.coarse_iterations):
        coarse = dataclasses.replace(single, iterations=coarsest, scales=3)
        curves[f"coarse-to-fine {coarse.schedule()}, {default}"] = style_loss_curve(inputs, coarse)
    reference = curves[f"single scale, {default}"]
    for its in (target_its // 4, target_its // 2, target_its):
        target = reference[its - 1][1]
        print(f"time to style loss {target:.4f} at 512 px (single scale, {default}, {its} iterations):")
        for name, curve in curves.items():
            seconds = seconds_to(curve, target)
            print(
                f"  {name}: {seconds:.1f} s ({seconds / seconds_to(reference, target):.2f} of single scale)"
            )
    for name, curve in curves.items():
        print(f"  {name}: last style loss {curve[-1][1]:.4f} after {curve[-1][0]:.1f} s")

    from core.checkpoints import ModelKind, save_checkpoint
    from core.style.networks import ARCH, TransformerNet

    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "bench.safetensors"
        net = TransformerNet()
        params = sum(p.numel() for p in net.parameters())
        save_checkpoint(model, net.state_dict(), kind=ModelKind.FAST_STYLE, arch=ARCH)
        for side in (512, 1024) if args.quick else (512, 1024, 2048):
            ours, bare = fast_ms_per_image(inputs, side, model, str(device), 2 if args.quick else 3)
            print(
                f"fast network {side} px: {ours:.0f} ms/image (FastStyleJob) | {bare:.0f} ms "
                f"(bare fp32 forward, {params / 1e6:.2f}M params)"
            )
        rate = fast_training_steps_per_second(inputs, str(device), 6)
        line = f"fast network training, 256 px, batch 4: {rate:.2f} steps/s ({default})"
        if default == "bf16":
            with precision("fp32"):
                line += f" | {fast_training_steps_per_second(inputs, str(device), 6):.2f} steps/s (fp32)"
        print(line, flush=True)
        if not args.skip_memory:
            for kind in ("gatys", "fast"):
                peak = peak_memory_gib(inputs, kind, model, str(device))
                print(f"peak memory 3840 x 2160, {kind}: {peak:.2f} GiB")
    print(f"this process: max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
