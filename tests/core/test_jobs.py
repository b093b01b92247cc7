import threading
import time

import pytest

from core.errors import UserError, user_message
from core.jobs import CancelToken, Event, JobContext, Progress, run_job


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


def test_eta_ignores_paused_time() -> None:
    token = CancelToken()

    class PausingJob:
        title = "pausing"

        def run(self, ctx: JobContext) -> None:
            time.sleep(0.05)
            ctx.progress(1, 2)
            token.pause()
            threading.Timer(0.5, token.resume).start()
            ctx.check()  # paused here for 0.5 s
            ctx.progress(1, 2)

    ctx_events: list[Event] = []
    run_job(PausingJob(), ctx_events.append, token)
    first, second = (e for e in ctx_events if isinstance(e, Progress))
    assert first.eta_s is not None
    assert second.eta_s is not None
    assert second.eta_s < 0.3  # one step of ~0.05 s left; counting the 0.5 s pause would say 0.55 s


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
