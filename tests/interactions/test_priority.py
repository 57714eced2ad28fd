"""Deferred work gives way to answering requests, within limits that stop it starving."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from snitch.interactions.endpoint import LocalJobs
from snitch.interactions.jobs import InteractionJob
from snitch.interactions.priority import Answering
from tests.test_telemetry import in_memory_telemetry


class RecordingRunner:
    """Notes when each job ran, on the event loop's clock."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, float]] = []

    async def finish(self, job: InteractionJob) -> None:
        self.finished.append((job.interaction_id, asyncio.get_running_loop().time()))

    async def drain(self) -> None:
        return None


def job(number: int) -> InteractionJob:
    payload = {"id": str(number), "application_id": "2", "token": "t", "type": 2, "data": {}}
    return InteractionJob(
        interaction_id=str(number),
        application_id="2",
        payload=payload,
        received_at=datetime.now(UTC),
    )


async def test_a_lull_comes_at_once_when_nothing_is_being_answered() -> None:
    answering = Answering()
    assert await answering.lull(0) is True
    assert answering.in_flight == 0


async def test_a_lull_waits_for_the_last_request_to_be_answered() -> None:
    answering = Answering()
    answering.started()
    answering.started()
    waiting = asyncio.create_task(answering.lull(5))
    await asyncio.sleep(0.01)
    answering.finished()
    await asyncio.sleep(0.01)
    assert not waiting.done(), "one request is still being answered"
    answering.finished()
    assert await waiting is True


async def test_a_lull_needs_a_quiet_moment_after_the_last_request() -> None:
    answering = Answering(quiet=0.05)
    loop = asyncio.get_running_loop()
    answering.started()
    answering.finished()
    waited_from = loop.time()
    assert await answering.lull(5) is True
    assert loop.time() - waited_from >= 0.04, "a request had only just come in"


async def test_a_request_in_the_quiet_moment_starts_it_again() -> None:
    answering = Answering(quiet=0.05)
    loop = asyncio.get_running_loop()
    answering.started()
    answering.finished()
    waiting = asyncio.create_task(answering.lull(5))
    await asyncio.sleep(0.03)
    answering.started()
    answering.finished()
    restarted_at = loop.time()
    assert await waiting is True
    assert loop.time() - restarted_at >= 0.04


async def test_a_lull_that_does_not_come_in_time_says_so() -> None:
    answering = Answering()
    answering.started()
    assert await answering.lull(0.02) is False
    assert await answering.lull(0) is False
    assert answering.in_flight == 1


async def test_a_job_waits_while_a_request_is_being_answered() -> None:
    answering, runner = Answering(), RecordingRunner()
    jobs = LocalJobs(runner, answering=answering, max_hold=10)
    jobs.start()
    answering.started()
    await jobs.put(job(1))
    await asyncio.sleep(0.05)
    assert runner.finished == [], "the job ran while a request was still being answered"
    answered_at = asyncio.get_running_loop().time()
    answering.finished()
    await jobs.drained()
    assert [interaction for interaction, _ in runner.finished] == ["1"]
    assert runner.finished[0][1] >= answered_at
    await jobs.stop()


async def test_a_job_is_never_held_past_max_hold() -> None:
    answering, runner = Answering(), RecordingRunner()
    jobs = LocalJobs(runner, answering=answering, max_hold=0.05)
    jobs.start()
    answering.started()  # a load that never lets up
    queued_at = asyncio.get_running_loop().time()
    await jobs.put(job(1))
    await asyncio.wait_for(jobs.drained(), timeout=5)
    held = runner.finished[0][1] - queued_at
    assert 0.04 <= held < 5
    await jobs.stop()


async def test_a_full_queue_is_worked_at_once() -> None:
    answering, runner = Answering(), RecordingRunner()
    jobs = LocalJobs(runner, maxsize=2, answering=answering, max_hold=60)
    answering.started()
    await jobs.put(job(1))
    await jobs.put(job(2))
    jobs.start()
    # The worker took job 1 with job 2 still queued: the queue was full when it looked,
    # so job 1 runs without waiting for a lull; job 2 then waits as usual.
    await asyncio.sleep(0.05)
    assert [interaction for interaction, _ in runner.finished] == ["1"]
    answering.finished()
    await asyncio.wait_for(jobs.drained(), timeout=5)
    assert [interaction for interaction, _ in runner.finished] == ["1", "2"]
    await jobs.stop()


async def test_without_answering_jobs_run_straight_away() -> None:
    runner = RecordingRunner()
    jobs = LocalJobs(runner)
    jobs.start()
    await jobs.put(job(1))
    await asyncio.wait_for(jobs.drained(), timeout=5)
    assert [interaction for interaction, _ in runner.finished] == ["1"]
    await jobs.stop()


async def test_a_jobs_wait_is_recorded_as_queue_lag_hold_included() -> None:
    answering, runner = Answering(), RecordingRunner()
    jobs = LocalJobs(runner, answering=answering, max_hold=0.05)
    with in_memory_telemetry() as captured:
        jobs.start()
        answering.started()
        await jobs.put(job(1))
        await asyncio.wait_for(jobs.drained(), timeout=5)
        await jobs.stop()
        ((attributes, point),) = captured.points("snitch.queue.lag")
    assert attributes == {"queue": "interactions"}
    assert point.count == 1
    assert point.sum >= 0.04
