"""The rules that keep an artist's files safe, checked by every command and window action before any
work starts:

1. No output replaces one of the job's own inputs (pictures, styles, palettes, data folders, checkpoints),
   and a folder's results never go into that folder. Paths are compared by identity (the same file
   through a symbolic link, a hard link, `..` or another letter case is the same file). An output's type
   follows its suffix, which is checked.
2. Training never replaces a trained model: when the output already exists, the run is refused with the
   hint to resume it; resuming a checkpoint writes back to it (that is the continuation asked for).
"""

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.files import prepare_output


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether `a` and `b` are one file or folder (links and case-insensitive file systems included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): only then can the spelling alone decide
        return Path(a).resolve() == Path(b).resolve()


@dataclass(frozen=True)
class OutputType:
    """What a kind of output file is called and the suffixes that make it (its type follows its suffix)."""

    what: str  # "a picture"
    suffixes: frozenset[str]  # lower case, with the dot
    names: str  # the suffixes as the artist reads them: ".png, .jpg or .webp"


def require_suffix(output: Path, kind: OutputType) -> None:
    """Refuse a name whose suffix makes another type: `model.safetensors` for an ONNX file."""
    if output.suffix.lower() not in kind.suffixes:
        raise UserError(f"{output.name} cannot hold {kind.what}: use {kind.names}.")


def check_output(output: Path, inputs: Iterable[Path | None], kind: OutputType) -> None:
    """Refuse, before any work, an `output` file with the wrong suffix, one that is an input, or one whose
    folder cannot take it (read-only, missing permission, name too long)."""
    require_suffix(output, kind)
    for source in inputs:
        if source is not None and same_file(output, source):
            raise UserError(
                f"{output.name} is one of this job's inputs and would be overwritten: choose another "
                "output file."
            )
    prepare_output(output)


def check_output_folder(out_dir: Path, targets: Iterable[Path], inputs: Collection[Path]) -> None:
    """For a folder of results: refuse writing into an input folder or over any input file."""
    for source in inputs:
        if source.is_dir() and same_file(out_dir, source):
            raise UserError(
                f"The results would go into {source.name} itself, over its originals: choose another "
                f"output folder (e.g. {source.name} stylized)."
            )
    inside = {_identity(p) for p in inputs if p.is_file()}
    for target in targets:
        if target.exists() and _identity(target) in inside:
            raise UserError(
                f"{target} is one of the pictures being read and would be overwritten: choose another "
                "output folder."
            )


def check_new_model(out: Path, resume: Path | None) -> None:
    """Rule 2 for a training run writing `out`: an existing file there is only replaced when it is the
    checkpoint being resumed. Also sweeps what an interrupted save left and checks the folder is writable."""
    if out.exists() and (resume is None or not same_file(out, resume)):
        raise UserError(
            f"{out} already exists: to go on training it, resume from it (--resume {out}); to keep it, "
            "choose another output."
        )
    prepare_output(out)


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino
