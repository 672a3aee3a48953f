"""Sweeps: one paged list call per credential watches many jobs; only a job the list shows
changed gets its details fetched (events, checkpoints: the list gave the job), and a
rate-limited list slows the sweep without touching any job. The task bodies run here
in-process against the OpenAI emulator on loopback, with real commits; the emulator's clock
never moves a job by itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from emulators.testing import EmulatorHandle, running_emulator
from service.credentials.service import CredentialFields, store_credentials
from service.db.database import Database
from service.db.models import Job, ProviderSweep
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.service import create_job
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.launch import launch_job
from service.jobs.lifecycle.poll import poll_job
from service.jobs.sweeps import details, step
from service.jobs.sweeps.repository import sweep_id
from service.jobs.sweeps.step import sweep_provider
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.jobs.helpers import make_file

LIST = "GET /v1/fine_tuning/jobs"
DETAIL = (
    "GET /v1/fine_tuning/jobs/{job_id}",
    "GET /v1/fine_tuning/jobs/{job_id}/events",
    "GET /v1/fine_tuning/jobs/{job_id}/checkpoints",
)
JOBS = 3
T = TypeVar("T")


@dataclass(frozen=True)
class Fleet:
    database: Database
    settings: Settings
    emulator: EmulatorHandle
    job_ids: list[str]
    sweep_id: str


@pytest.fixture()
def fleet(settings: Settings, committed_db: Database) -> Iterator[Fleet]:
    with running_emulator("openai", phase_seconds=1e6) as emulator:
        configured = settings.model_copy(
            update={
                "openai_base_url": emulator.sdk_base_url,
                "openai_api_key": SecretStr("sk-test"),
                "sweep_page_size": 2,  # three jobs: two pages
            }
        )
        job_ids = []
        with session_scope(committed_db.sessions) as session:
            tenant = make_tenant(session)
            file = make_file(session, configured, tenant)
            for _ in range(JOBS):
                request = CreateJobRequest(model="gpt-4o-mini-2024-07-18", training_file=file.id)
                job_ids.append(create_job(session, configured, tenant.id, request).id)
        for job_id in job_ids:
            launch_job(committed_db.sessions, configured, job_id, adapter_for)
        yield Fleet(committed_db, configured, emulator, job_ids, sweep_id("openai", None))


def _calls(fleet: Fleet) -> dict[str, int]:
    return fleet.emulator.requests_by_endpoint()


def _jobs(fleet: Fleet) -> dict[str, Job]:
    with session_scope(fleet.database.sessions) as session:
        return {job_id: _get(session, Job, job_id) for job_id in fleet.job_ids}


def _sweep(fleet: Fleet) -> ProviderSweep:
    with session_scope(fleet.database.sessions) as session:
        return _get(session, ProviderSweep, fleet.sweep_id)


def _get(session: Session, model: type[T], key: str) -> T:
    row = session.get(model, key)
    assert row is not None
    return row


def _round(fleet: Fleet) -> None:
    """Run one sweep round now (the reconciler would send it when due)."""
    with session_scope(fleet.database.sessions) as session:
        _get(session, ProviderSweep, fleet.sweep_id).next_sweep_at = utcnow()
    sweep_provider(fleet.database.sessions, fleet.settings, fleet.sweep_id, adapter_for)


def _drain_polls(fleet: Fleet) -> None:
    """What a worker would run: every job's poll (one that is not due does nothing)."""
    for job_id in fleet.job_ids:
        poll_job(fleet.database.sessions, fleet.settings, job_id, adapter_for)


def _detail_calls(calls: dict[str, int]) -> int:
    return sum(calls.get(endpoint, 0) for endpoint in DETAIL)


def test_launching_a_job_on_a_listing_provider_starts_its_credentials_sweep(
    fleet: Fleet,
) -> None:
    sweep = _sweep(fleet)
    assert sweep.provider == "openai" and sweep.tenant_id is None
    assert sweep.status == "active" and sweep.next_sweep_at is not None
    # Each job's own detailed poll is routine only on the slow cadence.
    for job in _jobs(fleet).values():
        assert job.next_poll_at is not None
        slow = timedelta(seconds=fleet.settings.sweep_detail_interval_s - 60)
        assert job.next_poll_at > utcnow() + slow


