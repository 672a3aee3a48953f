"""A tenant, a live tuneforge API whose OpenAI adapter points at the emulator, the openai SDK
on it, and the run step driven in-process (the worker's task body) with real commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import SecretStr

from emulators.testing import EmulatorHandle, running_emulator
from providers.base import JobSpec, JobStatus, ProviderConfig
from providers.registry import get_adapter
from service.db.database import Database
from service.db.session import session_scope
from service.evals.runs.kind import EVAL_RUN
from service.evals.runs.step import RunItemsStep
from service.jobs.lifecycle.adapters import adapter_for
from service.lifecycle.runner import run_step
from service.settings import Settings
from tests.factories import make_key, make_tenant
from tests.live import live_api
from tests.providers.test_contract import wait_until_terminal

BASE_MODEL = "gpt-4o-mini-2024-07-18"
QUESTIONS = [f"What is the code of item {n}?" for n in range(10)]
ANSWERS = [f'{{"code": "C{n}"}}' for n in range(10)]
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
CRITERIA: list[Any] = [
    {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    },
    {
        "type": "text_similarity",
        "name": "close",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "fuzzy_match",
        "pass_threshold": 0.8,
    },
]
CONFIG: Any = {"type": "custom", "item_schema": ITEM_SCHEMA}
TEMPLATE: Any = {
    "type": "template",
    "template": [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "{{item.question}}"},
    ],
}


def rows(count: int = 10) -> list[dict[str, Any]]:
    pairs = list(zip(QUESTIONS, ANSWERS, strict=True))[:count]
    return [{"item": {"question": q, "answer": a}} for q, a in pairs]


def completions(model: str, count: int = 10, **extra: Any) -> Any:
    return {
        "type": "completions",
        "model": model,
        "input_messages": TEMPLATE,
        "source": {"type": "file_content", "content": rows(count)},
        **extra,
    }


@dataclass
class RunWorld:
    settings: Settings
    database: Database
    emulator: EmulatorHandle
    sdk: openai.OpenAI
    tenant_id: str

    def work(self, run_id: str, settings: Settings | None = None) -> None:
        """The eval-run task's body, in this process."""
        run_step(
            EVAL_RUN,
            RunItemsStep(adapter_for),
            self.database.sessions,
            settings or self.settings,
            run_id,
        )

    def chat_requests(self) -> int:
        return sum(1 for r in self.emulator.requests() if r["path"].endswith("/chat/completions"))

    def tuned_model(self, tmp_path: Path) -> str:
        """A model the emulator's OpenAI tuned on QUESTIONS → ANSWERS."""
        dataset = tmp_path / "train.jsonl"
        lines = [
            json.dumps(
                {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            )
            for q, a in zip(QUESTIONS, ANSWERS, strict=True)
        ]
        dataset.write_text("\n".join(lines) + "\n")
        adapter = get_adapter(
            "openai", ProviderConfig(api_key="sk-test", base_url=self.emulator.sdk_base_url)
        )
        file_id = adapter.upload_dataset(dataset, "train.jsonl")
        spec = JobSpec(
            tag=f"job-{uuid.uuid4().hex}", model=BASE_MODEL, training_file=file_id, suffix="t"
        )
        created = adapter.create_job(spec)
        self.emulator.advance(created.id)
        job = wait_until_terminal(adapter, created.id)
        assert job.status is JobStatus.SUCCEEDED and job.fine_tuned_model
        return job.fine_tuned_model


@pytest.fixture()
def world(settings: Settings, committed_db: Database) -> Iterator[RunWorld]:
    with running_emulator("openai", phase_seconds=0.05) as emulator:
        configured = settings.model_copy(
            update={
                "openai_base_url": emulator.sdk_base_url,
                "openai_api_key": SecretStr("sk-test"),
            }
        )
        with session_scope(committed_db.sessions) as session:
            tenant = make_tenant(session)
            key = make_key(session, tenant)
        with live_api(configured, committed_db) as url:
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
            yield RunWorld(configured, committed_db, emulator, sdk, tenant.id)
