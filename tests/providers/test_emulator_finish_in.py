"""``POST /_emulator/jobs/{id}/finish_in``: a job runs from now and finishes after the given
seconds, the providers' finish estimates say so, and its history never contradicts itself."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import openai
import pytest
from openai.types.fine_tuning import FineTuningJob
from together.types import FinetuneResponse

from emulators.clock import ManualClock
from emulators.testing import EmulatorHandle, running_emulator
from tests.providers.emulated_jobs import DATASET, openai_job

SLOW = 60.0  # phase seconds: on the clock alone, nothing finishes during a test


def together_job(emu: EmulatorHandle) -> str:
    base = emu.base_url
    form = {"purpose": "fine-tune", "file_name": "t.jsonl", "file_type": "jsonl", "checksum": "c"}
    file_id = httpx.post(f"{base}/v1/files", data=form).headers["X-Together-File-Id"]
    httpx.put(f"{base}/_emulator/uploads/{file_id}", content=DATASET)
    body = {"model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "training_file": file_id}
    job_id: str = httpx.post(f"{base}/v1/fine-tunes", json=body).json()["id"]
    return job_id


def openai_get(emu: EmulatorHandle, job_id: str, tail: str = "") -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{emu.sdk_base_url}/fine_tuning/jobs/{job_id}{tail}").json()
    return data


def events(emu: EmulatorHandle, job_id: str) -> list[tuple[str, int, str]]:
    """Oldest first, as (id, created_at, message)."""
    data = openai_get(emu, job_id, "/events?limit=100")["data"]
    return [(e["id"], e["created_at"], e["message"]) for e in reversed(data)]


def test_openai_job_runs_until_the_new_finish_then_succeeds_like_a_clock_finished_job() -> None:
    clock = ManualClock()
    with running_emulator("openai", phase_seconds=SLOW, clock=clock) as emu:
        job_id = openai_job(emu)
        assert openai_get(emu, job_id)["status"] == "validating_files"
        called = clock.time()
        emu.finish_in(job_id, 1.5)

        job = openai_get(emu, job_id)
        assert job["status"] == "running"
        assert job["estimated_finish"] == int(called + 1.5)
        sdk = openai.OpenAI(api_key="k", base_url=emu.sdk_base_url, max_retries=0)
        assert sdk.fine_tuning.jobs.retrieve(job_id).estimated_finish == job["estimated_finish"]

        snapshots = [events(emu, job_id)]
        for _ in range(5):  # up to 1.25 s of the 1.5: still running
            clock.advance(0.25)
            assert openai_get(emu, job_id)["status"] == "running"
            snapshots.append(events(emu, job_id))
        clock.advance(0.25)
        finished = FineTuningJob.model_validate(openai_get(emu, job_id))
        snapshots.append(events(emu, job_id))

        assert finished.status == "succeeded" and finished.fine_tuned_model
        assert finished.estimated_finish is None and finished.trained_tokens
        assert finished.finished_at == job["estimated_finish"]
        # Steps were spread over the run, and what was shown once never changed afterwards.
        step_counts = [sum(m.startswith("Step ") for _, _, m in s) for s in snapshots]
        assert step_counts == [0, 2, 4, 6, 8, 10, 12]
        for earlier, later in itertools.pairwise(snapshots):
            assert later[: len(earlier)] == earlier
        times = [at for _, at, _ in snapshots[-1]]
        assert times == sorted(times) and times[-1] <= clock.time()

        ckpts = openai_get(emu, job_id, "/checkpoints")["data"]
        assert [c["step_number"] for c in ckpts] == [12, 8, 4]

    # The same job finished by the clock renders the same history.
    clocked_time = ManualClock()
    with running_emulator("openai", phase_seconds=1.0, clock=clocked_time) as clocked:
        other = openai_job(clocked)
        clocked_time.advance(5.0)
        assert openai_get(clocked, other)["status"] == "succeeded"
        kinds = [m.split(":")[0].split(" ")[0] for _, _, m in events(clocked, other)]
    assert [m.split(":")[0].split(" ")[0] for _, _, m in snapshots[-1]] == kinds


def test_finish_in_when_already_running_keeps_the_steps_done_and_refuses_finished_jobs() -> None:
    clock = ManualClock()
    with running_emulator("openai", phase_seconds=1.0, clock=clock) as emu:
        job_id = openai_job(emu)
        clock.advance(2.5)  # in phase 2: running, 4 steps done
        before = events(emu, job_id)
        assert openai_get(emu, job_id)["status"] == "running"
        assert sum(m.startswith("Step ") for _, _, m in before) == 4
        emu.finish_in(job_id, 5.0)
        after = events(emu, job_id)
        assert after[: len(before)] == before
        assert openai_get(emu, job_id)["estimated_finish"] == int(clock.time() + 5)

        emu.advance(job_id)  # a planned job finishes now, not at its old estimate
        job = openai_get(emu, job_id)
        assert job["status"] == "succeeded" and job["finished_at"] == int(clock.time())
        assert events(emu, job_id)[: len(after)] == after

        with pytest.raises(httpx.HTTPStatusError) as finished:
            emu.finish_in(job_id, 1.0)
        assert finished.value.response.status_code == 409

        cancelled = openai_job(emu)
        httpx.post(f"{emu.sdk_base_url}/fine_tuning/jobs/{cancelled}/cancel")
        with pytest.raises(httpx.HTTPStatusError) as refused:
            emu.finish_in(cancelled, 1.0)
        assert refused.value.response.status_code == 409

        for path, seconds, status in (("ftjob-nope", 1.0, 404), (job_id, -1.0, 422)):
            response = httpx.post(
                f"{emu.base_url}/_emulator/jobs/{path}/finish_in", json={"seconds": seconds}
            )
            assert response.status_code == status


def test_clock_driven_jobs_keep_their_estimate() -> None:
    with running_emulator("openai", phase_seconds=SLOW, clock=ManualClock()) as emu:
        job = openai_get(emu, openai_job(emu))
        assert job["estimated_finish"] == job["created_at"] + 5 * SLOW


def test_together_seconds_remaining_follows_finish_in() -> None:
    clock = ManualClock()
    with running_emulator("together", phase_seconds=SLOW, clock=clock) as emu:
        job_id = together_job(emu)
        url = f"{emu.base_url}/v1/fine-tunes/{job_id}"
        assert httpx.get(url).json()["progress"]["seconds_remaining"] == 0
        emu.finish_in(job_id, 30.0)
        job = FinetuneResponse.model_validate(httpx.get(url).json())
        assert job.status == "running" and job.progress is not None
        assert job.progress.estimate_available and job.progress.seconds_remaining == 30
        clock.advance(0.5)
        assert httpx.get(url).json()["progress"]["seconds_remaining"] == 30  # rounded up

        emu.finish_in(job_id, 0.25)  # re-planned: sooner
        assert httpx.get(url).json()["progress"]["seconds_remaining"] == 1
        clock.advance(0.25)
        done = httpx.get(url).json()
        assert done["status"] == "completed" and done["progress"]["seconds_remaining"] == 0
        assert done["steps_completed"] == done["total_steps"]
        ckpts = httpx.get(f"{url}/checkpoints").json()["data"]
        assert [c["step"] for c in ckpts] == [12, 8, 4] and ckpts[0]["checkpoint_type"] == "Final"


def test_together_cancel_of_a_planned_job_settles_and_is_not_refinished() -> None:
    clock = ManualClock()
    with running_emulator("together", phase_seconds=1.0, clock=clock) as emu:
        job_id = together_job(emu)
        url = f"{emu.base_url}/v1/fine-tunes/{job_id}"
        emu.finish_in(job_id, 5.0)
        clock.advance(0.5)
        assert httpx.post(f"{url}/cancel").json()["status"] == "cancel_requested"
        with pytest.raises(httpx.HTTPStatusError):
            emu.finish_in(job_id, 0.1)
        clock.advance(0.75)
        assert httpx.get(url).json()["status"] == "cancel_requested"
        clock.advance(0.25)  # a cancel settles one phase (1 s) after it was asked for
        job = httpx.get(url).json()
        assert job["status"] == "cancelled" and job["progress"]["seconds_remaining"] == 0
        assert job["steps_completed"] < job["total_steps"]
