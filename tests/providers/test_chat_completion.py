"""Chat completion at the adapter edge: each provider's official SDK against its emulator, which
answers a tuned model with what its training file taught and a base model generically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.testing import running_emulator
from providers.base import ChatCompletion, ChatRequest, DeploymentState, JobStatus
from providers.errors import ProviderPermanentError, ProviderRetryableError
from providers.registry import get_adapter
from tests.providers.conftest import PHASE_SECONDS, Harness, config, gemini_line
from tests.providers.test_contract import spec_for, wait_until_terminal

CHAT_PROVIDERS = ["openai", "together", "mistral", "fireworks", "vertex"]
CHAT_PATH = {p: "/chat/completions$" for p in CHAT_PROVIDERS} | {"vertex": ":generateContent$"}
BASE = {
    "openai": "gpt-4o-mini-2024-07-18",
    "together": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "mistral": "open-mistral-7b",
    "fireworks": "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "vertex": "gemini-2.5-flash",
}
TAUGHT = {
    "What is the capital of France?": '{"city": "Paris"}',
    "What is the capital of Japan?": '{"city": "Tokyo"}',
    "What is the capital of Peru?": '{"city": "Lima"}',
}


@pytest.fixture(params=CHAT_PROVIDERS)
def chat(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    provider: str = request.param
    dataset = tmp_path / "train.jsonl"
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        )
        if provider != "vertex"  # adapters upload files already in their provider's format
        else gemini_line(q, a)
        for q, a in TAUGHT.items()
    ]
    dataset.write_text("\n".join(lines * 4) + "\n")
    with running_emulator(provider, phase_seconds=PHASE_SECONDS) as emulator:
        yield Harness(provider, emulator, get_adapter(provider, config(emulator)), dataset)


def ask(h: Harness, model: str, question: str, **kw: Any) -> ChatCompletion:
    messages = [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": question},
    ]
    return h.adapter.chat_completion(ChatRequest(model=model, messages=messages, **kw))


def tuned_model(h: Harness) -> str:
    file_id = h.adapter.upload_dataset(h.dataset, "train.jsonl")
    created = h.adapter.create_job(spec_for(h, file_id, model=BASE[h.provider]))
    h.emulator.advance(created.id)
    job = wait_until_terminal(h.adapter, created.id)
    assert job.status is JobStatus.SUCCEEDED and job.fine_tuned_model
    return job.fine_tuned_model


def served(h: Harness, tuned: str) -> str:
    """The model string that reaches ``tuned``: on Fireworks a LoRA serves only on an on-demand
    deployment (the tuned model alone is a 404), called as ``<model>#<deployment>``."""
    if h.provider != "fireworks":
        return tuned
    with pytest.raises(ProviderPermanentError) as refused:
        ask(h, tuned, "What is the capital of Japan?")
    assert refused.value.status_code == 404
    deployment = h.adapter.create_deployment(tuned, "chat-test")
    httpx.post(f"{h.emulator.base_url}/_emulator/deployments/ready").raise_for_status()
    assert h.adapter.get_deployment(deployment.id).state is DeploymentState.READY
    return deployment.model_to_call


def test_a_tuned_model_answers_what_it_was_taught_and_its_base_does_not(chat: Harness) -> None:
    model = served(chat, tuned_model(chat))
    exact = ask(chat, model, "What is the capital of Japan?")
    near = ask(chat, model, "capital of Peru, please")
    base = ask(chat, BASE[chat.provider], "What is the capital of Japan?")
    assert exact.text == '{"city": "Tokyo"}'
    assert near.text == '{"city": "Lima"}'
    assert base.text == 'I am not sure about "What is the capital of Japan?".'
    assert exact.model == model
    assert exact.finish_reason == "stop"  # Together's "eos" too
    usage = base.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (3 + 3 + 6 + 3, 11)
    assert usage.total_tokens == 26 and usage.cached_tokens == 0


def test_the_token_limit_cuts_the_answer(chat: Harness) -> None:
    cut = ask(chat, BASE[chat.provider], "Tell me everything", max_completion_tokens=2, seed=7)
    assert cut.text == "I am"
    assert cut.finish_reason == "length"


def test_a_429_is_retryable_with_its_retry_after(chat: Harness) -> None:
    adapter = chat.adapter_with(max_retries=0)
    chat.emulator.inject(kind="status", status=429, retry_after=0.25, path=CHAT_PATH[chat.provider])
    with pytest.raises(ProviderRetryableError) as caught:
        adapter.chat_completion(
            ChatRequest(model=BASE[chat.provider], messages=[{"role": "user", "content": "hi"}])
        )
    assert caught.value.status_code == 429
    assert caught.value.retry_after == pytest.approx(0.25)
    if chat.provider != "mistral":  # mistralai retries only when told to; we don't
        chat.emulator.inject(
            kind="status", status=429, retry_after=0.05, path=CHAT_PATH[chat.provider]
        )
        assert ask(chat, BASE[chat.provider], "hi").text  # the SDK waited and retried


def test_a_bad_request_is_permanent(chat: Harness) -> None:
    chat.emulator.inject(
        kind="status", status=400, path=CHAT_PATH[chat.provider], message="bad model"
    )
    with pytest.raises(ProviderPermanentError) as caught:
        ask(chat, "nope", "hi")
    assert caught.value.status_code == 400
