"""Training a classifier on a folder with one subfolder per class (or a built-in data set), with defaults a
non-expert never has to touch.

- Split: a stratified, seeded validation split (`val_fraction` of each class, at least one image of any
  class with two or more), the same on every run and resume.
- Imbalance: cross-entropy weighted by N / (K n_c) per class (the "balanced" weights), so a class with a
  tenth of the images counts as much; with label smoothing 0.1 (Szegedy et al. 2016).
- Schedule: one-cycle (Smith & Topin 2018): the learning rate rises linearly from peak/25 over the first
  quarter of the steps, then falls along a cosine to zero. It is a function of the step alone, so a resume
  needs no scheduler state.
- Early stopping: after each epoch the validation accuracy is measured; the best weights are kept
  ("best." in the checkpoint: what is used and exported; ties go to the lower validation loss) and
  training stops after `patience` epochs without improvement.
- Size: from scratch, a folder trains at its pictures' own resolution (`scratch_size` of the median
  shorter side: 28 px for Fashion-MNIST's, 64 px at most for photos), in grey when they are grey.
- Route "scratch": `CompactResNet`, SGD with Nesterov momentum 0.9, peak learning rate 0.1, weight decay
  5e-4, batch 128, 12 epochs (more for small sets: about 800 steps; Fashion-MNIST's 12 take about
  8 minutes on two CPU cores); light augmentation: random shifts of up to 1/14 of the size (reflected
  border) and horizontal flips.
- Route "pretrained": frozen features first: the backbone's pooled features of every training image and
  its mirror image are computed once, and a linear head is trained on them (AdamW, peak 3e-3, 30 epochs:
  seconds). Then, optionally, `fine_tune_epochs` of the whole network (AdamW, peak 1e-4, batch norm
  statistics frozen: small data would ruin them) with random crops of 70-100% and flips.

Step k draws its batch from the epoch's seeded permutation and its augmentation from a generator seeded
with (seed, k), and dropout runs under a forked RNG seeded the same way: a resumed run ends exactly where
an uninterrupted one would (bit-identical on the CPU). Cancel saves a resumable checkpoint; a NaN or
infinite loss stops with a UserError and leaves the last good checkpoint in place.

At the end of a run that finished, the check of unfamiliar pictures is calibrated on the best weights
(`core.classifier.novelty`: class means and a shared covariance of the training pictures' pooled
features, the threshold at the 95th percentile of the validation pictures' distances).

Checkpoint (kind CLASSIFIER, arch ARCH) `<out>/classifier.safetensors`: the current weights "net.", the
best ones "best.", the optimizer "optim.", the novelty check's "ood.means" and "ood.whitening"; the config
is `asdict(ClassifierConfig)`; the training JSON holds the position (epoch, batch, step), the settings, the
per-epoch history, the best epoch's validation `Evaluation` (with the data-set indices of its mistakes and
`data_spec` to reopen the data) and the check's calibration "ood" (threshold, validation quantiles).
"""

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from core.catalog import FASHION_MNIST, TORCHVISION_PREFIX
from core.checkpoints import CheckpointInfo, ModelKind, load_checkpoint
from core.classifier.backbones import load_backbone
from core.classifier.evaluation import Evaluation, evaluation_of, logits_of
from core.classifier.networks import ClassifierNet
from core.classifier.novelty import MAX_FIT_IMAGES, fit
from core.classifier.novelty import PREFIX as NOVELTY
from core.classifier.settings import (
    ARCH,
    CHECKPOINT_NAME,
    EFFICIENTNET_LITE0,
    PRETRAINED,
    ROUTES,
    SCRATCH,
    SCRATCH_MAX_SIZE,
    ClassifierConfig,
    TrainingSettings,
    default_settings,
    effective_batch,
    scratch_size,
)
from core.data import ImageSet, checkpoint_shape, open_data_set
from core.devices import autocast, pick_device
from core.errors import CheckpointError, UserError
from core.images import READ_SUFFIXES, FolderLook, look_at_folder
from core.jobs import JobContext, Resumable
from core.safety import check_new_model
from core.training import (
    Resumed,
    StepLoop,
    TrainingState,
    diverged,
    read_data,
    require_at_least_one,
    resumed_config,
    seeded,
)

