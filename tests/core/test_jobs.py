import threading
import time

import pytest

from core.errors import UserError, user_message
from core.jobs import CancelToken, Event, JobContext, OneAtATime, Progress, run_job


class CountingJob:
    """Counts steps, checking for cancel and pause between them."""

    title = "count"

    def __init__(self, steps: int, step_s: float = 0.0) -> None:
        self.steps, self.step_s, self.done = steps, step_s, 0

    def run(self, ctx: JobContext) -> int:
        for i in range(self.steps):
            ctx.check()
            time.sleep(self.step_s)
            self.done += 1
            ctx.progress(i + 1, self.steps, {"loss": 1 / (i + 1)})
        return self.done


def test_result_and_final_progress() -> None:
    events: list[Event] = []
    outcome = run_job(CountingJob(5), events.append)
    assert (outcome.result, outcome.cancelled) == (5, False)
    final = events[-1]
    assert isinstance(final, Progress)
    assert (final.step, final.total, final.eta_s) == (5, 5, 0.0)


def test_progress_is_rate_limited_but_the_last_step_always_arrives() -> None:
    events: list[Event] = []
    run_job(CountingJob(10_000), events.append)
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert len(steps) < 100
    assert steps[-1] == 10_000


def test_pause_blocks_until_resume_and_cancel_wakes_a_paused_job() -> None:
    token = CancelToken()
    job = CountingJob(1000, step_s=0.002)
    token.pause()
    thread = threading.Thread(target=run_job, args=(job, None, token))
    thread.start()
    time.sleep(0.2)
    assert job.done == 0  # paused before the first step
    token.resume()
    time.sleep(0.1)
    token.pause()
    time.sleep(0.05)
    done_while_paused = job.done
    time.sleep(0.2)
    assert job.done == done_while_paused > 0
    token.cancel()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert job.done < 1000


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_eta_waits_for_timed_steps_and_leaves_the_first_one_out() -> None:
    clock, events = Clock(), list[Event]()
    ctx = JobContext(events.append, min_progress_interval_s=0, clock=clock)
    clock.now = 30.0  # the first step pays for reading the data and warming up
    ctx.progress(1, 100)
    for step in range(2, 6):
        clock.now += 1.0  # then 1 s a step
        ctx.progress(step, 100)
    etas = [e.eta_s for e in events if isinstance(e, Progress)]
    # steps 2-3: too few timed, "estimating"; from step 4 (3 steps, 3 s after the first): 1 s a step
    assert etas[:3] == [None, None, None]
    assert etas[3:] == [pytest.approx(96.0), pytest.approx(95.0)]


def test_the_eta_needs_seconds_as_well_as_steps() -> None:
    clock, events = Clock(), list[Event]()
    ctx = JobContext(events.append, min_progress_interval_s=0, clock=clock)
    for step in range(1, 21):
        clock.now += 0.05
        ctx.progress(step, 1000)
    assert [e.eta_s for e in events if isinstance(e, Progress)] == [None] * 20  # 19 steps in under 1 s
    for step in range(21, 61):
        clock.now += 0.05
        ctx.progress(step, 1000)
    last = events[-1]
    assert isinstance(last, Progress)
    assert last.eta_s == pytest.approx(0.05 * 940)


def test_a_new_stage_starts_a_new_estimate() -> None:
    clock, events = Clock(), list[Event]()
    ctx = JobContext(events.append, min_progress_interval_s=0, clock=clock)
    for step in range(1, 11):  # reading 10 photos, 1 s each
        clock.now += 1.0
        ctx.progress(step, 10, stage="Reading")
    for step in range(1, 6):  # then training steps of 10 s
        clock.now += 10.0
        ctx.progress(step, 50, stage="Training")
    etas = [e.eta_s for e in events if isinstance(e, Progress) and e.stage == "Training"]
    assert etas[:3] == [None, None, None]
    assert etas[3:] == [pytest.approx(460.0), pytest.approx(450.0)]


def test_eta_ignores_paused_time() -> None:
    token, clock, events = CancelToken(), Clock(), list[Event]()
    ctx = JobContext(events.append, token, min_progress_interval_s=0, clock=clock)
    for step in range(1, 5):
        clock.now += 1.0
        ctx.progress(step, 10)

    def resume_later() -> None:
        time.sleep(0.1)
        clock.now += 600.0  # ten minutes on pause
        token.resume()

    token.pause()
    threading.Thread(target=resume_later).start()
    assert not ctx.stop_requested()  # blocks until resumed
    clock.now += 1.0
    ctx.progress(5, 10)
    last = events[-1]
    assert isinstance(last, Progress)
    assert last.eta_s == pytest.approx(5.0)  # 1 s a step; counting the pause would say 755 s


def test_cancel_before_start() -> None:
    token = CancelToken()
    token.cancel()
    job = CountingJob(5)
    outcome = run_job(job, None, token)
    assert (outcome.result, outcome.cancelled, job.done) == (None, True, 0)


def test_errors_propagate_with_a_readable_message() -> None:
    class Failing:
        title = "fail"

        def run(self, ctx: JobContext) -> None:
            raise UserError("The folder is empty: add some pictures.")

    with pytest.raises(UserError) as info:
        run_job(Failing())
    assert user_message(info.value) == "The folder is empty: add some pictures."
    assert "Out of GPU memory" in user_message(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert "log" in user_message(ZeroDivisionError("division by zero"))


def test_one_at_a_time_jobs_never_overlap_and_a_waiting_one_can_be_cancelled() -> None:
    """Two device-timing probes would time each other: the second waits for the first, whatever thread
    runs it, and a cancel while it waits stops it."""
    first_running, release_first, second_ran = threading.Event(), threading.Event(), threading.Event()

    class Holds:
        title = "first"

        def run(self, ctx: JobContext) -> None:
            first_running.set()
            release_first.wait(10)

    class Marks:
        title = "second"

        def run(self, ctx: JobContext) -> None:
            second_ran.set()

    first = threading.Thread(target=run_job, args=(OneAtATime(Holds()),))
    first.start()
    assert first_running.wait(10)
    token = CancelToken()
    cancelled: list[bool] = []
    waiting = threading.Thread(
        target=lambda: cancelled.append(run_job(OneAtATime(Marks()), None, token).cancelled)
    )
    waiting.start()
    assert not second_ran.wait(0.3)  # held back while the first runs
    token.cancel()
    waiting.join(10)
    assert cancelled == [True]
    assert not second_ran.is_set()

    second = threading.Thread(target=run_job, args=(OneAtATime(Marks()),))
    second.start()
    assert not second_ran.wait(0.3)
    release_first.set()
    assert second_ran.wait(10)  # it runs once the first has ended
    first.join(10)
    second.join(10)
