"""Local models as eval-run completers: a ChatRequest in, the generated text with its usage
out (prompt tokens as the chat template renders them, completion tokens with the end token);
one load per (base, adapter) however many runs ask; bad routes and bounds are clear permanent
errors before anything is generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_gpu import go_offline
from local_gpu.tiny import build_demo_model
from providers.base import ChatRequest
from providers.errors import ProviderPermanentError
from service.evals.runs.local import LocalModel
from workers.local_inference import LocalModels

go_offline()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_model(tmp_path_factory.mktemp("local-models") / "tiny")


def _request(content: object, max_tokens: int | None = 12) -> ChatRequest:
    return ChatRequest(
        model="local/tiny",
        messages=[{"role": "user", "content": content}],
        max_completion_tokens=max_tokens,
    )


def test_a_completion_carries_its_text_and_usage(model_dir: Path) -> None:
    from transformers import AutoTokenizer

    models = LocalModels(device="cpu", max_wait_s=0.0)
    complete = models.completer(LocalModel("local/tiny", model_dir, None))
    done = complete(_request("Where does Ada live?"))
    assert done.model == "local/tiny"
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Where does Ada live?"}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    assert done.usage.prompt_tokens == len(prompt)
    generated = tokenizer.encode(done.text, add_special_tokens=False)
    if done.finish_reason == "length":
        assert done.usage.completion_tokens == 12
    else:
        assert done.finish_reason == "stop"
        assert done.usage.completion_tokens <= 12
    assert done.usage.completion_tokens >= min(len(generated), 12)
    # OpenAI content parts are read as their text: the same prompt, the same answer
    parts = complete(_request([{"type": "text", "text": "Where does Ada live?"}]))
    assert parts == done


def test_each_model_is_loaded_once_per_worker(model_dir: Path) -> None:
    models = LocalModels(device="cpu", max_wait_s=0.0, max_loaded=1)
    first = models.completer(LocalModel("local/tiny", model_dir, None))
    second = models.completer(LocalModel("local/tiny", model_dir, None))
    assert models.loads == 1
    assert first.batcher is second.batcher
    assert first(_request("Hi", 4)) == second(_request("Hi", 4))


def test_bad_routes_and_limits_are_clear_permanent_errors(model_dir: Path, tmp_path: Path) -> None:
    models = LocalModels(device="cpu", max_wait_s=0.0)
    with pytest.raises(ProviderPermanentError, match="no local model 'missing'") as missing:
        models.completer(LocalModel("local/missing", tmp_path / "missing", None))
    assert missing.value.code == "model_not_found"
    assert missing.value.param == "model"
    with pytest.raises(ProviderPermanentError, match="adapter is gone"):
        models.completer(LocalModel("local/tiny:ft-x", model_dir, tmp_path))
    assert models.loads == 0
    complete = models.completer(LocalModel("local/tiny", model_dir, None))
    with pytest.raises(ProviderPermanentError, match="max_completion_tokens"):
        complete(_request("Hi", 100_000))
