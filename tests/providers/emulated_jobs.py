"""Creating jobs in a running emulator over plain HTTP, for the emulator's own tests."""

from __future__ import annotations

import httpx

from emulators.testing import EmulatorHandle

LINE = b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}'
DATASET = (LINE + b"\n") * 10


def openai_job(emu: EmulatorHandle) -> str:
    """Upload a small dataset and create an OpenAI fine-tuning job on it; the job's id."""
    v1 = emu.sdk_base_url
    upload = httpx.post(
        f"{v1}/files", files={"file": ("t.jsonl", DATASET)}, data={"purpose": "fine-tune"}
    )
    body = {"model": "gpt-4o-mini-2024-07-18", "training_file": upload.json()["id"]}
    job_id: str = httpx.post(f"{v1}/fine_tuning/jobs", json=body).json()["id"]
    return job_id
