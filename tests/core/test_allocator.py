import subprocess
import sys

import pytest

# A fresh process: allocator settings hold from start-up. On a worker thread, as the window runs jobs,
# a 64 MiB tensor written and freed 5 times to settle, then 20 times more; prints the minor page faults
# those 20 took, and the resident memory before and after release_freed_memory.
CHILD = """
import resource, sys, threading
import torch
from core.allocator import keep_freed_memory, release_freed_memory
if sys.argv[1] == "kept":
    keep_freed_memory()
faults = []
def work():
    for _ in range(5):
        torch.ones(16 << 20).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.ones(16 << 20).sum()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=work)
thread.start()
thread.join()
def resident_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
held = resident_mib()
release_freed_memory()
print(faults[0], held, resident_mib())
"""


def run_child(setting: str) -> tuple[int, float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, setting], capture_output=True, text=True, check=True)
    faults, held, released = out.stdout.split()
    return int(faults), float(held), float(released)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_tensor_memory_is_reused_then_given_back() -> None:
    default_faults, _, _ = run_child("default")
    kept_faults, held, released = run_child("kept")
    # glibc's default maps and unmaps each 64 MiB block: 16,384 pages faulted in per round.
    assert default_faults > 20 * 10_000
    assert kept_faults < default_faults / 10
    # What the rounds freed stays in the process until a job ends, then goes back to the system.
    assert held - released > 48
