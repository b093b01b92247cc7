"""How good a classifier is: accuracy, per-class precision and recall, the confusion matrix, and which
images it got wrong (kept per cell, so a front end can show the mistakes of one (true, predicted) pair)."""

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from core.classifier.networks import ClassifierNet
from core.data import ImageSet

MISTAKES_PER_CELL = 64  # enough to see a pattern; bounds the checkpoint's JSON


@dataclass(frozen=True)
class Evaluation:
    class_names: tuple[str, ...]
    confusion: list[list[int]]  # [true][predicted] counts
    mistakes: dict[str, list[int]] = field(default_factory=dict)  # "true,predicted" -> image indices

    @property
    def total(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def accuracy(self) -> float:
        right = sum(self.confusion[i][i] for i in range(len(self.confusion)))
        return right / self.total if self.total else 0.0

    @property
    def precision(self) -> list[float | None]:
        """Per class: of the images predicted c, the share that are c (None: nothing was predicted c)."""
        columns = [sum(row[c] for row in self.confusion) for c in range(len(self.confusion))]
        return [self.confusion[c][c] / n if n else None for c, n in enumerate(columns)]

    @property
    def recall(self) -> list[float | None]:
        """Per class: of the images that are c, the share predicted c (None: no image of c)."""
        return [row[c] / sum(row) if sum(row) else None for c, row in enumerate(self.confusion)]

    def mistakes_of(self, true: int, predicted: int) -> list[int]:
        return self.mistakes.get(f"{true},{predicted}", [])

    def to_json(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "class_names": list(self.class_names),
            "confusion": self.confusion,
            "precision": self.precision,
            "recall": self.recall,
            "mistakes": self.mistakes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Evaluation":
        return cls(tuple(data["class_names"]), data["confusion"], data.get("mistakes", {}))

    def table(self) -> str:
        """The confusion matrix and per-class figures as plain text (rows: true class)."""
        width = max(8, *(len(n) for n in self.class_names))
        lines = [
            f"accuracy {self.accuracy:.4f} on {self.total} images",
            "rows: true class, columns: predicted",
        ]
        lines.append(" " * width + " " + " ".join(f"{i:>6}" for i in range(len(self.class_names))))
        for i, (name, row) in enumerate(zip(self.class_names, self.confusion, strict=True)):
            lines.append(f"{name:>{width}} " + " ".join(f"{n:>6}" for n in row) + f"   [{i}]")
        for name, p, r in zip(self.class_names, self.precision, self.recall, strict=True):
            lines.append(f"{name:>{width}}: precision {_percent(p)}, recall {_percent(r)}")
        return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def evaluation_of(
    logits: Tensor, labels: Tensor, indices: Tensor, class_names: tuple[str, ...]
) -> Evaluation:
    """The evaluation of (N, K) logits against (N,) labels; `indices` (N,) name the images in mistakes."""
    k = len(class_names)
    predicted = logits.argmax(dim=1).cpu()
    labels = labels.cpu()
    confusion = torch.bincount(labels * k + predicted, minlength=k * k).view(k, k)
    mistakes: dict[str, list[int]] = {}
    for i in torch.nonzero(predicted != labels).flatten().tolist():
        cell = mistakes.setdefault(f"{int(labels[i])},{int(predicted[i])}", [])
        if len(cell) < MISTAKES_PER_CELL:
            cell.append(int(indices[i]))
    return Evaluation(class_names, confusion.tolist(), mistakes)


def logits_of(
    net: ClassifierNet, data: ImageSet, indices: Tensor, device: torch.device, chunk: int = 256
) -> Tensor:
    """(len(indices), K) logits of the data set's images `indices`, in eval mode, in chunks."""
    net.eval()
    out = []
    with torch.inference_mode():
        for part in torch.split(indices, chunk):
            x = data.images[part].to(device).float().div_(127.5).sub_(1.0)
            out.append(net(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, len(net.config.class_names))
