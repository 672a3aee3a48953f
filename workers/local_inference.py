"""Local models as eval-run completers: ``local/<base>`` (a folder under the local models
directory) or a local job's fine-tuned model (that base plus the job's LoRA adapter).

Each (base, adapter) pair is loaded once per worker process and kept for the next run (the
``MAX_LOADED`` most recently asked stay loaded); its ``MicroBatcher`` turns the item executor's
concurrent one-at-a-time requests into batched greedy generation (``local_gpu.generate``).
Errors are translated into ``providers.errors`` at this edge: a model or adapter that is not
there is a permanent error saying which folder, so nothing is generated for a bad route.
torch is imported only when a model is first loaded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_gpu import LocalTrainingError, go_offline
from local_gpu.batcher import MicroBatcher
from providers.base import ChatCompletion, ChatRequest, ChatUsage
from providers.errors import ProviderPermanentError

PROVIDER = "local"
MAX_LOADED = 2
DEFAULT_MAX_NEW_TOKENS = 256
MAX_NEW_TOKENS = 4096  # local_gpu.generate's bound, checked here before anything is queued


@dataclass(frozen=True)
class LocalModel:
    """What a local route resolves to: the base model folder and, for a tuned model, the
    adapter folder its job saved."""

    model_dir: Path
    adapter_dir: Path | None = None


def _text(content: Any) -> str:
    """A message's content as the chat template wants it: OpenAI content parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return "" if content is None else str(content)


def _messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"role": str(m.get("role", "user")), "content": _text(m.get("content"))} for m in messages
    ]


def check_local_model(model: LocalModel) -> None:
    """A permanent error naming the folder when the base or the adapter is not there."""
    if not (model.model_dir / "config.json").is_file():
        raise ProviderPermanentError(
            PROVIDER,
            f"no local model '{model.model_dir.name}': {model.model_dir} holds no Hugging Face "
            "model (config.json)",
            code="model_not_found",
            param="model",
        )
    if model.adapter_dir is not None and not (model.adapter_dir / "adapter_config.json").is_file():
        raise ProviderPermanentError(
            PROVIDER,
            f"the fine-tuned model's LoRA adapter is gone: {model.adapter_dir} holds no "
            "adapter_config.json",
            code="model_not_found",
            param="model",
        )


class LocalCompleter:
    """``Completer`` for one loaded local model: ``ChatRequest`` in, ``ChatCompletion`` out."""

    def __init__(self, batcher: MicroBatcher) -> None:
        self.batcher = batcher

    def __call__(self, request: ChatRequest) -> ChatCompletion:
        limit = request.max_completion_tokens or DEFAULT_MAX_NEW_TOKENS
        if not 1 <= limit <= MAX_NEW_TOKENS:
            raise ProviderPermanentError(
                PROVIDER,
                f"max_completion_tokens {limit} is over the local generator's {MAX_NEW_TOKENS}",
                param="sampling_params.max_completion_tokens",
            )
        try:
            generation = self.batcher.submit(_messages(request.messages), limit)
        except LocalTrainingError as exc:
            raise ProviderPermanentError(PROVIDER, str(exc)) from None
        except (RuntimeError, ValueError) as exc:  # torch (out of memory), a template error
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ProviderPermanentError(PROVIDER, f"local generation failed: {first}") from None
        return ChatCompletion(
            model=request.model,
            text=generation.text,
            finish_reason=generation.finish_reason,
            usage=ChatUsage(generation.prompt_tokens, generation.completion_tokens),
        )


class LocalModels:
    """The worker process's loaded local models, most recently asked last."""

    def __init__(
        self,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.05,
        device: str = "auto",
        max_loaded: int = MAX_LOADED,
    ) -> None:
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.device = device
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[LocalModel, MicroBatcher] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def completer(self, model: LocalModel) -> LocalCompleter:
        """Load ``model`` unless it is loaded; a ``ProviderPermanentError`` when it can't be."""
        check_local_model(model)
        with self._lock:  # one load at a time: two runs of one model share one copy
            batcher = self._loaded.get(model)
            if batcher is None:
                batcher = self._load(model)
                self._loaded[model] = batcher
                while len(self._loaded) > self.max_loaded:
                    # A run still holding the evicted one keeps it until the run ends.
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(model)
        return LocalCompleter(batcher)

    def _load(self, model: LocalModel) -> MicroBatcher:
        go_offline()
        from local_gpu.generate import GenerationConfig, LocalGenerator

        try:
            generator = LocalGenerator(
                GenerationConfig(
                    model.model_dir,
                    adapter_dir=model.adapter_dir,
                    device=self.device,
                    batch_size=self.max_batch,
                )
            )
        except LocalTrainingError as exc:
            raise ProviderPermanentError(
                PROVIDER, str(exc), code="model_not_found", param="model"
            ) from None
        except (OSError, ValueError, RuntimeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ProviderPermanentError(
                PROVIDER, f"could not load {model.model_dir.name}: {first}", param="model"
            ) from None
        self.loads += 1
        return MicroBatcher(
            generator.generate, max_batch=self.max_batch, max_wait_s=self.max_wait_s
        )
