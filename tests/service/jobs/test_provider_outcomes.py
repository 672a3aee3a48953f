"""What the provider answers decides the job: a permanent refusal or a provider-side failure
fails it with the provider's error; a rate limit only delays it. The task bodies run here
in-process against the OpenAI emulator on loopback, with real commits."""

from __future__ import annotations

from service.db.models import Job
from service.db.session import session_scope
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.launch import launch_job
from service.jobs.lifecycle.poll import poll_job
from tests.service.jobs.conftest import World


def _job(world: World) -> Job:
    with session_scope(world.database.sessions) as session:
        job = session.get(Job, world.job_id)
        assert job is not None
        return job


def _launch(world: World) -> None:
    launch_job(world.database.sessions, world.settings, world.job_id, adapter_for)


def test_a_permanent_refusal_fails_the_job_with_the_providers_message(world: World) -> None:
    world.emulator.inject(
        kind="status", method="POST", path="/fine_tuning/jobs$", status=400,
        message="Training file has invalid format",
    )  # fmt: skip
    _launch(world)
    job = _job(world)
    assert job.status == "failed"
    assert job.error is not None and "invalid format" in job.error["message"]
    assert job.lease_owner is None
    assert world.emulator.job_count() == 0


def test_a_rate_limit_delays_the_launch_and_never_fails_it(world: World) -> None:
    world.emulator.inject(
        kind="status", method="POST", path="/fine_tuning/jobs$", status=429, retry_after=30
    )
    _launch(world)
    job = _job(world)
    assert job.status == "validating_files" and job.error is None
    assert job.next_poll_at is not None and job.launch_attempts == 1
    assert world.emulator.job_count() == 0


def test_a_job_that_fails_at_the_provider_fails_here_with_its_error(world: World) -> None:
    world.emulator.inject(kind="fail_job", message="The job ran out of memory at step 3")
    _launch(world)
    job = _job(world)
    assert job.provider_job_id is not None
    world.emulator.advance(job.provider_job_id)
    with session_scope(world.database.sessions) as session:
        stored = session.get(Job, world.job_id)
        assert stored is not None
        stored.next_poll_at = None  # due now
    poll_job(world.database.sessions, world.settings, world.job_id, adapter_for)
    job = _job(world)
    assert job.status == "failed", job.provider_status
    assert job.error is not None and "out of memory" in job.error["message"]
