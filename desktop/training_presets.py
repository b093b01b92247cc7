"""Training presets with their time on this device: the chooser the GAN, VAE and fast style panels share.

Each preset (core.presets; a family's `PRESETS`) is shown with its estimated duration, steps x seconds per
step measured on this device: first by a short probe (`core.training.StepTimingJob`, a few steps on
synthetic tensors, on the picker's own worker once the device is ready and the panel shown, never in the
window's job slot; a job that starts meanwhile cancels it), then by every real run (its job's `timing`).
The rates are remembered in QSettings by family, device and step shape; a shape never timed is scaled
from the nearest timed one (`core.presets.seconds_per_step`). Until then the estimate says "estimating…".
"""

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from core.images import own_size
from core.jobs import OneAtATime
from core.presets import (
    DEFAULT_PRESET,
    DeviceClass,
    Preset,
    StepShape,
    StepTiming,
    device_class,
    seconds_per_step,
)
from desktop.workers import JobWorker

if TYPE_CHECKING:
    from core.training import StepSeconds
    from desktop.data_well import DataWell

log = logging.getLogger(__name__)

CUSTOM = "Custom"
ESTIMATING = "estimating…"
UNMEASURED = "no estimate yet"  # the probe failed: the first real run measures the device
DEVICE_KEY = "training/device"  # the device the last timing was made on (core.devices.describe)
DEVICE_CLASS_KEY = "training/device_class"  # its class: which presets it is offered
RATES_KEY = "training/seconds_per_step"  # + /family/device: JSON [[size, batch, width, seconds], ...]
CLOSE_WAIT_MS = 10_000
DEVICE_NAMES: Mapping[DeviceClass, str] = {"cpu": "CPU", "gpu": "GPU"}


class Timed(Protocol):
    """A training job: after its run, what it measured of its steps (None for a run too short)."""

    @property
    def timing(self) -> StepTiming | None: ...


def about(seconds: float) -> str:
    """ "about 40 s", "about 12 min", "about 1.5 h": the precision an estimate has."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


class OwnSize:
    """Presets as a data set trains them: no larger than its pictures' own size among a family's `sizes`
    (core.images.own_size: Fashion-MNIST's 28 px, a folder of small pictures'), since a larger one adds no
    detail, only cost. Looked up again when the data well's data changes (a folder: at most
    core.images.LOOK_SCAN files found and 256 headers read, quick enough for this thread); the preset is
    then applied again, or a Custom size larger than the pictures shrinks."""

    def __init__(self, data: "DataWell", sizes: Sequence[int], size_box: QComboBox) -> None:
        self._data, self._sizes, self._size_box = data, sizes, size_box
        self.size = own_size(data.spec, sizes, cap=max(sizes))

    def __call__(self, preset: Preset) -> Preset:
        return replace(preset, shape=replace(preset.shape, size=min(preset.shape.size, self.size)))

    def follow(self, presets: "PresetPicker") -> None:
        def changed(spec: str) -> None:
            self.size = own_size(spec, self._sizes, cap=max(self._sizes))
            if presets.combo.currentData() != CUSTOM:
                presets.reapply()
            elif self.size < self._size_box.currentData():
                self._size_box.setCurrentIndex(self._size_box.findData(self.size))

        self._data.changed.connect(changed)


class PresetPicker(QWidget):
    """Quick look / Good / Best for the device class, and Custom (the panel's own controls), each with its
    estimated time. Choosing a preset emits `applied(preset)` for the panel to set its controls; the panel
    calls `controls_changed` when they change, so the choice shows the preset they match, or Custom."""

    applied = Signal(object)  # core.presets.Preset

    def __init__(
        self,
        settings: QSettings,
        family: str,
        presets: Mapping[DeviceClass, Sequence[Preset]],
        step_seconds: "Callable[[], StepSeconds]",  # imports the family's timing function (torch) on use
        custom: Callable[[], Preset],  # what the panel's controls ask for now
        effective: Callable[[Preset], Preset] = lambda preset: preset,  # a preset as the data trains it
        width_name: str = "width",  # what the shape's width is to this family (DRAW: its LSTMs' hidden units)
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._width_name = width_name
        self._settings, self._family, self._presets = settings, family, presets
        self._step_seconds, self._custom, self._effective = step_seconds, custom, effective
        self._device = str(settings.value(DEVICE_KEY, ""))  # "" until this machine was timed once
        # Until timed, a CPU's presets: they never overload a device.
        self._class: DeviceClass = device_class(str(settings.value(DEVICE_CLASS_KEY, "cpu")))
        self._ready = self._shown = self._busy = self._user_chose = False
        self._probe: JobWorker | None = None  # the timing probe, while it runs
        self._spoiled = self._probed = self._unmeasurable = False
        self._watched: Timed | None = None

        self.combo = QComboBox()
        self.combo.setToolTip("How long and how large a run: times are measured on this device")
        self.combo.activated.connect(self._activated)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.estimate.setAccessibleName("Estimated training time")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.estimate)
        self._fill()

    # --- what the panel calls ------------------------------------------------------------------------

    def presets(self) -> list[Preset]:
        """The presets of this device's class, as the data trains them."""
        return [self._effective(preset) for preset in self._presets[self._class]]

    def select_default(self) -> None:
        """Choose the preset that fits the device (Quick look on a CPU) and apply it."""
        name = DEFAULT_PRESET[self._class]
        self.combo.setCurrentIndex(self.combo.findData(name))
        self._chosen()

    def controls_changed(self) -> None:
        """The panel's controls changed: show the preset they match (or Custom) and its time."""
        asked = self._custom()
        match = next((p for p in self.presets() if (p.steps, p.shape) == (asked.steps, asked.shape)), None)
        self.combo.setCurrentIndex(self.combo.findData(match.name if match else CUSTOM))
        self._show_estimates()

    def reapply(self) -> None:
        """Apply the chosen preset again, as the data trains it now (the panel's data changed)."""
        if self.combo.currentData() != CUSTOM:
            self._chosen()

    def watch(self, job: Timed) -> None:
        """`job` is about to run: when the window is idle again, its measured rate is remembered."""
        self._watched = job

    def set_busy(self, busy: bool) -> None:
        """A job runs (any panel's): a probe would slow it and be slowed by it, so it stops (and runs
        again once the window is idle)."""
        self._busy = busy
        if busy:
            if self._probe is not None:
                self._spoiled = True
                self._probe.cancel()
            return
        job, self._watched = self._watched, None
        if job is not None and job.timing is not None:
            self.record(job.timing)
        self._start_probe()

    def device_ready(self) -> None:
        """Torch is loaded and the device picked: the probe may run (once the panel is shown)."""
        self._ready = True
        self._start_probe()

    def record(self, timing: StepTiming) -> None:
        """Remember a measured rate; it is this device's now (a new device brings its own presets)."""
        rates = self._rates(timing.device)
        rates[timing.shape] = timing.seconds_per_step
        self._settings.setValue(self._rates_key(timing.device), json.dumps(_rows(rates)))
        self._settings.setValue(DEVICE_KEY, timing.device)
        self._settings.setValue(DEVICE_CLASS_KEY, timing.device_class)
        self._device, moved = timing.device, timing.device_class != self._class
        self._class = timing.device_class
        if moved:
            self._fill()
        self._show_estimates()

    def close_down(self) -> None:
        self._probed = True  # no probe starts after this
        if self._probe is not None:
            self._probe.cancel()
            self._probe.wait(CLOSE_WAIT_MS)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._shown = True
        self._start_probe()

    # --- estimates -----------------------------------------------------------------------------------

    def seconds(self, preset: Preset) -> float | None:
        """The estimated duration of `preset` on this device; None before any measurement."""
        rate = seconds_per_step(preset.shape, self._rates(self._device)) if self._device else None
        return None if rate is None else rate * preset.steps

    def _fill(self) -> None:
        """The combo's entries for the device class. On a change of class the choice stays Custom or the
        preset the artist chose (by name); a default becomes the new class's default."""
        chosen = self.combo.currentData()
        self.combo.clear()
        for preset in self._presets[self._class]:
            self.combo.addItem(preset.name, preset.name)
        self.combo.addItem(CUSTOM, CUSTOM)
        if chosen is not None and (self._user_chose or chosen == CUSTOM):
            self.combo.setCurrentIndex(max(0, self.combo.findData(chosen)))
            self.reapply()
        elif chosen is not None:
            self.select_default()
        self._show_estimates()

    def _show_estimates(self) -> None:
        for index, preset in enumerate(self.presets()):
            self.combo.setItemText(index, f"{preset.name} · {self._time_text(preset)}")
        chosen = self._chosen_preset()
        custom = f"{CUSTOM} · {self._time_text(chosen)}" if chosen.name == CUSTOM else CUSTOM
        self.combo.setItemText(self.combo.findData(CUSTOM), custom)
        shape = chosen.shape
        parts = [f"{chosen.steps} steps", f"{shape.size} px"]
        if shape.width:
            parts.append(f"{self._width_name} {shape.width}")
        parts += [f"batch {shape.batch_size}", self._time_text(chosen)]
        if self.seconds(chosen) is not None:
            parts[-1] += f" on this {DEVICE_NAMES[self._class]}"
        self.estimate.setText(" · ".join(parts))

    def _time_text(self, preset: Preset) -> str:
        seconds = self.seconds(preset)
        if seconds is None:
            return UNMEASURED if self._unmeasurable else ESTIMATING
        return about(seconds)

    def _chosen_preset(self) -> Preset:
        name = self.combo.currentData()
        preset = next((p for p in self.presets() if p.name == name), None)
        return preset if preset is not None else replace(self._custom(), name=CUSTOM)

    def _activated(self) -> None:
        self._user_chose = True
        self._chosen()

    def _chosen(self) -> None:
        preset = self._chosen_preset()
        if preset.name != CUSTOM:
            self.applied.emit(preset)
        self._show_estimates()

    # --- measuring -----------------------------------------------------------------------------------

    def _start_probe(self) -> None:
        """Once, when nothing else runs: time the presets on the device, unless something was measured
        there (the probe then only checks the device is the one remembered: a quick look at torch's)."""
        if self._probed or self._probe is not None or self._busy or not (self._ready and self._shown):
            return
        from core.training import StepTimingJob

        shapes = {kind: [self._effective(p).shape for p in ps] for kind, ps in self._presets.items()}
        measured = [self._device] if self._device and self._rates(self._device) else []
        self._spoiled = False
        job = OneAtATime(StepTimingJob(self._step_seconds(), shapes, measured))  # never two probes at once
        self._probe = JobWorker(job, self)
        self._probe.finished.connect(self._measured)
        self._probe.failed.connect(self._probe_failed)
        self._probe.released.connect(self._probe_released)
        self._probe.start()

    def _measured(self, timings: list[StepTiming], _image: object) -> None:
        if not self._spoiled:  # else a job started meanwhile: both were timed
            self._probed = True
            for timing in timings:
                self.record(timing)

    def _probe_failed(self, message: str) -> None:
        log.warning("timing %s training failed: %s", self._family, message)
        self._probed = self._unmeasurable = True  # not again after every job
        self._show_estimates()

    def _probe_released(self) -> None:
        self._probe = None
        self._start_probe()  # again, if a job stopped this one and has ended since

    # --- the remembered rates ------------------------------------------------------------------------

    def _rates_key(self, device: str) -> str:
        return f"{RATES_KEY}/{self._family}/{re.sub(r'[^A-Za-z0-9]+', '_', device)}"

    def _rates(self, device: str) -> dict[StepShape, float]:
        try:
            rows = json.loads(str(self._settings.value(self._rates_key(device), "[]")))
            return {StepShape(int(s), int(b), int(w) if w else None): float(t) for s, b, w, t in rows}
        except (ValueError, TypeError):  # written by another version: measure again
            return {}


def _rows(rates: Mapping[StepShape, float]) -> list[list[float | int | None]]:
    return [[shape.size, shape.batch_size, shape.width, seconds] for shape, seconds in rates.items()]


@dataclass(frozen=True)
class RunControls:
    """A GAN's or VAE's training run as its panel's controls set it: what the picker reads as Custom,
    what a chosen preset sets, and which changes tell the picker."""

    size: QComboBox
    steps: QSpinBox
    width: QSpinBox
    batch: QSpinBox

    def asked(self) -> Preset:
        shape = StepShape(int(self.size.currentData()), self.batch.value(), self.width.value())
        return Preset(CUSTOM, self.steps.value(), shape)

    def apply(self, preset: Preset) -> None:
        self.size.setCurrentIndex(self.size.findData(preset.shape.size))
        self.steps.setValue(preset.steps)
        self.width.setValue(preset.shape.width or self.width.value())
        self.batch.setValue(preset.shape.batch_size)

    def follow(self, picker: PresetPicker) -> None:
        """Set the controls from the presets `picker` applies, and tell it when the artist changes one."""
        picker.applied.connect(self.apply)
        for spin in (self.steps, self.width, self.batch):
            spin.valueChanged.connect(picker.controls_changed)
        self.size.currentIndexChanged.connect(picker.controls_changed)