FEW_IMAGES = 10  # classes with fewer are flagged
LABEL_SMOOTHING = 0.1
# (max shift as a fraction of the size, min zoom) for `augment`: light for small images from scratch
# (2 px on Fashion-MNIST's 28), crops of 70-100% for photos when fine-tuning.
SCRATCH_AUGMENT = (1 / 14, 1.0)
FINE_TUNE_AUGMENT = (0.05, 0.7)
_RESUME_TAKES = ("epochs", "fine_tune_epochs", "lr")  # what a resumed run takes from the new request
SAVE_INTERVAL_S = 60.0  # between epoch-end checkpoints (also saved on cancel, early stop and at the end)


def open_classes(
    spec: str | Path,
    route: str,
    report: Callable[[str], None] | None = None,
    resume: Path | None = None,
) -> ImageSet:
    """The labelled training data of `spec` at the size the route trains at (a resumed run: its
    checkpoint's size and channels): a folder with one subfolder per class (checked: at least two
    classes, none empty, no loose pictures), "fashion-mnist" or "torchvision:NAME" (their training
    splits)."""
    text = str(spec)
    if route not in ROUTES:
        raise UserError(f"Unknown route '{route}': choose {' or '.join(ROUTES)}.")
    if text == FASHION_MNIST or text.startswith(TORCHVISION_PREFIX):
        size = 28 if text == FASHION_MNIST else 32
        return open_data_set(text, size, report=report)
    folder = Path(text)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: choose a folder with one subfolder per class.")
    subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in READ_SUFFIXES]
    if len(subfolders) < 2:
        found = f"only '{subfolders[0]}'" if subfolders else "none"
        raise UserError(
            f"{folder.name} needs one subfolder per class, at least two (found {found}): e.g. "
            f"{folder.name}/cats and {folder.name}/dogs."
        )
    if loose:
        raise UserError(
            f"{folder.name} has pictures outside the class subfolders ({', '.join(loose[:3])}): move each "
            "into the subfolder of its class."
        )
    # The pictures' own resolution from scratch; grey pictures stay grey (a backbone expands them itself).
    shape = checkpoint_shape(resume)
    if shape is None:
        look = look_at_folder(folder) or FolderLook(side=SCRATCH_MAX_SIZE, grey=False)
        shape = (scratch_size(look.side) if route == SCRATCH else 224, look.grey)
    size, grey = shape
    data = open_data_set(folder, size, grey=grey, report=report)
    empty = sorted(set(subfolders) - set(data.class_names))
    if empty or data.labels is None:
        raise UserError(
            f"The class folder(s) {', '.join(empty) or subfolders[0]} in {folder.name} have no readable "
            "pictures: add some, or remove the folder."
        )
    return data


