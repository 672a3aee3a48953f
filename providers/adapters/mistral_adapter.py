"""Mistral adapter on ``mistralai==2.5.1``, the last SDK release with ``fine_tuning.jobs``.

Mistral retired its fine-tuning API (the live service answers 410 Gone); a 410 becomes
``ProviderRetiredError`` naming the providers to use instead. Our tag travels as a token
in the job ``suffix``. The SDK does not retry unless asked, and we do not ask.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from mistralai.client import Mistral
from mistralai.client.errors import MistralError, NoResponseError
from mistralai.client.models import TrainingFile

from providers.adapters._chat import completion_from, request_kwargs
from providers.base import (
    Capabilities,
    ChatCompletion,
    ChatRequest,
    JobError,
    JobSpec,
    JobStatus,
    ProviderAdapter,
    ProviderCheckpoint,
    ProviderConfig,
    ProviderEvent,
    ProviderJob,
    suffix_with_tag,
    tag_token,
)
from providers.errors import (
    ProviderError,
    ProviderPermanentError,
    ProviderRetryableError,
    error_for_status,
)
from providers.options import apply_options

ALTERNATIVES = ("openai", "together", "fireworks", "local")
SUFFIX_MAX = 18
STATUS_MAP = {
    "QUEUED": JobStatus.QUEUED,
    "STARTED": JobStatus.VALIDATING_FILES,
    "VALIDATING": JobStatus.VALIDATING_FILES,
    "VALIDATED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "CANCELLATION_REQUESTED": JobStatus.RUNNING,
    "FAILED_VALIDATION": JobStatus.FAILED,
    "FAILED": JobStatus.FAILED,
    "SUCCESS": JobStatus.SUCCEEDED,
    "CANCELLED": JobStatus.CANCELLED,
}


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _unset(value: Any) -> Any:
    """The SDK marks absent fields with an ``Unset`` sentinel; treat it as None."""
    return None if value is None or type(value).__name__ == "Unset" else value


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except ProviderError:
        raise
    except MistralError as exc:
        headers = dict(exc.headers.items()) if exc.headers is not None else {}
        raise error_for_status(
            "mistral", exc.status_code, exc.body, headers, alternatives=ALTERNATIVES
        ) from None
    except (httpx.TimeoutException, httpx.TransportError, NoResponseError) as exc:
        raise ProviderRetryableError("mistral", f"connection failed: {exc!r}") from None
    except httpx.HTTPError as exc:
        raise ProviderRetryableError("mistral", f"HTTP failure: {exc!r}") from None


class MistralAdapter(ProviderAdapter):
    name = "mistral"

    def __init__(self, config: ProviderConfig) -> None:
        self.client = Mistral(
            api_key=config.api_key,
            server_url=config.base_url,
            timeout_ms=int(config.timeout * 1000),
        )

    def _job(self, job: Any) -> ProviderJob:
        raw = str(job.status)
        status = STATUS_MAP.get(raw, JobStatus.RUNNING)
        events = _unset(getattr(job, "events", None)) or []
        metadata = _unset(job.metadata)
        error = None
        if status is JobStatus.FAILED:
            details = [(_unset(e.data) or {}).get("error") for e in events]
            message = next(
                (d for d in reversed(details) if d), "The provider reported the job failed."
            )
            param = "training_file" if raw == "FAILED_VALIDATION" else None
            error = JobError(raw.lower(), str(message), param)
        cost = _unset(metadata.cost) if metadata else None
        return ProviderJob(
            provider=self.name,
            id=job.id,
            status=status,
            provider_status=raw,
            model=job.model,
            fine_tuned_model=_unset(job.fine_tuned_model),
            trained_tokens=_unset(job.trained_tokens),
            cost=Decimal(str(cost)) if cost is not None else None,
            cost_currency=_unset(metadata.cost_currency) if metadata else None,
            error=error,
            created_at=_ts(job.created_at),
            finished_at=_ts(job.modified_at) if status.is_terminal else None,
        )

    def upload_dataset(self, path: Path, filename: str, purpose: str = "fine-tune") -> str:
        with translated():
            uploaded = self.client.files.upload(
                file={"file_name": filename, "content": path.read_bytes()},
                purpose=purpose,  # type: ignore[arg-type]
            )
        return str(uploaded.id)

    def create_job(self, spec: JobSpec) -> ProviderJob:
        if spec.method != "supervised":
            raise ProviderPermanentError(
                self.name, "Mistral fine-tuning supports supervised only", param="method"
            )
        hp = spec.hyperparameters
        hyper: dict[str, Any] = {}
        if hp.n_epochs != "auto":
            hyper["epochs"] = float(hp.n_epochs)
        if hp.learning_rate_multiplier != "auto":
            hyper["learning_rate"] = 1e-4 * hp.learning_rate_multiplier
        with translated():
            job = self.client.fine_tuning.jobs.create(
                model=spec.model,
                hyperparameters=hyper,  # type: ignore[arg-type]
                training_files=[TrainingFile(file_id=spec.training_file, weight=1.0)],
                validation_files=[spec.validation_file] if spec.validation_file else None,
                suffix=suffix_with_tag(spec.suffix, spec.tag, SUFFIX_MAX),
                auto_start=True,
                **apply_options(self.name, {}, spec.options),
            )
        return self._job(job)

    def _details(self, provider_job_id: str) -> Any:
        with translated():
            return self.client.fine_tuning.jobs.get(job_id=provider_job_id)

    def get_job(self, provider_job_id: str) -> ProviderJob:
        return self._job(self._details(provider_job_id))

    def cancel_job(self, provider_job_id: str) -> ProviderJob:
        with translated():
            return self._job(self.client.fine_tuning.jobs.cancel(job_id=provider_job_id))

    def list_events(self, provider_job_id: str, after: str | None = None) -> list[ProviderEvent]:
        raw = _unset(self._details(provider_job_id).events) or []
        events = [
            ProviderEvent(
                id=f"evt-{n:06d}",  # Mistral events have no id; their position is stable
                created_at=datetime.fromtimestamp(e.created_at, UTC),
                level="error" if (_unset(e.data) or {}).get("error") else "info",
                message=e.name + (f": {_unset(e.data)}" if _unset(e.data) else ""),
                type="metrics" if e.name == "metrics" else "message",
                data=_unset(e.data) or {},
            )
            for n, e in enumerate(raw)
        ]
        if after is None:
            return events
        ids = [e.id for e in events]
        return events[ids.index(after) + 1 :] if after in ids else events

    def list_checkpoints(self, provider_job_id: str) -> list[ProviderCheckpoint]:
        raw = _unset(self._details(provider_job_id).checkpoints) or []
        checkpoints = [
            ProviderCheckpoint(
                step=c.step_number,
                created_at=datetime.fromtimestamp(c.created_at, UTC),
                metrics={
                    k: float(v)
                    for k, v in {
                        "train_loss": _unset(c.metrics.train_loss),
                        "valid_loss": _unset(c.metrics.valid_loss),
                        "valid_mean_token_accuracy": _unset(c.metrics.valid_mean_token_accuracy),
                    }.items()
                    if v is not None
                },
            )
            for c in raw
        ]
        return sorted(checkpoints, key=lambda c: c.step)

    def find_job_by_tag(self, tag: str) -> ProviderJob | None:
        token = tag_token(tag)
        with translated():
            page = self.client.fine_tuning.jobs.list(page_size=100)
        for job in page.data or []:
            if str(_unset(getattr(job, "suffix", None)) or "").endswith(token):
                return self.get_job(str(getattr(job, "id", "")))
        return None

    def chat_completion(self, request: ChatRequest) -> ChatCompletion:
        with translated():
            response = self.client.chat.complete(
                **request_kwargs(request, max_tokens="max_tokens", seed="random_seed")
            )
        return completion_from(response, request.model)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            provider=self.name,
            methods=frozenset({"supervised"}),
            training_types=frozenset({"lora"}),
            supports_events=True,
            supports_checkpoints=True,
            supports_cost_estimate=False,
            reports_cost=True,
        )
