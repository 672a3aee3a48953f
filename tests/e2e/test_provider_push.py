"""OpenAI's fine-tuning webhooks end to end: the emulator pushes a signed event when a job ends,
the API verifies it and a real worker polls the job at once, so the job is seen finished (and
its own webhook delivered) long before its next routine poll."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from emulators.testing import EmulatorHandle, running_emulator
from tests.e2e.harness import Processes, wait_for
from tests.service.webhooks.receiver import running_receiver

ROUTINE_POLL_S = 120


@pytest.fixture()
def emulators() -> Iterator[dict[str, EmulatorHandle]]:
    """A clock that never ends a job by itself: only ``advance`` does."""
    with running_emulator("openai", phase_seconds=1e6) as openai_emu:
        yield {"openai": openai_emu}


def _launched(client: openai.OpenAI, job_id: str) -> bool:
    events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
    return any(event.message.startswith("Created openai job") for event in events)


@pytest.mark.integration
def test_a_pushed_event_finishes_the_job_long_before_its_next_routine_poll(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    api_key: str,
    training_path: Path,
) -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    processes.env.update(
        TUNEFORGE_OPENAI_WEBHOOK_SECRET=secret,
        TUNEFORGE_JOB_POLL_MIN_S=str(ROUTINE_POLL_S),
        TUNEFORGE_JOB_POLL_MAX_S=str(ROUTINE_POLL_S),
    )
    base = processes.start_api()
    processes.start_worker()
    emulator = emulators["openai"]
    emulator.subscribe_webhooks(f"{base}/provider_webhooks/openai", secret)
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
    with running_receiver() as receiver:
        with training_path.open("rb") as handle:
            uploaded = client.files.create(file=handle, purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18",
            training_file=uploaded.id,
            extra_body={"webhook_url": receiver.url("/job")},
        )
        try:
            wait_for(lambda: _launched(client, job.id), 30, "the launch to be recorded")
            time.sleep(1.0)  # the launch's own look at the job has come and gone
            ended = time.monotonic()
            emulator.advance(emulator.jobs()[0]["id"])
            wait_for(
                lambda: client.fine_tuning.jobs.retrieve(job.id).status == "succeeded",
                ROUTINE_POLL_S / 4,
                "the pushed job to succeed",
            )
            wait_for(lambda: len(receiver.received) == 1, 15, "the job's own webhook")
        except AssertionError:
            print(processes.logs())
            raise
        seen_after = time.monotonic() - ended
    assert seen_after < ROUTINE_POLL_S / 4
    assert client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
