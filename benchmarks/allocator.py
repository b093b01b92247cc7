"""The allocator setting the app and the CLI start with (core.allocator), beside glibc's defaults.

    python -m benchmarks.allocator [--repeats 3]

Each workload runs in a fresh process per setting, on a worker thread as the window runs its jobs, and
prints seconds per run, minor page faults per run and the process's peak memory (VmHWM):
- the fast style network (untrained weights: the time does not depend on them) on 1024 and 2048 px
  pictures through FastStyleJob, one tile;
- Gatys at 512 px: 10 L-BFGS iterations through GatysJob, one scale.
"""

import argparse
import json
import subprocess
import sys

import torch

from core.devices import describe, pick_device

CHILD = """
import json, resource, sys, tempfile, threading, time
from pathlib import Path
tuned, workload, side, repeats = sys.argv[1] == "tuned", sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from core.allocator import keep_freed_memory
took = keep_freed_memory() if tuned else False
from PIL import Image
from core.jobs import run_job
folder = Path(tempfile.mkdtemp())
picture = Image.effect_noise((side, side), 60).convert("RGB")

def job():
    if workload == "fast":
        from core.checkpoints import ModelKind, save_checkpoint
        from core.style.fast import FastStyleJob
        from core.style.networks import ARCH, TransformerNet
        net = folder / "net.safetensors"
        save_checkpoint(net, TransformerNet().state_dict(), kind=ModelKind.FAST_STYLE, arch=ARCH)
        return FastStyleJob(picture, net, tile=4096)
    if workload == "gatys":
        from core.style.gatys import GatysJob
        from core.style.settings import GatysSettings, StyleImage
        style = Image.effect_mandelbrot((256, 256), (-2, -1.5, 1, 1.5), 100).convert("RGB")
        return GatysJob(picture, [StyleImage(style)], GatysSettings(size=side, iterations=10, scales=1))
    raise SystemExit(f"unknown workload {workload}")

times, faults = [], []
def work():
    run_job(job())  # warm-up: weights read, kernels chosen
    for _ in range(repeats):
        before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        run_job(job())
        times.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=work)
thread.start()
thread.join()
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 2**20
print(json.dumps({"took": took, "s": min(times), "faults": min(faults), "peak": peak}))
"""

WORKLOADS = (("fast", 1024), ("fast", 2048), ("gatys", 512))


def measure(tuned: bool, workload: str, side: int, repeats: int) -> dict[str, float]:
    args = [sys.executable, "-c", CHILD, "tuned" if tuned else "default", workload, str(side), str(repeats)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per workload (the best counts)")
    args = parser.parse_args()
    print(f"device: {describe(pick_device())}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("workload      | glibc defaults: s, faults, peak GiB | kept: s, faults, peak GiB | speed-up")
    for workload, side in WORKLOADS:
        plain = measure(False, workload, side, args.repeats)
        tuned = measure(True, workload, side, args.repeats)
        if not tuned["took"]:
            print("this C library does not take the setting (not glibc): nothing to compare")
            return
        cells = [f"{r['s']:.2f} s, {r['faults']:,.0f}, {r['peak']:.2f}" for r in (plain, tuned)]
        print(f"{workload} {side} px".ljust(13), "|", " | ".join(cells), f"| {plain['s'] / tuned['s']:.2f}x")


if __name__ == "__main__":
    main()
