"""Local models as eval-run completers: ``local/<base>`` (a folder under the local models
directory) or a local job's fine-tuned model (that base plus the job's LoRA adapter). This is
the factory the gpu worker registers with ``service.evals.runs.local`` (``install``).

Each (base, adapter) pair is loaded once per worker process and kept for the next run (the
``MAX_LOADED`` most recently asked stay loaded); its ``MicroBatcher`` turns the item executor's
concurrent one-at-a-time requests into batched greedy generation (``local_gpu.generate``).
Errors are translated into ``providers.errors`` at this edge: a model or adapter that is not
there is a permanent error saying which folder, so nothing is generated for a bad route.
torch is imported only when a model is first loaded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local_gpu import LocalTrainingError, go_offline
from local_gpu.batcher import MicroBatcher
from providers.base import ChatCompletion, ChatRequest, ChatUsage
from providers.errors import ProviderPermanentError
from service.evals.runs.local import LocalModel, register_local_completer_factory
from service.settings import Settings

PROVIDER = "local"
MAX_LOADED = 2
DEFAULT_MAX_NEW_TOKENS = 256
MAX_NEW_TOKENS = 4096  # local_gpu.generate's bound, checked here before anything is queued


Loaded = tuple[Path, Path | None]
"""A loaded model's key: its base folder and adapter folder (None: the base alone)."""


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
        self._loaded: OrderedDict[Loaded, MicroBatcher] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def completer(self, model: LocalModel) -> LocalCompleter:
        """Load ``model`` unless it is loaded; a ``ProviderPermanentError`` when it can't be."""
        check_local_model(model)
        adapter = model.adapter_dir.resolve() if model.adapter_dir else None
        key = (model.model_dir.resolve(), adapter)
        with self._lock:  # one load at a time: two runs of one model share one copy
            batcher = self._loaded.get(key)
            if batcher is None:
                batcher = self._load(model)
                self._loaded[key] = batcher
                while len(self._loaded) > self.max_loaded:
                    # A run still holding the evicted one keeps it until the run ends.
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(key)
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


_models: LocalModels | None = None
_models_lock = threading.Lock()


def worker_models(settings: Settings) -> LocalModels:
    """This process's loaded models, configured from the settings of the first run."""
    global _models
    with _models_lock:
        if _models is None:
            _models = LocalModels(
                max_batch=settings.local_inference_max_batch,
                max_wait_s=settings.local_inference_max_wait_s,
                device=settings.local_inference_device,
            )
        return _models


@contextmanager
def local_completer_factory(settings: Settings, model: LocalModel) -> Iterator[LocalCompleter]:
    """The hook's factory: the model stays loaded after the run, for the next one."""
    yield worker_models(settings).completer(model)


def install() -> None:
    register_local_completer_factory(local_completer_factory)