def test_a_listed_change_triggers_exactly_one_detail_fetch_and_unchanged_jobs_none(
    fleet: Fleet,
) -> None:
    before = _calls(fleet)
    _round(fleet)
    _drain_polls(fleet)
    quiet = _calls(fleet)
    assert quiet.get(LIST, 0) - before.get(LIST, 0) == 2  # three jobs, pages of two
    assert _detail_calls(quiet) == _detail_calls(before)  # nothing changed: no detail fetch

    changed = fleet.job_ids[1]
    fleet.emulator.advance(_jobs(fleet)[changed].provider_job_id or "")
    _round(fleet)
    # The round itself fetched the changed job's details and took its end in.
    assert _jobs(fleet)[changed].status == "succeeded"
    _drain_polls(fleet)  # and left no poll due
    after = _calls(fleet)
    events = "GET /v1/fine_tuning/jobs/{job_id}/events"
    checkpoints = "GET /v1/fine_tuning/jobs/{job_id}/checkpoints"
    assert after.get(events, 0) - quiet.get(events, 0) == 1
    assert after.get(checkpoints, 0) - quiet.get(checkpoints, 0) == 1
    assert _detail_calls(after) - _detail_calls(quiet) == 2  # the list gave the job itself
    jobs = _jobs(fleet)
    assert all(jobs[j].status == "validating_files" for j in fleet.job_ids if j != changed)

    _round(fleet)  # the change was taken in: the next round fetches no detail
    _drain_polls(fleet)
    assert _detail_calls(_calls(fleet)) == _detail_calls(after)


def test_a_rate_limited_list_slows_the_sweep_and_fails_no_job(fleet: Fleet) -> None:
    _round(fleet)
    normal = _sweep(fleet)
    assert normal.next_sweep_at is not None and normal.last_swept_at is not None
    fleet.emulator.inject(
        kind="status", method="GET", path="/fine_tuning/jobs$", status=429, retry_after=40
    )
    started = utcnow()
    _round(fleet)
    slowed = _sweep(fleet)
    assert slowed.failures == 1 and slowed.last_error
    assert slowed.next_sweep_at is not None
    assert slowed.next_sweep_at >= started + timedelta(seconds=39)  # Retry-After honoured
    assert slowed.lease_owner is None
    for job in _jobs(fleet).values():
        assert job.status == "validating_files" and job.error is None
        assert job.poll_failures == 0

    _round(fleet)  # the limit has passed: the sweep carries on
    recovered = _sweep(fleet)
    assert recovered.failures == 0 and recovered.last_error is None
    assert recovered.rounds == normal.rounds + 1


def test_a_job_whose_details_fail_is_left_to_its_own_prompt_poll(fleet: Fleet) -> None:
    _round(fleet)
    changed = fleet.job_ids[0]
    fleet.emulator.advance(_jobs(fleet)[changed].provider_job_id or "")
    fleet.emulator.inject(kind="status", method="GET", path="/events$", status=500)
    _round(fleet)
    job = _jobs(fleet)[changed]
    assert job.status == "validating_files" and job.error is None
    assert job.next_poll_at is not None and job.next_poll_at <= utcnow()  # polled at once
    poll_job(fleet.database.sessions, fleet.settings, changed, adapter_for)
    assert _jobs(fleet)[changed].status == "succeeded"


