"""The hook for runs on local models (``local/<base>`` or a local job's fine-tuned model): the
gpu worker's composition root registers a factory that loads the base model (with the job's
LoRA adapter, if any) once per run and returns a ``Completer``. The service knows nothing of
torch; until a factory is registered, such a run fails with ``local_inference_unavailable``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from service.evals.runs.items import Completer
from service.settings import Settings


@dataclass(frozen=True)
class LocalModel:
    """``name`` is the model as the run names it (reported in usage); ``model_dir`` the base
    model's folder; ``adapter_dir`` the LoRA adapter to apply, or None for the base model."""

    name: str
    model_dir: Path
    adapter_dir: Path | None


LocalCompleterFactory = Callable[[Settings, LocalModel], AbstractContextManager[Completer]]
"""Given the model, a context that holds it loaded while the run executes and yields the
completer; leaving the context may free the model (or keep it cached)."""


class LocalInferenceUnavailable(RuntimeError):
    """No local generation is wired into this worker."""


_factory: LocalCompleterFactory | None = None


def register_local_completer_factory(factory: LocalCompleterFactory | None) -> None:
    """Called by the gpu worker's composition root (and by tests); None unregisters."""
    global _factory
    _factory = factory


@contextmanager
def local_completer(settings: Settings, model: LocalModel) -> Iterator[Completer]:
    factory = _factory
    if factory is None:
        raise LocalInferenceUnavailable(
            "Local generation is not available on this worker: runs on local models need the "
            "gpu worker with local generation installed."
        )
    with factory(settings, model) as completer:
        yield completer
