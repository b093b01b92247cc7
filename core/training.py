"""What every training job shares: checks of its settings and of its output, resuming, and the rule that
a diverged run never replaces its last good checkpoint."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from core.checkpoints import CheckpointInfo
from core.data import ImageSet
from core.errors import CheckpointError, UserError
from core.files import require_room
from core.jobs import JobContext


def require_at_least_one(values: Mapping[str, int]) -> None:
    """Refuse counts below 1, by their names as a person reads them ("checkpoint interval": 0)."""
    for name, value in values.items():
        if value < 1:
            raise UserError(f"The {name} must be at least 1, not {value}.")


def resumed_step(info: CheckpointInfo, path: Path, total: int, unit: str = "steps") -> int:
    """The step (or epoch) a checkpoint stopped at, refusing one that is already past `total`."""
    done = int(info.training.get("step", 0))
    if done > total:
        raise UserError(f"{path.name} has already trained for {done} {unit}: ask for more to go on.")
    return done


@contextmanager
def restoring(path: Path) -> Iterator[None]:
    """Around loading a checkpoint's weights and optimiser state: a file without them, or with other
    shapes, becomes one clear CheckpointError instead of torch's RuntimeError / KeyError / ValueError."""
    try:
        yield
    except (RuntimeError, KeyError, ValueError):
        raise CheckpointError(f"{path.name} has no training state to resume from.") from None


def diverged(position: str, checkpoint: Path, cure: str) -> UserError:
    """The error for a loss that became NaN or infinite `position` ("at step 3"); `cure`: what to lower."""
    last = f" resume from the last checkpoint ({checkpoint}) or" if checkpoint.exists() else ""
    return UserError(
        f"Training diverged {position} (a loss became infinite or NaN): {cure}, then{last} start again."
    )


def all_finite(modules: Iterable[nn.Module]) -> bool:
    """Whether every weight is still a number: checked before a checkpoint may replace the last one."""
    return all(bool(torch.isfinite(p).all()) for module in modules for p in module.parameters())


def require_room_for(
    out: Path, modules: Iterable[nn.Module], optimizers: Iterable[torch.optim.Optimizer]
) -> None:
    """Before the first step: the disk has room for a checkpoint, estimated as the modules' weights and
    buffers plus two tensors per optimised parameter (Adam's moments; SGD's momentum is one)."""
    size = sum(t.numel() * t.element_size() for m in modules for t in m.state_dict().values())
    size += sum(
        2 * p.numel() * p.element_size() for o in optimizers for g in o.param_groups for p in g["params"]
    )
    require_room(out, size)


def read_data(data: ImageSet | Callable[[JobContext], ImageSet], ctx: JobContext) -> ImageSet:
    """A job's data set: given, or read now by the callable, on the job's thread (the window stays free)."""
    ctx.progress(0, 1, stage="Reading the data set")
    return data if isinstance(data, ImageSet) else data(ctx)
