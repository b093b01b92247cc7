"""Issue 12, rules 4, 5 and 10: the disk and the memory. A long job checks its output is writable and has
room for a checkpoint before it starts; OS errors are one line naming the file and the cause; temporary
files of a failed or killed save are removed; running out of memory says what to do.

Real read-only and full disks are small tmpfs mounts (skipped where mounting is not permitted); the tests
run as root here, for whom chmod alone does not stop a write, so permission denied is simulated by making
the OS call raise its real errno."""

import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import core.files
from core.cli import main
from core.errors import StorageError, user_message
from tests.conftest import untrained_fast_style
from tests.core.test_trust import picture_folder
from tests.core.test_trust_signals import REPO

Mount = Callable[[str, str], Path]


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Mount]:
    """`mount_tmpfs(name, options)`: a fresh tmpfs at tmp_path / name, unmounted after the test."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command here")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def noisy_picture(path: Path, side: int = 400) -> Path:
    """A picture that does not compress: its PNG is about side * side * 3 bytes."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8), "RGB").save(path)
    return path


def gan_args(data: Path, out: Path) -> list[str]:
    return [str(a) for a in ("train-gan", data, "--size", "32", "--width", "8", "--steps", "5", "--out", out)]


# --- rule 4: checked before the long job starts ----------------------------------------------------------


def test_training_onto_a_read_only_disk_is_refused_before_it_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mount_tmpfs: Mount
) -> None:
    read_only = mount_tmpfs("ro", "ro,size=1m")
    data = picture_folder(tmp_path / "data", count=4, size=16)
    assert main(["-q", *gan_args(data, read_only / "run")]) == 1
    err = capsys.readouterr().err
    checkpoint = read_only / "run" / "gan.safetensors"
    assert err == f"error: Cannot write {checkpoint}: the disk is read-only: choose another folder.\n"


def test_training_without_room_for_a_checkpoint_is_refused_before_the_first_step(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mount_tmpfs: Mount
) -> None:
    small = mount_tmpfs("small", "size=64k")
    data = picture_folder(tmp_path / "data", count=4, size=16)
    assert main(gan_args(data, small / "run")) == 1
    err = capsys.readouterr().err
    assert "Training on" not in err  # not one step
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        f"error: Cannot write {small / 'run' / 'gan.safetensors'}: the disk has 0.1 MB free"
    )
    assert "one checkpoint needs" in last
    assert list((small / "run").iterdir()) == []


# --- rule 5: OS errors in one line, no temporary files left ----------------------------------------------


def fill(folder: Path) -> None:
    """Write into `folder` until its disk is full."""
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            error = exc
    assert error.errno == errno.ENOSPC


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, palette_file: Path, mount_tmpfs: Mount
) -> None:
    full = mount_tmpfs("full", "size=256k")
    fill(full)
    picture = noisy_picture(tmp_path / "big.png")
    assert main(["-q", "colour-transfer", str(picture), str(palette_file), "-o", str(full / "out.png")]) == 1
    err = capsys.readouterr().err
    full_disk = "the disk is full: free some space or choose another folder"
    assert err == f"error: Cannot write {full / 'out.png'}: {full_disk}.\n"
    # A checkpoint (written by safetensors, which reports the OS error only in its text) alike.
    with pytest.raises(StorageError, match=r"Cannot write .*net.safetensors: the disk is full"):
        untrained_fast_style(full / "net.safetensors")
    assert sorted(p.name for p in full.iterdir()) == ["filler"]


def test_permission_denied_names_the_file(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    photo_file: Path,
    palette_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Simulated (root passes any chmod): creating the file raises the real EACCES."""
    real_open = os.open

    def denied(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(core.files.PART_SUFFIX):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(core.files.os, "open", denied)
    target = tmp_path / "locked" / "out.png"
    assert main(["colour-transfer", str(photo_file), str(palette_file), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: Cannot write {target}: permission denied: choose a folder you can write to.\n"


def test_a_name_too_long_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_file: Path, palette_file: Path
) -> None:
    target = tmp_path / ("x" * 300 + ".png")
    assert main(["colour-transfer", str(photo_file), str(palette_file), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: Cannot write {target}: the name is too long: choose a shorter name or folder.\n"


def test_a_vanished_file_is_one_line_not_an_unexpected_error() -> None:
    """An OS error no check foresaw (a file deleted while in use) still reads as a cause, not a bug."""
    message = user_message(FileNotFoundError(errno.ENOENT, "No such file or directory", "/photos/a.png"))
    assert message == "Cannot use /photos/a.png: it (or its folder) no longer exists."


KILLED_WRITER = """
import sys, time
from core.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a picture")
    print("writing", flush=True)
    time.sleep(120)
"""


def test_a_save_killed_with_kill_9_is_swept_at_the_next_save(
    tmp_path: Path, photo_file: Path, palette_file: Path
) -> None:
    target = tmp_path / "out.png"
    writers = [
        subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], cwd=REPO, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == b"writing\n"
    writers[0].send_signal(signal.SIGKILL)
    writers[0].wait(timeout=30)
    parts = {int(p.name.split(".")[3]): p for p in tmp_path.glob(".out.png.*.part")}  # .out.png.PID.*
    assert sorted(parts) == sorted(w.pid for w in writers)  # what kill -9 left, and the live one's
    try:
        assert main(["-q", "colour-transfer", str(photo_file), str(palette_file), "-o", str(target)]) == 0
        assert not parts[writers[0].pid].exists()  # swept
        assert parts[writers[1].pid].exists()  # a save still running elsewhere is left alone
    finally:
        writers[1].kill()
        writers[1].wait(timeout=30)
        for writer in writers:  # else the pipes are left to the garbage collector (a ResourceWarning)
            if writer.stdout is not None:
                writer.stdout.close()
    with Image.open(target) as saved:
        assert saved.size == (96, 64)


# --- rule 10: out of memory -------------------------------------------------------------------------------

LIMITED = """
import resource, sys
import torch  # loaded before the limit, as it would be by the time a job needs memory
from core.cli import main
status = open("/proc/self/status").read()
size = int(next(line for line in status.splitlines() if line.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 1_500_000_000, resource.RLIM_INFINITY))
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process size from /proc")
def test_out_of_memory_says_what_to_do(tmp_path: Path) -> None:
    """A fast stylization of a 2,500 px picture in one tile needs about 3 GB of activations; the child
    may have 1.5 GB more than it has when the command starts."""
    model = untrained_fast_style(tmp_path / "net.safetensors")
    picture = noisy_picture(tmp_path / "big.png", side=2500)
    args = [
        "stylize",
        picture,
        "--method",
        "fast",
        "--model",
        model,
        "--tile",
        "100000",
        "-o",
        tmp_path / "o.png",
    ]
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, "-q", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: Out of memory: lower the image size or the tile size"), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "o.png").exists()
