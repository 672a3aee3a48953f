"""Together adapter on the ``together`` 3.x SDK.

Our tag travels as a token at the end of the job ``suffix`` (``providers.base.suffix_with_tag``).
``learning_rate_multiplier`` scales Together's default learning rate (1e-5). ``total_price``
is read as US dollars (the unit is unverified, PROVIDERS.md §3).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import together

from providers.adapters import _together_endpoints
from providers.adapters._chat import completion_from, request_kwargs
from providers.adapters._stainless import translated
from providers.base import (
    Capabilities,
    ChatCompletion,
    ChatRequest,
    Deployment,
    JobError,
    JobPage,
    JobSpec,
    JobStatus,
    ProviderAdapter,
    ProviderCheckpoint,
    ProviderConfig,
    ProviderEvent,
    ProviderJob,
    parse_rate_limit,
    suffix_with_tag,
    tag_token,
)
from providers.errors import ProviderPermanentError
from providers.options import apply_options

STATUS_MAP = {
    "pending": JobStatus.QUEUED,
    "queued": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    "compressing": JobStatus.RUNNING,
    "uploading": JobStatus.RUNNING,
    "cancel_requested": JobStatus.RUNNING,
    "cancelled": JobStatus.CANCELLED,
    "error": JobStatus.FAILED,
    "user_error": JobStatus.FAILED,
    "completed": JobStatus.SUCCEEDED,
}
ERROR_EVENTS = {"job_error", "job_user_error"}
DEFAULT_LEARNING_RATE = 1e-5
SUFFIX_MAX = 40
METRIC_NAMES = {"eval_loss": "valid_loss", "global_step": "step"}


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else datetime.now(UTC)


def _next_change(progress: Any) -> datetime | None:
    """``progress{estimate_available, seconds_remaining}`` (to the job's next state) as a
    point in time, when given."""
    if progress is None or not getattr(progress, "estimate_available", False):
        return None
    remaining = getattr(progress, "seconds_remaining", None)
    if not isinstance(remaining, int | float) or remaining <= 0:
        return None
    return datetime.now(UTC) + timedelta(seconds=float(remaining))


def _status(raw: Any) -> str:
    return str(getattr(raw, "value", raw) or "pending")


class TogetherAdapter(ProviderAdapter):
    name = "together"
    lists_jobs = True

    def __init__(self, config: ProviderConfig) -> None:
        self.client = together.Together(
            api_key=config.api_key,
            base_url=config.base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
            project_id=config.project,
        )

    def _job(self, job: Any, events: list[Any] | None = None) -> ProviderJob:
        raw = _status(job.status)
        error = None
        if STATUS_MAP.get(raw) is JobStatus.FAILED:
            failures = [e for e in events or [] if str(_event_type(e)).lower() in ERROR_EVENTS]
            message = failures[-1].message if failures else "The provider reported the job failed."
            error = JobError("job_error" if raw == "error" else "user_error", message)
        price = getattr(job, "total_price", None)
        return ProviderJob(
            provider=self.name,
            id=job.id,
            status=STATUS_MAP.get(raw, JobStatus.RUNNING),
            provider_status=raw,
            model=job.model,
            fine_tuned_model=_output_name(job) if raw == "completed" else None,
            trained_tokens=job.token_count,
            cost=Decimal(price) if price else None,
            cost_currency="USD" if price else None,
            error=error,
            created_at=_when(job.created_at),
            finished_at=_when(job.updated_at)
            if STATUS_MAP.get(raw, JobStatus.RUNNING).is_terminal
            else None,
            next_change_at=_next_change(getattr(job, "progress", None)),
            steps_completed=_steps_completed(job),
        )

    def upload_dataset(self, path: Path, filename: str, purpose: str = "fine-tune") -> str:
        # The SDK names the upload after the path, so give it a path with the wanted name.
        with tempfile.TemporaryDirectory() as tmp:
            named = path
            if path.name != filename:
                named = Path(tmp) / filename
                shutil.copyfile(path, named)
            with translated(self.name, together):
                try:
                    return str(self.client.files.upload(file=named, purpose=purpose, check=True).id)
                except together.FileTypeError as exc:
                    raise ProviderPermanentError(
                        self.name, str(exc), param="training_file"
                    ) from None

    def _create_kwargs(self, spec: JobSpec) -> dict[str, Any]:
        hp = spec.hyperparameters
        kwargs: dict[str, Any] = {
            "training_file": spec.training_file,
            "model": spec.model,
            "n_epochs": 1 if hp.n_epochs == "auto" else hp.n_epochs,
            "batch_size": "max" if hp.batch_size == "auto" else hp.batch_size,
            "learning_rate": DEFAULT_LEARNING_RATE
            * (1.0 if hp.learning_rate_multiplier == "auto" else hp.learning_rate_multiplier),
            "lora": spec.training_type != "full",
            "suffix": suffix_with_tag(spec.suffix, spec.tag, SUFFIX_MAX),
            "training_method": "dpo" if spec.method == "dpo" else "sft",
        }
        if spec.validation_file:
            kwargs["validation_file"] = spec.validation_file
        if spec.lora_rank is not None:
            kwargs["lora_r"] = spec.lora_rank
        if spec.lora_alpha is not None:
            kwargs["lora_alpha"] = spec.lora_alpha
        if spec.method == "dpo" and spec.dpo_beta is not None:
            kwargs["dpo_beta"] = spec.dpo_beta
        if spec.seed is not None:
            kwargs["random_seed"] = spec.seed
        if spec.from_checkpoint is not None:
            # Model XOR checkpoint (the SDK refuses both): the base is the parent job's.
            del kwargs["model"]
            kwargs["from_checkpoint"] = spec.from_checkpoint
        return apply_options(self.name, kwargs, spec.options)

    def create_job(self, spec: JobSpec) -> ProviderJob:
        with translated(self.name, together):
            # create() makes three calls (limits, estimate-price, create); none is retried.
            job = self.client.with_options(max_retries=0).fine_tuning.create(
                **self._create_kwargs(spec)
            )
        return self._job(job)

    def get_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, together):
            job = self.client.fine_tuning.retrieve(provider_job_id)
            events = list(job.events or [])
            if STATUS_MAP.get(_status(job.status)) is JobStatus.FAILED and not events:
                events = list(self.client.fine_tuning.list_events(provider_job_id).data)
        return self._job(job, events)

    def cancel_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, together):
            self.client.fine_tuning.cancel(provider_job_id)
        return self.get_job(provider_job_id)

    def list_events(self, provider_job_id: str, after: str | None = None) -> list[ProviderEvent]:
        with translated(self.name, together):
            raw = self.client.fine_tuning.list_events(provider_job_id).data
        events = [
            ProviderEvent(
                id=f"evt-{n:06d}",  # Together events have no id; their position is stable
                created_at=_when(e.created_at),
                level=str(e.level or "info"),
                message=e.message,
                type=str(_event_type(e)),
                data={
                    k: v
                    for k, v in {"step": e.step, "total_steps": e.total_steps}.items()
                    if v is not None
                },
            )
            for n, e in enumerate(raw)
        ]
        if after is None:
            return events
        ids = [e.id for e in events]
        return events[ids.index(after) + 1 :] if after in ids else events

    def list_checkpoints(self, provider_job_id: str) -> list[ProviderCheckpoint]:
        with translated(self.name, together):
            checkpoints = self.client.fine_tuning.list_checkpoints(provider_job_id).data
            metrics = self.client.fine_tuning.list_metrics(provider_job_id).metrics or []
        by_step = {
            int(m.get("global_step", -1)): {METRIC_NAMES.get(k, k): float(v) for k, v in m.items()}
            for m in metrics
        }
        return sorted(
            (
                ProviderCheckpoint(
                    step=c.step,
                    created_at=_when(c.created_at),
                    metrics=by_step.get(c.step, {}),
                    id=c.path,
                    model=c.object_name or c.path,
                )
                for c in checkpoints
            ),
            key=lambda c: c.step,
        )

    def find_job_by_tag(self, tag: str) -> ProviderJob | None:
        token = tag_token(tag)
        with translated(self.name, together):
            for job in self.client.fine_tuning.list().data:
                suffix = (job.model_extra or {}).get("suffix") or ""
                if suffix.endswith(token) or token in (_output_name(job) or ""):
                    return self.get_job(job.id)
        return None

    def list_jobs(self, after: str | None = None, limit: int = 100) -> JobPage:
        """``GET /v1/fine-tunes`` answers every job in one response (no paging), so ``after``
        and ``limit`` do not apply: one call, newest first, no next page."""
        with translated(self.name, together):
            listed = self.client.fine_tuning.with_raw_response.list()
            data = listed.parse().data
        jobs = sorted(
            (self._job(job) for job in data),
            key=lambda j: j.created_at or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        return JobPage(
            jobs=jobs,
            has_more=False,
            rate_limit=parse_rate_limit(dict(listed.headers.items())),
        )

    def estimate_cost(self, spec: JobSpec) -> Decimal | None:
        kwargs = self._create_kwargs(spec)
        lora = {"type": "Lora", "lora_r": spec.lora_rank or 16, "lora_alpha": spec.lora_alpha or 32}
        method: dict[str, Any] = (
            {"method": "dpo"}
            if spec.method == "dpo"
            else {"method": "sft", "train_on_inputs": "auto"}
        )
        with translated(self.name, together):
            estimate = self.client.fine_tuning.estimate_price(
                training_file=spec.training_file,
                model=spec.model,
                n_epochs=kwargs["n_epochs"],
                n_evals=0,
                training_method=method,  # type: ignore[arg-type]
                training_type={"type": "Full"} if spec.training_type == "full" else lora,  # type: ignore[arg-type]
                validation_file=spec.validation_file or together.omit,
            )
        price = getattr(estimate, "estimated_total_price", None)
        return Decimal(str(price)) if estimate.estimation_available and price is not None else None

    def chat_completion(self, request: ChatRequest) -> ChatCompletion:
        with translated(self.name, together):
            response = self.client.chat.completions.create(
                **request_kwargs(request, max_tokens="max_tokens")
            )
        return completion_from(response, request.model)

    def create_deployment(self, model: str, name: str) -> Deployment:
        return _together_endpoints.create(self.client, model, name)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return _together_endpoints.get(self.client, deployment_id)

    def delete_deployment(self, deployment_id: str) -> None:
        _together_endpoints.delete(self.client, deployment_id)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            provider=self.name,
            methods=frozenset({"supervised", "dpo"}),
            training_types=frozenset({"lora", "full"}),
            supports_events=True,
            supports_checkpoints=True,
            supports_cost_estimate=True,
            reports_cost=True,
            lists_jobs=self.lists_jobs,
        )


def _event_type(event: Any) -> Any:
    return getattr(event.type, "value", event.type)


def _steps_completed(job: Any) -> int | None:
    value = getattr(job, "steps_completed", None)
    if value is None:
        value = (getattr(job, "model_extra", None) or {}).get("steps_completed")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _output_name(job: Any) -> str | None:
    for attr in ("x_model_output_name", "output_name"):
        if value := getattr(job, attr, None):
            return str(value)
    return (job.model_extra or {}).get("model_output_name")