def stratified_split(labels: Tensor, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train indices, validation indices), both sorted: round(val_fraction * n_c) images of each class c,
    at least one of a class with two or more, never all of one, chosen by a generator seeded with `seed`."""
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"The validation fraction must be between 0 and 1, not {val_fraction}.")
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in range(int(labels.max()) + 1):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = min(len(members) - 1, max(1, round(val_fraction * len(members)))) if len(members) > 1 else 0
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def one_cycle(step: int, total: int, peak: float) -> float:
    """The learning rate of `step` (1-based) of `total`: linear warm-up from peak / 25 over the first
    quarter, then a cosine down to zero (Smith & Topin 2018)."""
    warm = max(1, total // 4)
    if step <= warm:
        return peak * (0.04 + 0.96 * step / warm)
    t = (step - warm) / max(1, total - warm)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def augment(x: Tensor, generator: torch.Generator, max_shift: float, min_scale: float) -> Tensor:
    """(B, C, S, S) -> the same shape: per image a random zoom into min_scale..1 of the picture, a shift of
    up to `max_shift` of its size (whole pixels when not zoomed), a mirror image half of the time; the
    border is reflected. One affine resampling (Jaderberg et al. 2015's grid) does all three."""
    b, size = x.shape[0], x.shape[-1]

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(b, generator=generator)

    scale = uniform(min_scale, 1.0)
    room = max_shift * 2 + (1 - scale)  # in normalised coordinates, where the picture spans [-1, 1]
    shift_x, shift_y = uniform(-1, 1) * room, uniform(-1, 1) * room
    if min_scale == 1.0:  # whole pixels: a pure shift then moves the picture without blurring it
        shift_x, shift_y = (torch.round(s * size / 2) * 2 / size for s in (shift_x, shift_y))
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale * flip, scale
    theta[:, 0, 2], theta[:, 1, 2] = shift_x, shift_y
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def class_weights(labels: Tensor, classes: int) -> Tensor:
    """N / (K n_c) per class c ("balanced"): 1 for every class when the set is balanced."""
    counts = torch.bincount(labels, minlength=classes).float().clamp_(min=1)
    return len(labels) / (classes * counts)


class ClassifierTrainingJob(Resumable):
    """Train a classifier; returns the checkpoint path `out_dir / CHECKPOINT_NAME` (see the module
    docstring for the defaults, which None arguments pick)."""

    title = "Train a classifier"

    def __init__(
        self,
        data: ImageSet | Callable[[JobContext], ImageSet],
        out_dir: Path,
        *,
        route: str = SCRATCH,
        backbone: str = EFFICIENTNET_LITE0,
        epochs: int | None = None,
        fine_tune_epochs: int = 0,
        batch_size: int | None = None,
        lr: float | None = None,
        width: int = 24,
        val_fraction: float = 0.1,
        patience: int | None = None,
        seed: int = 0,
        resume: Path | None = None,
        device: str | None = None,
        backbone_weights: Path | None = None,
        data_name: str = "",
        data_spec: str = "",
        checkpoint_every: int | None = None,  # epochs; None: at most SAVE_INTERVAL_S apart
    ) -> None:
        if route not in ROUTES:
            raise UserError(f"Unknown route '{route}': choose {' or '.join(ROUTES)}.")
        counts = {
            "epochs": epochs, "batch size": batch_size, "patience": patience,
            "checkpoint interval": checkpoint_every,
        }  # fmt: skip
        require_at_least_one({name: value for name, value in counts.items() if value is not None})
        if fine_tune_epochs < 0 or (fine_tune_epochs and route == SCRATCH):
            raise UserError("Fine-tuning is for the pretrained route, for 0 or more epochs.")
        self.data, self.out = data, Path(out_dir) / CHECKPOINT_NAME
        self.route, self.backbone, self.width = route, backbone, width
        self.overrides: dict[str, Any] = {
            "epochs": epochs, "fine_tune_epochs": fine_tune_epochs, "batch_size": batch_size, "lr": lr,
            "val_fraction": val_fraction, "patience": patience, "seed": seed,
        }  # fmt: skip
        self.resume = None if resume is None else Path(resume)
        self.device, self.backbone_weights = device, backbone_weights
        self.data_name, self.data_spec = data_name, data_spec
        self.checkpoint_every = checkpoint_every

    # --- the run ---------------------------------------------------------------------------------

    def run(self, ctx: JobContext) -> Path:
        device = pick_device(self.device)
        data = read_data(self.data, ctx)
        check_new_model(self.out, self.resume)  # after the data's own checks, the first thing to hear of
        name = self.data_name or data.name
        labels, few = _checked_labels(data, name, ctx)
        resumed = None  # read here; how many epochs it may go on for is known once its settings are
        if self.resume is not None:
            resumed = Resumed(self.resume, *load_checkpoint(self.resume, ModelKind.CLASSIFIER, arch=ARCH))
        config, settings = self._config(data, resumed.info if resumed else None, labels, ctx)
        train_idx, val_idx = stratified_split(labels, settings.val_fraction, settings.seed)
        if len(val_idx) == 0:
            raise UserError(f"{name} is too small to keep images aside for validation: add pictures.")
        state = _State(config, settings, device, class_weights(labels[train_idx], len(config.class_names)))
        if resumed is None and config.route == PRETRAINED:
            loaded = load_backbone(
                config.backbone,
                self.backbone_weights,
                progress=lambda done, total: ctx.progress(done, total or 0, stage="Downloading the backbone"),
                should_stop=ctx.stop_requested,
            )
            state.net.trunk.load_state_dict(loaded.trunk.state_dict())
            ctx.message(f"Backbone: {loaded.source}.")
        if resumed is not None:
            state.restore(resumed, ctx)
        state.run.require_room(self.out)
        ctx.message(
            f"Training on {len(train_idx)} images of {name} ({len(config.class_names)} classes, "
            f"{len(val_idx)} kept for validation, {config.size} px) on {device}."
        )
        state.training.update(
            data_set=name, data_spec=self.data_spec, image_count=len(data), few_images=few,
            split={"train": len(train_idx), "validation": len(val_idx)},
        )  # fmt: skip
        trainer = _Trainer(state, data, labels, train_idx, val_idx, ctx, self.out, self.checkpoint_every)
        finished = trainer.train()
        if state.evaluation is None:  # cancelled before the first epoch ended: judge what there is
            state.evaluation = trainer.validate(state.net)[0]
        if finished:
            trainer.calibrate()
        state.save(self.out)
        if not finished:
            ctx.message(f"Stopped in epoch {state.epoch + 1}; resume from {self.out} to go on.")
        return self.out

    def _config(
        self, data: ImageSet, stored: CheckpointInfo | None, labels: Tensor, ctx: JobContext
    ) -> tuple[ClassifierConfig, TrainingSettings]:
        """A new run's config and settings from the data and the arguments; a resumed run's by the resume
        rule (core.training.resumed_config): the checkpoint's, with the new lengths (epochs, fine-tuning
        epochs) and learning rate."""
        given = {k: v for k, v in self.overrides.items() if v is not None}
        if stored is not None:
            try:
                config = ClassifierConfig.from_dict(stored.config)
                kept = resumed_config(stored.training["settings"], given, _RESUME_TAKES, ctx)
                settings = TrainingSettings(**kept)
            except (KeyError, TypeError):
                raise CheckpointError("This checkpoint has no training state to resume from.") from None
            if (data.class_names, data.size, data.channels) != (
                config.class_names,
                config.size,
                config.channels,
            ):
                raise UserError(
                    f"{self.data_name or data.name} is not the data this classifier was trained on: resume "
                    "with the same folder."
                )
            return config, settings
        backbone = self.backbone if self.route == PRETRAINED else SCRATCH
        dropout = 0.2 if self.route == PRETRAINED else 0.0  # scratch: augmentation and smoothing suffice
        config = ClassifierConfig(
            data.class_names, data.size, data.channels, backbone=backbone, width=self.width, dropout=dropout
        )
        n_train = round(len(labels) * (1 - self.overrides["val_fraction"]))
        return config, replace(default_settings(self.route, n_train), **given)


def _checked_labels(data: ImageSet, name: str, ctx: JobContext) -> tuple[Tensor, dict[str, int]]:
    """The labels, and the classes with fewer than FEW_IMAGES pictures (flagged) with their counts."""
    if data.labels is None or len(data.class_names) < 2:
        raise UserError(f"{name} has no classes: a classifier needs a folder with one subfolder per class.")
    counts = torch.bincount(data.labels, minlength=len(data.class_names)).tolist()
    few = {n: c for n, c in zip(data.class_names, counts, strict=True) if c < FEW_IMAGES}
    if sum(1 for c in counts if c > 0) < 2:
        raise UserError(f"{name} has pictures of only one class: a classifier needs at least two.")
    if few:
        ctx.message(
            f"Few pictures in {', '.join(f'{n} ({c})' for n, c in few.items())}: {FEW_IMAGES} or more per "
            "class make a more reliable classifier."
        )
    return data.labels, few


def _diverged(epoch: int, out: Path) -> UserError:
    return diverged(f"in epoch {epoch + 1}", out, "lower the learning rate")


class _State:
    """The run's `TrainingState` (the network "net", its best weights "best", the optimiser "optim", the
    step) with the classifier's position in epochs and its record: history, best epoch, evaluation."""

    def __init__(
        self, config: ClassifierConfig, settings: TrainingSettings, device: torch.device, weights: Tensor
    ) -> None:
        self.config, self.settings, self.device = config, settings, device
        with seeded(settings.seed):
            self.net = ClassifierNet(config)
        self.net.to(device)
        self.loss_weights = weights.to(device)
        self.epoch = self.batch = 0  # epochs done, batches done in the current epoch
        self.evaluation: Evaluation | None = None
        self.training: dict[str, Any] = {
            "history": [], "best_epoch": 0, "best_accuracy": -1.0, "best_loss": math.inf,
        }  # fmt: skip
        best = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        self.run = TrainingState({"net": self.net}, {}, saved_weights={"best": best})
        self.new_optimizer()

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.run.optimizers["optim"]

    @property
    def best(self) -> dict[str, Tensor]:
        return self.run.saved_weights["best"]

    def keep_best(self) -> None:
        self.run.saved_weights["best"] = {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def fine_tuning(self, epoch: int) -> bool:
        return self.config.route == PRETRAINED and epoch >= self.settings.epochs

    @property
    def at_fine_tuning_start(self) -> bool:
        return self.fine_tuning(self.epoch) and self.epoch == self.settings.epochs and self.batch == 0

    @property
    def total_epochs(self) -> int:
        return self.settings.epochs + (
            self.settings.fine_tune_epochs if self.config.route == PRETRAINED else 0
        )

    def new_optimizer(self) -> None:
        """SGD for the whole network from scratch; AdamW for the head alone, then for the whole network."""
        s = self.settings
        if self.config.route == SCRATCH:
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                self.net.parameters(), lr=s.lr, momentum=0.9, nesterov=True, weight_decay=s.weight_decay
            )
        else:
            params = self.net.parameters() if self.fine_tuning(self.epoch) else self.net.head.parameters()
            optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
        self.run.optimizers["optim"] = optimizer

    def restore(self, resumed: Resumed, ctx: JobContext) -> None:
        path, _, info = resumed
        self.training = dict(info.training)
        self.training.pop(NOVELTY, None)  # the weights go on changing: calibrated anew at the end
        self.epoch, self.batch = (int(info.training.get(k, 0)) for k in ("epoch", "batch"))
        if self.epoch >= self.total_epochs:
            raise UserError(
                f"{path.name} has already trained for {self.epoch} epochs: ask for more to go on."
            )
        self.new_optimizer()
        # At the start of fine-tuning the saved optimiser state is the head's: fine-tuning starts anew.
        optimizers = () if self.at_fine_tuning_start else None
        self.run.restore(resumed, lrs={"optim": self.settings.lr}, optimizers=optimizers)
        self.evaluation = Evaluation.from_json(info.training["evaluation"])
        ctx.message(f"Resuming from epoch {self.epoch + 1} of {path.name}.")

    def save(self, out: Path) -> None:
        """Write the checkpoint, unless a weight is no longer finite: never replace a good file by a bad."""
        assert self.evaluation is not None
        self.training.update(
            epoch=self.epoch, batch=self.batch, settings=asdict(self.settings),
            evaluation=self.evaluation.to_json(),
        )  # fmt: skip
        # The checkpoint's losses are the last validation's (the catalog shows them), not the last batch's.
        self.run.losses = dict(self.training.get("losses", self.run.losses))
        self.run.save(
            out, kind=ModelKind.CLASSIFIER, arch=ARCH, config=asdict(self.config), training=self.training,
            diverged=lambda: _diverged(self.epoch, out),
        )  # fmt: skip


class _Trainer:
    """The epoch loop over one data set and split; `train()` returns whether it ran to its end."""

    def __init__(
        self,
        state: _State,
        data: ImageSet,
        labels: Tensor,
        train_idx: Tensor,
        val_idx: Tensor,
        ctx: JobContext,
        out: Path,
        checkpoint_every: int | None = None,
    ) -> None:
        self.state, self.data, self.labels, self.ctx, self.out = state, data, labels, ctx, out
        self.checkpoint_every = checkpoint_every
        self.start_step = state.run.step
        self.last_save = time.monotonic()
        self.train_idx, self.val_idx = train_idx, val_idx
        self.batch_size = effective_batch(state.settings.batch_size, len(train_idx))
        self.steps_per_epoch = math.ceil(len(train_idx) / self.batch_size)
        self.features: Tensor | None = None  # pretrained: (2, N, F) pooled features of images and mirrors
        self.val_features: Tensor | None = None
        # The steps of every epoch; checkpoints come from `_end_of_epoch` (a timer) and the job's end.
        self.loop = StepLoop(
            ctx, state.run, ("loss",), state.total_epochs * self.steps_per_epoch,
            save=lambda: state.save(out), diverged=lambda _step: _diverged(state.epoch, out),
            report_every=StepLoop.report_interval(state.device), stage=self._stage,
            progress_total=self.total_steps,
        )  # fmt: skip

    def train(self) -> bool:
        s = self.state
        while s.epoch < s.total_epochs:
            if s.at_fine_tuning_start:
                s.net.load_state_dict(s.best)  # fine-tune the best head, with a fresh optimizer
                s.new_optimizer()
            if not self._epoch():
                return False
            s.epoch, s.batch = s.epoch + 1, 0
            if self._end_of_epoch():
                break
        return True

    def _epoch(self) -> bool:
        """Train the rest of the current epoch; False when stopped in it."""
        s = self.state
        fine_tuning = s.fine_tuning(s.epoch)
        frozen = s.config.route == PRETRAINED and not fine_tuning
        if frozen and self.features is None:
            self._extract_features()
        order = self.train_idx[torch.randperm(len(self.train_idx), generator=_rng(s.settings.seed, s.epoch))]
        phase_epochs = s.settings.fine_tune_epochs if fine_tuning else s.settings.epochs
        first_epoch = s.settings.epochs if fine_tuning else 0
        total_steps = phase_epochs * self.steps_per_epoch
        peak = s.settings.fine_tune_lr if fine_tuning else s.settings.lr
        s.net.train()
        if s.config.route == PRETRAINED:
            s.net.trunk.eval()  # frozen batch-norm statistics, also when fine-tuning
        first = s.run.step - s.batch  # the step before this epoch's first batch

        def step(k: int) -> Tensor:
            s.batch = k - first - 1
            batch = order[s.batch * self.batch_size : (s.batch + 1) * self.batch_size]
            lr = one_cycle((s.epoch - first_epoch) * self.steps_per_epoch + s.batch + 1, total_steps, peak)
            for group in s.optimizer.param_groups:
                group["lr"] = lr
            loss = self._step(batch, frozen, k)
            s.batch += 1
            return loss

        return self.loop.run(step, until=first + self.steps_per_epoch)

    def _stage(self, _step: int) -> str:
        s = self.state
        what = "Fine-tuning" if s.fine_tuning(s.epoch) else "Training"
        return f"{what}: epoch {s.epoch + 1} of {s.total_epochs}"

    def _step(self, batch: Tensor, frozen: bool, step: int) -> Tensor:
        """One optimiser step on `batch` (training-set indices); returns its loss, (1,) on the device."""
        s = self.state
        generator = _rng(s.settings.seed, 1_000_003 + step)
        labels = self.labels[batch].to(s.device)
        # Dropout draws from the global RNG: seeded per step, so a resumed run repeats this one.
        with seeded(s.settings.seed * 1_000_003 + step), autocast(s.device):
            if frozen:
                assert self.features is not None
                view = (torch.rand(len(batch), generator=generator) < 0.5).long()  # the image or its mirror
                rows = torch.searchsorted(self.train_idx, batch)
                logits = s.net.head(self.features[view, rows].to(s.device))
            else:
                x = self.data.images[batch].to(s.device).float().div_(127.5).sub_(1.0)
                shift, zoom = SCRATCH_AUGMENT if s.config.route == SCRATCH else FINE_TUNE_AUGMENT
                logits = s.net(augment(x, generator, shift, zoom))
            loss = F.cross_entropy(logits.float(), labels, s.loss_weights, label_smoothing=LABEL_SMOOTHING)
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        s.optimizer.step()
        return loss.reshape(1)

    def _extract_features(self) -> None:
        """Pooled backbone features of the training images (and mirrored), and of the validation ones."""
        s = self.state
        net = s.net.eval()
        total = 2 * len(self.train_idx) + len(self.val_idx)
        done = 0
        parts: dict[str, list[Tensor]] = {"plain": [], "mirror": [], "val": []}
        with torch.inference_mode():
            for key, indices in (
                ("plain", self.train_idx),
                ("mirror", self.train_idx),
                ("val", self.val_idx),
            ):
                for chunk in torch.split(indices, 32):
                    self.ctx.check()  # nothing trained yet to keep
                    x = self.data.images[chunk].to(s.device).float().div_(127.5).sub_(1.0)
                    x = x.flip(-1) if key == "mirror" else x
                    parts[key].append(net.features(x).mean(dim=(2, 3)).float())
                    done += len(chunk)
                    self.ctx.progress(done, total, stage="Computing the backbone's features (once)")
        self.features = torch.stack([torch.cat(parts["plain"]), torch.cat(parts["mirror"])])
        self.val_features = torch.cat(parts["val"])

    def calibrate(self) -> None:
        """The check of unfamiliar pictures (`core.classifier.novelty`) for the best weights: class means and
        shared covariance of the training pictures' pooled features, threshold from the validation
        pictures'; kept in the checkpoint ("ood." tensors, the training JSON's "ood"). Skipped, with a
        message, when stopped meanwhile: the model works without it."""
        s = self.state
        fit_idx = self.train_idx
        if len(fit_idx) > MAX_FIT_IMAGES:  # a seeded sample is plenty for means and a covariance
            sample = torch.randperm(len(fit_idx), generator=_rng(s.settings.seed, 7))[:MAX_FIT_IMAGES]
            fit_idx = fit_idx[sample.sort().values]
        head_only = s.config.route == PRETRAINED and s.training["best_epoch"] <= s.settings.epochs
        train: Tensor | None
        validation: Tensor | None
        if head_only and self.features is not None and self.val_features is not None:
            # The best weights' trunk is the frozen one whose features were computed for the head.
            train = self.features[0, torch.searchsorted(self.train_idx, fit_idx)]
            validation = self.val_features
        else:
            net = copy.deepcopy(s.net)
            net.load_state_dict(s.best)
            total = len(fit_idx) + len(self.val_idx)
            train = self._pooled(net, fit_idx, 0, total)
            validation = None if train is None else self._pooled(net, self.val_idx, len(fit_idx), total)
        if train is None or validation is None:
            self.ctx.message("Stopped before checking what the training pictures look like: no warning "
                             "for unfamiliar pictures until a resumed run finishes.")  # fmt: skip
            return
        check, record = fit(train, self.labels[fit_idx], validation)
        s.run.saved_weights[NOVELTY] = check.tensors()
        s.training[NOVELTY] = record

    def _pooled(self, net: ClassifierNet, indices: Tensor, done: int, total: int) -> Tensor | None:
        """(len(indices), F) pooled features of the data set's images `indices` (None when stopped)."""
        s = self.state
        net.eval()
        out = []
        chunk = 256 if s.config.route == SCRATCH else 32
        with torch.inference_mode():
            for part in torch.split(indices, chunk):
                if self.ctx.stop_requested():
                    return None
                x = self.data.images[part].to(s.device).float().div_(127.5).sub_(1.0)
                out.append(net.pooled(x).float().cpu())
                done += len(part)
                self.ctx.progress(done, total, stage="Learning what the training pictures look like")
        return torch.cat(out)

    @property
    def total_steps(self) -> int:
        return self.state.total_epochs * self.steps_per_epoch - self.start_step

    def validate(self, net: ClassifierNet) -> tuple[Evaluation, float]:
        """The validation evaluation and mean loss (unweighted, unsmoothed) of `net`."""
        s = self.state
        if s.config.route == PRETRAINED and not s.fine_tuning(s.epoch - 1) and self.val_features is not None:
            net.eval()
            with torch.inference_mode():
                logits = net.head(self.val_features).float().cpu()
        else:
            logits = logits_of(net, self.data, self.val_idx, s.device)
        labels = self.labels[self.val_idx]
        loss = float(F.cross_entropy(logits, labels))
        return evaluation_of(logits, labels, self.val_idx, s.config.class_names), loss

    def _end_of_epoch(self) -> bool:
        """Validate, keep the best weights, save; True when early stopping ends training."""
        s = self.state
        evaluation, val_loss = self.validate(s.net)
        training = s.training
        training["history"].append(
            {"epoch": s.epoch, "val_loss": val_loss, "val_accuracy": evaluation.accuracy}
        )
        training["losses"] = {"val_loss": val_loss, "val_accuracy": evaluation.accuracy}
        # Better: more accurate, or as accurate and surer (a small validation set has few accuracy levels).
        best = (training["best_accuracy"], -training["best_loss"])
        if (evaluation.accuracy, -val_loss) > best:
            training.update(best_epoch=s.epoch, best_accuracy=evaluation.accuracy, best_loss=val_loss)
            s.keep_best()
            s.evaluation = evaluation
        self.ctx.message(
            f"Epoch {s.epoch}: validation accuracy {100 * evaluation.accuracy:.1f}% "
            f"(best {100 * training['best_accuracy']:.1f}% in epoch {training['best_epoch']})."
        )
        self.ctx.progress(s.run.step - self.start_step, self.total_steps, training["losses"])
        phase_start = s.settings.epochs if s.fine_tuning(s.epoch - 1) else 0
        stale = s.epoch - max(training["best_epoch"], phase_start)
        stop = stale >= s.settings.patience and s.epoch < s.total_epochs
        if stop:
            self.ctx.message(f"No better validation accuracy for {stale} epochs: stopping early.")
            if s.config.route == PRETRAINED and s.epoch < s.settings.epochs and s.settings.fine_tune_epochs:
                s.epoch, stop = s.settings.epochs, False  # the head is done: go on with fine-tuning
            else:
                training["stopped_early"] = True
                s.epoch = s.total_epochs
        if self.checkpoint_every is None:
            due = time.monotonic() - self.last_save >= SAVE_INTERVAL_S
        else:
            due = s.epoch % self.checkpoint_every == 0
        if stop or due:
            s.save(self.out)
            self.last_save = time.monotonic()
        return stop


def _rng(seed: int, key: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + key)
