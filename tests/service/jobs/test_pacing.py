"""When the next poll is due: the usual interval, cut short by the provider's own estimate of
when the job changes next, and backing off once that estimate has passed."""

from __future__ import annotations

from datetime import timedelta

from service.db.models import Job
from service.db.types import utcnow
from service.jobs.lifecycle import pacing
from service.settings import Settings

SETTINGS = Settings(environment="test", job_poll_min_s=5, job_poll_max_s=300, _env_file=None)


def _running_for(seconds: float) -> Job:
    return Job(status="running", started_at=utcnow() - timedelta(seconds=seconds))


def test_without_an_estimate_the_interval_grows_with_the_run() -> None:
    now = utcnow()
    assert pacing.poll_interval_s(Job(status="queued"), now, SETTINGS) == 5
    assert pacing.poll_interval_s(_running_for(20), now, SETTINGS) == 5
    assert abs(pacing.poll_interval_s(_running_for(1200), now, SETTINGS) - 120) < 1
    assert pacing.poll_interval_s(_running_for(10**6), now, SETTINGS) == 300


def test_a_poll_lands_just_after_the_estimated_change() -> None:
    job, now = _running_for(1200), utcnow()
    soon = now + timedelta(seconds=7)
    assert pacing.poll_interval_s(job, now, SETTINGS, soon) == 7 + pacing.EXPECTED_CHANGE_GRACE_S
    # An estimate further away than the usual interval does not delay the usual poll.
    late = now + timedelta(seconds=3600)
    assert abs(pacing.poll_interval_s(job, now, SETTINGS, late) - 120) < 1


def test_past_the_estimate_probes_back_off_to_the_usual_interval() -> None:
    job, now = _running_for(1200), utcnow()
    waits = [
        pacing.poll_interval_s(job, now, SETTINGS, now - timedelta(seconds=overdue))
        for overdue in (0.5, 1.5, 3, 6, 12, 500)
    ]
    assert waits[:5] == [1.0, 1.5, 3, 6, 12]
    assert abs(waits[5] - 120) < 1
