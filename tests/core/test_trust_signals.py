"""Issue 12, rule 3: Ctrl-C (SIGINT) and SIGTERM stop a CLI training run like Cancel in the window: a
resumable checkpoint of the step reached, where it is, exit status 130 / 143. Real signals to a real CLI
process; and `--checkpoint-every` proven by a kill -9 that leaves only what the interval wrote."""

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.checkpoints import read_info
from core.cli import main
from tests.core.test_trust import picture_folder

REPO = Path(__file__).resolve().parents[2]


def start(*args: str | Path) -> subprocess.Popen[bytes]:
    """`neural-easel-cli ARGS` as a child process (with this test's app folder, from the environment)."""
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


# The progress bar redraws at most every 50 ms, so a given step may never be printed: wait for any >= 3.
PAST_STEP_3 = r"step ([3-9]|\d{2,}) of 100000"


def wait_for(process: subprocess.Popen[bytes], pattern: str, timeout_s: float = 60) -> str:
    """Read the child's stderr (progress bar and messages) until `pattern` (a regular expression)
    matches; return what was read."""
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout_s
    while not re.search(pattern.encode(), seen):
        assert time.monotonic() < deadline, f"no {pattern!r} in time: {seen.decode(errors='replace')[-2000:]}"
        ready, _, _ = select.select([process.stderr], [], [], 1.0)
        if ready:
            chunk = os.read(process.stderr.fileno(), 65536)
            assert chunk or process.poll() is None, f"exited early: {seen.decode(errors='replace')}"
            seen += chunk
    return seen.decode(errors="replace")


def finish(process: subprocess.Popen[bytes], timeout_s: float = 60) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout_s)
    return process.returncode, err.decode(errors="replace")


def training_args(command: str, data: Path, out: Path) -> list[str | Path]:
    small = ["--size", "32", "--width", "8", "--batch-size", "4", "--sample-every", "100000"]
    return [command, data, *small, "--steps", "100000", "--checkpoint-every", "100000", "--out", out]


@pytest.mark.parametrize(
    ("command", "name", "signum", "status"),
    [
        ("train-gan", "gan.safetensors", signal.SIGINT, 130),
        ("train-vae", "vae.safetensors", signal.SIGTERM, 143),
    ],
)
def test_a_signal_stops_training_with_a_resumable_checkpoint(
    tmp_path: Path, command: str, name: str, signum: int, status: int
) -> None:
    data = picture_folder(tmp_path / "data", count=8, size=16)
    out = tmp_path / "run"
    process = start(*training_args(command, data, out))
    try:
        wait_for(process, PAST_STEP_3)
        process.send_signal(signum)
        code, err = finish(process)
    finally:
        process.kill()
    checkpoint = out / name
    assert code == status, err
    step = read_info(checkpoint).training["step"]
    assert 3 <= step < 100000  # the step reached, not the last interval's (there was none)
    assert f"Stopped at step {step} of 100000; resume from {checkpoint} to go on." in err
    assert "Unexpected" not in err
    # And it does resume from there.
    resumed = training_args(command, data, out)
    resumed[resumed.index("100000", resumed.index("--steps"))] = str(step + 2)
    assert main(["-q", *map(str, resumed), "--resume", str(checkpoint)]) == 0
    assert read_info(checkpoint).training["step"] == step + 2


def test_checkpoint_every_of_the_classifier_survives_a_kill(tmp_path: Path, shapes_folder: Path) -> None:
    """kill -9 cannot be caught: what is on disk is what `--checkpoint-every 1` wrote after the first
    epoch (without it, the first checkpoint would come a minute later)."""
    out = tmp_path / "run"
    process = start(
        "train-classifier", shapes_folder, "--epochs", "1000", "--checkpoint-every", "1", "--out", out
    )
    try:
        wait_for(process, re.escape("Epoch 1:"), timeout_s=90)
        deadline = time.monotonic() + 30
        while not (out / "classifier.safetensors").exists():  # the epoch's save follows its message
            assert time.monotonic() < deadline, "no checkpoint after the first epoch"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes (else a ResourceWarning)
    assert read_info(out / "classifier.safetensors").training["epoch"] >= 1
