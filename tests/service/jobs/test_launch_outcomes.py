"""Launch outcomes that once went wrong: a cancel arriving while the launch uploads is honoured
at once (it used to wait ~60 s for the reconciler's rescue), and an unexpected error after the
provider job was created never fails our job (it used to be reported as an invalid file,
leaving the paid provider job running unadopted): the next attempt adopts it by its tag.
The task bodies run in-process against the OpenAI emulator on loopback, with real commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from providers.base import JobSpec, ProviderAdapter, ProviderJob
from service.credentials.service import ProviderCredentials
from service.db.models import Job
from service.db.session import session_scope
from service.jobs.api.service import cancel_job
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.launch import launch_job
from service.settings import Settings
from tests.service.jobs.conftest import World


class Wrapped:
    """The real adapter, with a hook run after one of its calls (the world moving on)."""

    def __init__(self, inner: ProviderAdapter, after: dict[str, Callable[[Any], Any]]) -> None:
        self.inner, self.after = inner, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_dataset(self, path: Path, filename: str, purpose: str = "fine-tune") -> str:
        uploaded = self.inner.upload_dataset(path, filename, purpose)
        return str(self.after.get("upload_dataset", lambda value: value)(uploaded))

    def create_job(self, spec: JobSpec) -> ProviderJob:
        created = self.inner.create_job(spec)
        hook = self.after.get("create_job", lambda value: value)
        result: ProviderJob = hook(created)
        return result


def _job(world: World) -> Job:
    with session_scope(world.database.sessions) as session:
        job = session.get(Job, world.job_id)
        assert job is not None
        return job


def test_a_cancel_that_arrives_during_the_launch_is_honoured_at_once(world: World) -> None:
    def cancel_meanwhile(uploaded: str) -> str:
        with session_scope(world.database.sessions) as session:
            cancel_job(session, world.settings, None, world.job_id)
        return uploaded

    def factory(settings: Settings, credentials: ProviderCredentials) -> Any:
        return Wrapped(adapter_for(settings, credentials), {"upload_dataset": cancel_meanwhile})

    launch_job(world.database.sessions, world.settings, world.job_id, factory)

    job = _job(world)
    assert job.status == "cancelled"
    assert job.lease_owner is None
    assert job.provider_job_id is None
    assert world.emulator.job_count() == 0


def test_an_unexpected_error_after_the_create_never_fails_the_job(world: World) -> None:
    def garbled(created: ProviderJob) -> ProviderJob:
        raise ValueError("'paused' is not a valid JobStatus")

    def factory(settings: Settings, credentials: ProviderCredentials) -> Any:
        return Wrapped(adapter_for(settings, credentials), {"create_job": garbled})

    launch_job(world.database.sessions, world.settings, world.job_id, factory)

    job = _job(world)
    assert job.status != "failed", job.error
    assert job.error is None and job.lease_owner is None
    assert job.next_poll_at is not None  # the launch will run again
    assert world.emulator.job_count() == 1

    # The next attempt finds the provider job by our tag and adopts it: never a second one.
    launch_job(world.database.sessions, world.settings, world.job_id, adapter_for)
    job = _job(world)
    assert job.provider_job_id is not None
    assert job.status != "failed", job.error
    assert world.emulator.job_count() == 1
