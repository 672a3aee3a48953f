"""Fireworks adapter on the ``fireworks-ai`` SDK (datasets + supervisedFineTuningJobs).

Idempotency is native here: the job id is derived from our tag and passed as
``supervisedFineTuningJobId``, so a repeated create answers 409 and we fetch the existing
job. Datasets are content-addressed the same way. Fireworks has no event or checkpoint API;
``list_events`` reports the job's state changes as we observe them, and the cost is the
job's ``estimatedCost`` once it has finished.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fireworks

from providers.adapters import _fireworks_deployments
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
)
from providers.errors import ProviderError, ProviderPermanentError
from providers.options import apply_options

STATUS_MAP = {
    "JOB_STATE_UNSPECIFIED": JobStatus.QUEUED,
    "JOB_STATE_CREATING": JobStatus.VALIDATING_FILES,
    "JOB_STATE_CREATING_INPUT_DATASET": JobStatus.VALIDATING_FILES,
    "JOB_STATE_VALIDATING": JobStatus.VALIDATING_FILES,
    "JOB_STATE_PENDING": JobStatus.QUEUED,
    "JOB_STATE_RE_QUEUEING": JobStatus.QUEUED,
    "JOB_STATE_IDLE": JobStatus.QUEUED,
    "JOB_STATE_PAUSED": JobStatus.QUEUED,
    "JOB_STATE_RUNNING": JobStatus.RUNNING,
    "JOB_STATE_WRITING_RESULTS": JobStatus.RUNNING,
    "JOB_STATE_CANCELLING": JobStatus.RUNNING,
    "JOB_STATE_COMPLETED": JobStatus.SUCCEEDED,
    "JOB_STATE_EARLY_STOPPED": JobStatus.SUCCEEDED,
    "JOB_STATE_FAILED": JobStatus.FAILED,
    "JOB_STATE_EXPIRED": JobStatus.FAILED,
    "JOB_STATE_CANCELLED": JobStatus.CANCELLED,
    "JOB_STATE_DELETING": JobStatus.CANCELLED,
    "JOB_STATE_DELETING_CLEANING_UP": JobStatus.CANCELLED,
}


def job_id_for_tag(tag: str) -> str:
    """Fireworks ids are lowercase letters, digits and hyphens; derive one from the tag."""
    return "tf-" + hashlib.sha256(tag.encode()).hexdigest()[:24]


NEWEST_FIRST = "createTime desc"


class FireworksAdapter(ProviderAdapter):
    name = "fireworks"
    lists_jobs = True
    max_list_page = 200  # documented: "The maximum page_size is 200"
    default_list_page = 200

    def __init__(self, config: ProviderConfig) -> None:
        if not config.account_id:
            raise ProviderPermanentError(
                self.name, "Fireworks needs an account id", param="account_id"
            )
        self.account_id = config.account_id
        self.client = fireworks.Fireworks(
            api_key=config.api_key,
            account_id=config.account_id,
            base_url=config.base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )

    def _job(self, job: Any) -> ProviderJob:
        raw = str(job.state or "JOB_STATE_UNSPECIFIED")
        status = STATUS_MAP.get(raw, JobStatus.RUNNING)
        error = None
        if status is JobStatus.FAILED:
            detail = job.status
            code = str(detail.code) if detail and detail.code else raw
            error = JobError(
                code,
                (detail.message if detail else None) or "The provider reported the job failed.",
            )
        cost = None
        if status.is_terminal and job.estimated_cost is not None:
            units = Decimal(job.estimated_cost.units or "0")
            cost = units + Decimal(job.estimated_cost.nanos or 0) / Decimal(1_000_000_000)
        progress = job.job_progress
        return ProviderJob(
            provider=self.name,
            id=str(job.name).rsplit("/", 1)[-1],
            status=status,
            provider_status=raw,
            model=job.base_model,
            fine_tuned_model=job.output_model if status is JobStatus.SUCCEEDED else None,
            trained_tokens=progress.input_tokens if progress else None,
            cost=cost,
            cost_currency=(job.estimated_cost.currency_code or "USD") if cost is not None else None,
            error=error,
            created_at=job.create_time,
            finished_at=job.completed_time,
            steps_completed=progress.percent if progress else None,
        )

    def upload_dataset(self, path: Path, filename: str, purpose: str = "fine-tune") -> str:
        content = path.read_bytes()
        dataset_id = "tf-" + hashlib.sha256(content).hexdigest()[:24]
        dataset = {
            "displayName": filename,
            "format": "CHAT",
            "exampleCount": str(content.count(b"\n")),
        }
        with translated(self.name, fireworks):
            # Same content uploaded before (409): upload again onto the same dataset.
            with contextlib.suppress(fireworks.ConflictError):
                self.client.datasets.create(dataset_id=dataset_id, dataset=dataset)  # type: ignore[arg-type]
            self.client.datasets.upload(dataset_id, file=(filename, content))
        return f"accounts/{self.account_id}/datasets/{dataset_id}"

    def create_job(self, spec: JobSpec) -> ProviderJob:
        if spec.method != "supervised":
            raise ProviderPermanentError(
                self.name, "only supervised fine-tuning is supported here", param="method"
            )
        hp = spec.hyperparameters
        kwargs: dict[str, Any] = {
            "dataset": spec.training_file,
            "base_model": spec.model,
            "display_name": spec.suffix or spec.tag[:60],
        }
        if hp.n_epochs != "auto":
            kwargs["epochs"] = hp.n_epochs
        if hp.batch_size != "auto":
            kwargs["batch_size"] = hp.batch_size
        if hp.learning_rate_multiplier != "auto":
            kwargs["learning_rate"] = 1e-4 * hp.learning_rate_multiplier
        if spec.lora_rank is not None:
            kwargs["lora_rank"] = spec.lora_rank
        if spec.validation_file:
            kwargs["evaluation_dataset"] = spec.validation_file
        apply_options(self.name, kwargs, spec.options)
        job_id = job_id_for_tag(spec.tag)
        try:
            with translated(self.name, fireworks):
                job = self.client.with_options(max_retries=0).supervised_fine_tuning_jobs.create(
                    supervised_fine_tuning_job_id=job_id, **kwargs
                )
        except ProviderError as exc:
            if exc.status_code == 409:  # created by an earlier attempt whose answer was lost
                return self.get_job(job_id)
            raise
        return self._job(job)

    def get_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, fireworks):
            return self._job(self.client.supervised_fine_tuning_jobs.get(provider_job_id))

    def cancel_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, fireworks):
            self.client.supervised_fine_tuning_jobs.cancel(provider_job_id, body={})
        return self.get_job(provider_job_id)

    def list_events(self, provider_job_id: str, after: str | None = None) -> list[ProviderEvent]:
        job = self.get_job(provider_job_id)
        message = job.error.message if job.error else f"Job state is {job.provider_status}"
        event = ProviderEvent(
            id=f"state-{job.provider_status}",
            created_at=datetime.now(UTC),
            level="error" if job.error else "info",
            message=message,
            data={"state": job.provider_status},
        )
        return [] if after == event.id else [event]

    def list_checkpoints(self, provider_job_id: str) -> list[ProviderCheckpoint]:
        return []

    def find_job_by_tag(self, tag: str) -> ProviderJob | None:
        try:
            return self.get_job(job_id_for_tag(tag))
        except ProviderError as exc:
            if exc.status_code == 404:
                return None
            raise

    def list_jobs(self, after: str | None = None, limit: int = 100) -> JobPage:
        """``GET …/supervisedFineTuningJobs?pageSize&pageToken&orderBy``, newest first; the
        cursor is Fireworks' ``nextPageToken``."""
        with translated(self.name, fireworks):
            raw = self.client.supervised_fine_tuning_jobs.with_raw_response.list(
                page_size=min(limit, self.max_list_page),
                order_by=NEWEST_FIRST,
                page_token=after or fireworks.omit,
            )
            page = raw.parse()
        token = page.next_page_token or None
        return JobPage(
            jobs=[self._job(job) for job in page.supervised_fine_tuning_jobs],
            has_more=token is not None,
            next_after=token,
            rate_limit=parse_rate_limit(dict(raw.headers.items())),
        )

    def create_deployment(self, model: str, name: str) -> Deployment:
        return _fireworks_deployments.create(self.client, model, name)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return _fireworks_deployments.get(self.client, deployment_id)

    def delete_deployment(self, deployment_id: str) -> None:
        _fireworks_deployments.delete(self.client, deployment_id)

    def chat_completion(self, request: ChatRequest) -> ChatCompletion:
        with translated(self.name, fireworks):
            response = self.client.chat.completions.create(
                **request_kwargs(request, max_tokens="max_tokens")
            )
        return completion_from(response, request.model)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            provider=self.name,
            methods=frozenset({"supervised"}),
            training_types=frozenset({"lora"}),
            supports_events=False,
            supports_checkpoints=False,
            supports_cost_estimate=False,
            reports_cost=True,
            lists_jobs=self.lists_jobs,
        )
