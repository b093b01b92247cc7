"""The job seam: how long work reports progress and is cancelled, whoever runs it.

A job is any object with a `title` and a `run(ctx)` method returning its result. It reports through the
`JobContext` it is given (progress, previews, messages) and calls `ctx.check()` between steps: that is
where a pause blocks and a cancel raises `JobCancelled`. A job that has something worth keeping when
cancelled (the latest stylization, a resumable checkpoint) calls `ctx.stop_requested()` instead and
returns it. `run_job` is the one way to run a job; the desktop worker and the CLI both use it.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from PIL import Image

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    losses: Mapping[str, float] = field(default_factory=dict)
    eta_s: float | None = None  # None until a few steps are timed: front ends say "estimating"
    stage: str = ""
    # Where the losses lie on a plot's x axis, and its unit: the step, unless the job counts its progress
    # in another unit than people do (a stylization: work units for the ETA, iterations for the plot).
    at: float | None = None
    unit: str = "step"

    @property
    def x(self) -> float:
        return self.step if self.at is None else self.at


@dataclass(frozen=True)
class Preview:
    """An image to show now: the current stylization, a sample grid. `on_canvas` asks front ends to show
    it as the work in progress on the canvas rather than only as a thumbnail."""

    image: "Image.Image"
    caption: str = ""
    on_canvas: bool = False


@dataclass(frozen=True)
class Message:
    text: str


Event = Progress | Preview | Message
EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class ImageResult:
    """A finished picture plus the settings that made it (written into the saved file's metadata)."""

    image: "Image.Image"
    settings: Mapping[str, Any] = field(default_factory=dict)


class JobCancelled(Exception):
    """Raised by `JobContext.check()` when the user cancelled; `run_job` turns it into an outcome."""


class CancelToken:
    """Thread-safe cancel and pause flags, set by the front end and read by the job between steps."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # a paused job must wake up to notice the cancel

    def pause(self) -> None:
        if not self._cancelled.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        start = time.monotonic()
        self._running.wait()
        return time.monotonic() - start


# The ETA waits for this many steps and seconds after a stage's first step: one step, or a second's
# worth, extrapolated to a whole run was off by 10x (a VAE run estimated at 23 min took 2).
ETA_MIN_STEPS = 3
ETA_MIN_S = 2.0


class JobContext:
    """What a running job talks to. Progress events are rate-limited so a fast loop cannot flood a UI."""

    def __init__(
        self,
        sink: EventSink | None = None,
        token: CancelToken | None = None,
        *,
        min_progress_interval_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self.token = token or CancelToken()
        self._min_interval = min_progress_interval_s
        self._clock = clock
        self._last_emit = -float("inf")
        # (total, step, time) of the first step reported in the current stage: the ETA's rate is measured
        # from there, so the one-off cost of that step (reading data, warming up) is not extrapolated.
        self._anchor: tuple[int, int, float] | None = None

    def check(self) -> None:
        """Call between steps: blocks while paused, raises `JobCancelled` once cancelled."""
        if self.stop_requested():
            raise JobCancelled

    def stop_requested(self) -> bool:
        """Like `check()` but returns True instead of raising, for jobs that keep a partial result."""
        began = self._clock()
        if self.token.wait_while_paused() and self._anchor is not None:
            total, step, at = self._anchor  # paused time does not count towards the ETA
            self._anchor = (total, step, at + self._clock() - began)
        return self.token.cancelled

    def progress(
        self,
        step: int,
        total: int,
        losses: Mapping[str, float] | None = None,
        stage: str = "",
        at: tuple[float, str] | None = None,
    ) -> None:
        """Report `step` of `total` for the whole job; `stage` names what is being done now, `at` where
        the losses lie on a plot, (x, unit), when that is not the step."""
        now = self._clock()
        anchor = self._anchor
        if step >= 1 and (anchor is None or anchor[0] != total or step < anchor[1]):
            anchor = self._anchor = (total, step, now)  # a new stage (another total) starts a new count
        if step < total and now - self._last_emit < self._min_interval:
            return
        self._last_emit = now
        x, unit = at if at is not None else (None, "step")
        self.emit(Progress(step, total, dict(losses or {}), self._eta(step, total, now), stage, x, unit))

    def _eta(self, step: int, total: int, now: float) -> float | None:
        """Seconds left, extrapolated linearly from the steps since the anchor (jobs choose steps of
        about equal cost); None until enough of them were timed."""
        if step >= total:
            return 0.0
        if self._anchor is None or self._anchor[0] != total:
            return None
        _, first, at = self._anchor
        timed, elapsed = step - first, now - at
        if timed < ETA_MIN_STEPS or elapsed < ETA_MIN_S:
            return None
        return elapsed / timed * (total - step)

    def preview(self, image: "Image.Image", caption: str = "", on_canvas: bool = False) -> None:
        self.emit(Preview(image, caption, on_canvas))

    def message(self, text: str) -> None:
        self.emit(Message(text))

    def emit(self, event: Event) -> None:
        """Send `event` as is (a job running another job relays its events this way)."""
        if self._sink is not None:
            self._sink(event)


class Resumable:
    """A job that writes a resumable checkpoint of the step reached when cancelled (the training jobs):
    a front end that has to stop it (the window closing) asks first, then lets it save."""


class Job(Protocol[R_co]):
    @property
    def title(self) -> str: ...

    def run(self, ctx: JobContext) -> R_co: ...


_ONE_AT_A_TIME = threading.Lock()


class OneAtATime(Generic[R]):
    """Runs `job` once no other OneAtATime job runs, in any thread: for the device-timing probes, which
    would time each other, and remember rates too slow for good, if two ran at once. Waiting checks the
    cancel flag."""

    def __init__(self, job: Job[R]) -> None:
        self.job = job
        self.title = job.title

    def run(self, ctx: JobContext) -> R:
        while not _ONE_AT_A_TIME.acquire(timeout=0.05):
            ctx.check()
        try:
            return self.job.run(ctx)
        finally:
            _ONE_AT_A_TIME.release()


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """How a job ended: `result` is None for a job cancelled before it had anything to keep."""

    result: R | None
    cancelled: bool


def run_job(job: Job[R], sink: EventSink | None = None, token: CancelToken | None = None) -> Outcome[R]:
    """Run `job` in the calling thread. Errors propagate: front ends turn them into messages."""
    ctx = JobContext(sink, token)
    try:
        result = job.run(ctx)
    except JobCancelled:
        return Outcome(None, cancelled=True)
    return Outcome(result, cancelled=ctx.token.cancelled)
