"""OpenAI adapter on the ``openai`` SDK. Our tag travels in the job's ``metadata``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai

from providers.adapters._chat import completion_from, request_kwargs
from providers.adapters._stainless import translated
from providers.base import (
    Capabilities,
    ChatCompletion,
    ChatRequest,
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
from providers.options import apply_options

TAG_KEY = "tuneforge_tag"


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class OpenAIAdapter(ProviderAdapter):
    name = "openai"
    lists_jobs = True
    # OpenAI documents no maximum `limit` for its job list (the API reference and the SDK give
    # only the default, 20). A sweep asks 1000: a refusal (400/422) falls back to pages of 100
    # for that sweep, and shorter pages than asked are read to the end and paced by the pages
    # actually read. At 100 a page, a surprise end among 10,000 jobs waits up to 30 s.
    max_list_page = 1000
    default_list_page = 1000

    def __init__(self, config: ProviderConfig) -> None:
        self.client = openai.OpenAI(
            api_key=config.api_key,
            organization=config.organization,
            project=config.project,
            base_url=config.base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )

    def _job(self, job: Any) -> ProviderJob:
        return self._job_from(job.to_dict())

    def _job_from(self, job: Mapping[str, Any]) -> ProviderJob:
        """A job from its wire JSON (a list page is read as JSON, not built into thousands of
        SDK models: that was most of a sweep's CPU)."""
        error = job.get("error") or {}
        status = str(job["status"])
        return ProviderJob(
            provider=self.name,
            id=str(job["id"]),
            status=_status(status),
            provider_status=status,
            model=job.get("model"),
            fine_tuned_model=job.get("fine_tuned_model"),
            trained_tokens=job.get("trained_tokens"),
            error=JobError(error.get("code") or "error", error["message"], error.get("param"))
            if error.get("message")
            else None,
            created_at=_ts(job.get("created_at")),
            finished_at=_ts(job.get("finished_at")),
            tag=(job.get("metadata") or {}).get(TAG_KEY),
            estimated_finish_at=_ts(job.get("estimated_finish")),
            next_change_at=_ts(job.get("estimated_finish")),
        )

    def upload_dataset(self, path: Path, filename: str, purpose: str = "fine-tune") -> str:
        with translated(self.name, openai), path.open("rb") as fh:
            return str(self.client.files.create(file=(filename, fh), purpose=purpose).id)  # type: ignore[arg-type]

    def create_job(self, spec: JobSpec) -> ProviderJob:
        hyper = {
            "n_epochs": spec.hyperparameters.n_epochs,
            "batch_size": spec.hyperparameters.batch_size,
            "learning_rate_multiplier": spec.hyperparameters.learning_rate_multiplier,
        }
        if spec.method == "dpo":
            dpo_hyper: dict[str, Any] = {
                **hyper,
                **({"beta": spec.dpo_beta} if spec.dpo_beta else {}),
            }
            method: dict[str, Any] = {"type": "dpo", "dpo": {"hyperparameters": dpo_hyper}}
        else:
            method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
        kwargs: dict[str, Any] = {
            "model": spec.model,
            "training_file": spec.training_file,
            "method": method,
            "metadata": {TAG_KEY: spec.tag},
        }
        if spec.validation_file:
            kwargs["validation_file"] = spec.validation_file
        if spec.suffix:
            kwargs["suffix"] = spec.suffix
        if spec.seed is not None:
            kwargs["seed"] = spec.seed
        apply_options(self.name, kwargs, spec.options)
        with translated(self.name, openai):
            # No SDK retry: a retried POST could start a second paid job.
            job = self.client.with_options(max_retries=0).fine_tuning.jobs.create(**kwargs)
        return self._job(job)

    def get_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, openai):
            return self._job(self.client.fine_tuning.jobs.retrieve(provider_job_id))

    def cancel_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, openai):
            return self._job(self.client.fine_tuning.jobs.cancel(provider_job_id))

    supports_pause = True

    def pause_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, openai):
            return self._job(self.client.fine_tuning.jobs.pause(provider_job_id))

    def resume_job(self, provider_job_id: str) -> ProviderJob:
        with translated(self.name, openai):
            return self._job(self.client.fine_tuning.jobs.resume(provider_job_id))

    def list_events(self, provider_job_id: str, after: str | None = None) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        with translated(self.name, openai):
            # Pages run newest first; stop once we reach the last event the caller has seen.
            for e in self.client.fine_tuning.jobs.list_events(provider_job_id, limit=100):
                if e.id == after:
                    break
                events.append(
                    ProviderEvent(
                        id=e.id,
                        created_at=datetime.fromtimestamp(e.created_at, UTC),
                        level=e.level,
                        message=e.message,
                        type=e.type or "message",
                        data=e.data if isinstance(e.data, dict) else {},
                    )
                )
        return list(reversed(events))

    def list_checkpoints(self, provider_job_id: str) -> list[ProviderCheckpoint]:
        with translated(self.name, openai):
            checkpoints = [
                ProviderCheckpoint(
                    step=c.step_number,
                    created_at=datetime.fromtimestamp(c.created_at, UTC),
                    metrics={
                        k: float(v) for k, v in c.metrics.model_dump().items() if v is not None
                    },
                    id=c.id,
                    model=c.fine_tuned_model_checkpoint,
                )
                for c in self.client.fine_tuning.jobs.checkpoints.list(provider_job_id, limit=100)
            ]
        return sorted(checkpoints, key=lambda c: c.step)

    def find_job_by_tag(self, tag: str) -> ProviderJob | None:
        with translated(self.name, openai):
            for job in self.client.fine_tuning.jobs.list(metadata={TAG_KEY: tag}, limit=100):
                if (job.metadata or {}).get(TAG_KEY) == tag:
                    return self._job(job)
        return None

    def list_jobs(self, after: str | None = None, limit: int = 100) -> JobPage:
        """``GET /fine_tuning/jobs?after&limit``: newest first; the next cursor is the last id."""
        with translated(self.name, openai):
            raw = self.client.fine_tuning.jobs.with_raw_response.list(
                limit=limit, after=after or openai.omit
            )
            body = raw.http_response.json()
        jobs = [self._job_from(job) for job in body.get("data") or []]
        has_more = bool(body.get("has_more")) and bool(jobs)
        return JobPage(
            jobs=jobs,
            has_more=has_more,
            next_after=jobs[-1].id if has_more else None,
            rate_limit=parse_rate_limit(dict(raw.headers.items())),
        )

    def chat_completion(self, request: ChatRequest) -> ChatCompletion:
        with translated(self.name, openai):
            response = self.client.chat.completions.create(**request_kwargs(request))
        return completion_from(response, request.model)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            provider=self.name,
            methods=frozenset({"supervised", "dpo"}),
            training_types=frozenset({"full"}),
            supports_events=True,
            supports_checkpoints=True,
            supports_cost_estimate=False,
            reports_cost=False,
            lists_jobs=self.lists_jobs,
        )


def _status(raw: str) -> JobStatus:
    """OpenAI's statuses are ours; one we do not know yet (a new one OpenAI adds) reads as
    still running, with the raw status kept beside it, instead of raising after the job was
    created (which would leave the provider job unadopted)."""
    try:
        return JobStatus(raw)
    except ValueError:
        return JobStatus.RUNNING
