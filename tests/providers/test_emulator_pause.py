"""The OpenAI emulator pauses and resumes a running job as OpenAI's ``jobs.pause``/``resume``:
a paused job's timeline stands still (no step, no finish) until it is resumed."""

from __future__ import annotations

import openai
import pytest

from emulators.clock import ManualClock
from emulators.testing import running_emulator
from tests.providers.emulated_jobs import openai_job


def test_a_paused_job_stands_still_until_resumed() -> None:
    clock = ManualClock()
    with running_emulator("openai", phase_seconds=1.0, clock=clock) as emu:
        sdk = openai.OpenAI(api_key="k", base_url=emu.sdk_base_url, max_retries=0)
        job_id = openai_job(emu)
        with pytest.raises(openai.BadRequestError):  # validating files: not running yet
            sdk.fine_tuning.jobs.pause(job_id)
        clock.advance(2.5)  # running, 4 steps done
        steps = len(sdk.fine_tuning.jobs.list_events(job_id, limit=100).data)
        assert sdk.fine_tuning.jobs.pause(job_id).status == "paused"  # type: ignore[comparison-overlap]
        clock.advance(100)
        assert sdk.fine_tuning.jobs.retrieve(job_id).status == "paused"  # type: ignore[comparison-overlap]
        assert len(sdk.fine_tuning.jobs.list_events(job_id, limit=100).data) == steps
        with pytest.raises(openai.NotFoundError):
            sdk.fine_tuning.jobs.pause("ftjob-nope")
        assert sdk.fine_tuning.jobs.resume(job_id).status == "running"
        with pytest.raises(openai.BadRequestError):
            sdk.fine_tuning.jobs.resume(job_id)  # not paused any more
        clock.advance(2.0)
        assert sdk.fine_tuning.jobs.retrieve(job_id).status == "running"
        clock.advance(0.5)  # 5 phases of its own time, the 100 s paused skipped
        assert sdk.fine_tuning.jobs.retrieve(job_id).status == "succeeded"