def test_a_tenant_with_its_own_key_is_swept_with_that_key_and_apart(fleet: Fleet) -> None:
    with session_scope(fleet.database.sessions) as session:
        tenant = make_tenant(session)
        store_credentials(
            session, fleet.settings, tenant.id, "openai", CredentialFields(api_key="sk-tenant-own")
        )
        file = make_file(session, fleet.settings, tenant)
        request = CreateJobRequest(model="gpt-4o-mini-2024-07-18", training_file=file.id)
        own_job = create_job(session, fleet.settings, tenant.id, request).id
        tenant_id = tenant.id
    launch_job(fleet.database.sessions, fleet.settings, own_job, adapter_for)
    own = Fleet(
        fleet.database, fleet.settings, fleet.emulator, [own_job], sweep_id("openai", tenant_id)
    )
    assert _sweep(own).tenant_id == tenant_id

    _round(own)
    lists = [r for r in fleet.emulator.requests() if r["path"] == "/v1/fine_tuning/jobs"]
    assert lists[-1]["authorization"] == "Bearer sk-tenant-own"
    assert _sweep(own).active_jobs == 1
    _round(fleet)  # the operator's sweep watches the other tenant's jobs only
    assert _sweep(fleet).active_jobs == JOBS
    lists = [r for r in fleet.emulator.requests() if r["path"] == "/v1/fine_tuning/jobs"]
    assert lists[-1]["authorization"] == "Bearer sk-test"


def test_an_end_read_on_an_early_page_is_ours_even_when_a_later_page_fails(
    fleet: Fleet,
) -> None:
    """A page's status changes are fetched and folded in while the next pages are read, not
    after the round's last page."""
    _round(fleet)
    ended = fleet.job_ids[2]  # the newest: on the first page
    fleet.emulator.advance(_jobs(fleet)[ended].provider_job_id or "")
    lists = "/fine_tuning/jobs$"
    fleet.emulator.inject(kind="slow", method="GET", path=lists, seconds=0)  # page 1 as usual
    fleet.emulator.inject(kind="status", method="GET", path=lists, status=500)  # page 2 fails
    _round(fleet)
    assert _sweep(fleet).failures == 1  # the round backs off...
    jobs = _jobs(fleet)
    assert jobs[ended].status == "succeeded"  # ...with the end it read already ours
    assert all(jobs[j].status == "validating_files" for j in fleet.job_ids if j != ended)


def test_ended_jobs_go_ahead_of_other_status_changes(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(details, "MAX_PER_ROUND", 1)  # room for one job's details in a round
    _round(fleet)
    started, ended = fleet.job_ids[2], fleet.job_ids[1]  # listed in this order, one page
    fleet.emulator.finish_in(_jobs(fleet)[started].provider_job_id or "", 1e6)
    fleet.emulator.advance(_jobs(fleet)[ended].provider_job_id or "")
    _round(fleet)
    jobs = _jobs(fleet)
    assert jobs[ended].status == "succeeded"  # folded in by the round
    assert jobs[started].status == "validating_files"  # left to its own poll, due at once
    due = jobs[started].next_poll_at
    assert due is not None and due <= utcnow()
    poll_job(fleet.database.sessions, fleet.settings, started, adapter_for)
    assert _jobs(fleet)[started].status == "running"


def test_a_provider_serving_smaller_pages_than_asked_is_still_read_to_the_end(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(step, "EXTRA_PAGES", 0)  # no slack: the pages must be counted right
    asked = fleet.settings.model_copy(update={"sweep_page_size": 1000})
    fleet = Fleet(fleet.database, asked, fleet.emulator, fleet.job_ids, fleet.sweep_id)
    fleet.emulator.cap_list_pages(1)  # one job a page, whatever the limit asks
    _round(fleet)
    oldest = fleet.job_ids[0]  # on the last page
    fleet.emulator.advance(_jobs(fleet)[oldest].provider_job_id or "")
    before = _calls(fleet)
    _round(fleet)
    assert _calls(fleet)[LIST] - before[LIST] == JOBS  # one page per job, all read
    assert _sweep(fleet).pages == JOBS
    assert _jobs(fleet)[oldest].status == "succeeded"


def test_a_page_size_the_provider_refuses_falls_back_to_a_safe_one(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(step, "_refused_pages", {})
    asked = fleet.settings.model_copy(update={"sweep_page_size": 1000})
    fleet = Fleet(fleet.database, asked, fleet.emulator, fleet.job_ids, fleet.sweep_id)
    fleet.emulator.cap_list_pages(step.SAFE_PAGE, refuse=True)  # limit > 100: a 400
    oldest = fleet.job_ids[0]
    fleet.emulator.advance(_jobs(fleet)[oldest].provider_job_id or "")
    before = _calls(fleet)
    _round(fleet)
    sweep = _sweep(fleet)
    assert sweep.failures == 0 and sweep.last_error is None
    assert _calls(fleet)[LIST] - before.get(LIST, 0) == 2  # the refused page, then one of 100
    assert _jobs(fleet)[oldest].status == "succeeded"
    before = _calls(fleet)
    _round(fleet)  # the next round asks a page of 100 at once
    assert _calls(fleet)[LIST] - before[LIST] == 1
    assert _sweep(fleet).failures == 0


def test_a_closer_estimate_brings_that_jobs_poll_forward_without_a_detail_fetch(
    fleet: Fleet,
) -> None:
    moving = fleet.job_ids[1]
    provider_job = _jobs(fleet)[moving].provider_job_id or ""
    fleet.emulator.finish_in(provider_job, 1e6)  # running, its end far away
    _round(fleet)
    assert _jobs(fleet)[moving].status == "running"
    before_polls = {j: job.next_poll_at for j, job in _jobs(fleet).items()}
    fleet.emulator.finish_in(provider_job, 120)  # the provider's estimate comes closer
    before = _calls(fleet)
    _round(fleet)
    assert _detail_calls(_calls(fleet)) == _detail_calls(before)  # the list told it all
    jobs = _jobs(fleet)
    due = jobs[moving].next_poll_at
    assert due is not None and due <= utcnow() + timedelta(seconds=125)
    old = before_polls[moving]
    assert old is not None and due < old
    assert all(jobs[j].next_poll_at == before_polls[j] for j in fleet.job_ids if j != moving)


def test_a_job_that_fails_to_fold_in_leaves_the_round_and_the_other_ends_alone(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _round(fleet)
    broken, fine = fleet.job_ids[2], fleet.job_ids[1]
    for job_id in (broken, fine):
        fleet.emulator.advance(_jobs(fleet)[job_id].provider_job_id or "")
    apply = details.apply

    def apply_or_fail(session: Session, settings: Settings, detail: details.Detail) -> bool:
        if detail.watched.id == broken:
            raise RuntimeError("deadlock detected")  # as a database error would
        return apply(session, settings, detail)

    monkeypatch.setattr(details, "apply", apply_or_fail)
    _round(fleet)
    assert _sweep(fleet).failures == 0  # the round itself went through
    jobs = _jobs(fleet)
    assert jobs[fine].status == "succeeded"
    assert jobs[broken].status == "validating_files"
    due = jobs[broken].next_poll_at
    assert due is not None and due <= utcnow()  # its own poll, at once
    monkeypatch.setattr(details, "apply", apply)
    poll_job(fleet.database.sessions, fleet.settings, broken, adapter_for)
    assert _jobs(fleet)[broken].status == "succeeded"


def test_a_jobs_poll_leaves_a_busy_sweeps_cadence_alone_and_wakes_a_dormant_one(
    fleet: Fleet,
) -> None:
    _round(fleet)  # the sweep now watches three jobs
    polled = fleet.job_ids[0]
    later = utcnow() + timedelta(seconds=30)

    def poll_now() -> None:
        with session_scope(fleet.database.sessions) as session:
            _get(session, Job, polled).next_poll_at = utcnow()
        poll_job(fleet.database.sessions, fleet.settings, polled, adapter_for)

    with session_scope(fleet.database.sessions) as session:
        _get(session, ProviderSweep, fleet.sweep_id).next_sweep_at = later
    poll_now()  # a routine detailed poll of one of its jobs
    assert _sweep(fleet).next_sweep_at == later  # the sweep keeps its cadence

    with session_scope(fleet.database.sessions) as session:
        _get(session, ProviderSweep, fleet.sweep_id).next_sweep_at = None  # dormant
    poll_now()
    woken = _sweep(fleet).next_sweep_at
    assert woken is not None and woken < later
