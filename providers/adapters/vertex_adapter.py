"""Google Vertex AI adapter: Gemini supervised tuning on ``google-genai`` (Vertex mode:
``client.tunings.tune/get/list/cancel``), datasets uploaded to Cloud Storage through
``google-cloud-storage``, both authenticated as one service account.

- The service account's key file comes from ``ProviderConfig.credentials_file``; google-auth
  trades a signed JWT for a token at the file's ``token_uri`` (the emulator answers there).
- Datasets (already in Gemini's ``contents`` format) go to ``gs://<bucket>/tuneforge/
  <sha256>/<filename>``: content-addressed, so uploading again after a lost answer is harmless.
- Our tag travels as the label ``tuneforge-tag`` (a token of it: label values are at most 63
  lowercase characters) and verbatim in ``description``; ``find_job_by_tag`` lists with a label
  filter and checks both. ``create_job`` sends its POST exactly once (per-call retries off).
- ``fine_tuned_model`` is the tuned model's endpoint, which ``chat_completion`` calls through
  ``generate_content`` (``_vertex_chat``);
  Vertex reports no cost: ``trained_tokens`` = billable dataset tokens × epochs, priced by the
  catalog.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from google.cloud import storage  # type: ignore[import-untyped]
from google.genai import Client, types
from google.oauth2 import service_account

from providers.adapters._google_errors import translated
from providers.adapters._vertex_chat import completion_from, gemini_request
from providers.adapters._vertex_progress import (
    MetricsRow,
    checkpoints_for,
    events_for,
    parse_metrics,
    state_name,
)
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
from providers.errors import ProviderError, ProviderPermanentError
from providers.options import apply_options

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
TAG_LABEL = "tuneforge-tag"
TAG_PREFIX = "tuneforge job "
DISPLAY_NAME_MAX = 128
FIND_MAX_JOBS = 500
RETRY_CODES = [408, 429, 500, 502, 503, 504]
ADAPTER_SIZES = {
    1: types.AdapterSize.ADAPTER_SIZE_ONE,
    2: types.AdapterSize.ADAPTER_SIZE_TWO,
    4: types.AdapterSize.ADAPTER_SIZE_FOUR,
    8: types.AdapterSize.ADAPTER_SIZE_EIGHT,
    16: types.AdapterSize.ADAPTER_SIZE_SIXTEEN,
}
STATUS_MAP = {
    "JOB_STATE_UNSPECIFIED": JobStatus.QUEUED,
    "JOB_STATE_QUEUED": JobStatus.QUEUED,
    "JOB_STATE_PENDING": JobStatus.QUEUED,
    "JOB_STATE_PAUSED": JobStatus.QUEUED,
    "JOB_STATE_RUNNING": JobStatus.RUNNING,
    "JOB_STATE_UPDATING": JobStatus.RUNNING,
    "JOB_STATE_CANCELLING": JobStatus.RUNNING,
    "JOB_STATE_SUCCEEDED": JobStatus.SUCCEEDED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": JobStatus.SUCCEEDED,
    "JOB_STATE_FAILED": JobStatus.FAILED,
    "JOB_STATE_EXPIRED": JobStatus.FAILED,
    "JOB_STATE_CANCELLED": JobStatus.CANCELLED,
}
INVALID_ARGUMENT = 3  # google.rpc.Code: what a dataset Vertex refuses fails with


def missing_settings(config: ProviderConfig) -> list[str]:
    """The ``ProviderConfig`` fields Vertex needs that are unset, in a stable order."""
    needed = {
        "project": config.project,
        "location": config.location,
        "credentials_file": config.credentials_file or config.credentials_info,
        "bucket": config.bucket,
    }
    return [name for name, value in needed.items() if not value]


def resource_name(provider_job_id: str) -> str:
    """The SDK's ``name`` for our id: the numeric job id, resolved by the SDK inside the
    configured project and location (a full ``projects/…`` name is used as it is)."""
    if provider_job_id.startswith("projects/"):
        return provider_job_id
    return f"tuningJobs/{provider_job_id}"


def _split_gcs_uri(uri: str) -> tuple[str, str] | None:
    if not uri.startswith("gs://"):
        return None
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return (bucket, name) if bucket and name else None


class VertexAdapter(ProviderAdapter):
    name = "vertex"

    def __init__(self, config: ProviderConfig) -> None:
        missing = missing_settings(config)
        if missing:
            raise ProviderPermanentError(
                self.name,
                f"Vertex AI needs {', '.join(missing)} to be configured",
                code="provider_not_configured",
                param=missing[0],
            )
        assert config.bucket  # narrowed by missing_settings
        with translated(self.name):
            try:
                if config.credentials_info:
                    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                        dict(config.credentials_info), scopes=[CLOUD_PLATFORM]
                    )
                else:
                    credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                        config.credentials_file, scopes=[CLOUD_PLATFORM]
                    )
            except (OSError, ValueError, KeyError) as exc:
                raise ProviderPermanentError(
                    self.name,
                    f"cannot read the service-account key: {exc}",
                    code="invalid_credentials",
                    param="credentials_file",
                ) from None
        retry = (
            types.HttpRetryOptions(
                attempts=config.max_retries + 1,
                initial_delay=0.25,
                max_delay=8.0,
                http_status_codes=RETRY_CODES,
            )
            if config.max_retries > 0
            else None
        )
        self.client = Client(
            vertexai=True,
            project=config.project,
            location=config.location,
            credentials=credentials,
            http_options=types.HttpOptions(
                base_url=config.base_url,
                api_version="v1",
                timeout=int(config.timeout * 1000),
                retry_options=retry,
            ),
        )
        self.storage = storage.Client(
            project=config.project,
            credentials=credentials,
            client_options={"api_endpoint": config.storage_base_url}
            if config.storage_base_url
            else None,
        )
        self.bucket = config.bucket

    def _job(self, job: types.TuningJob) -> ProviderJob:
        raw = state_name(job)
        status = STATUS_MAP.get(raw, JobStatus.RUNNING)
        if (
            status is JobStatus.QUEUED
            and job.tuning_job_state is types.TuningJobState.TUNING_JOB_STATE_PROCESSING_DATASET
        ):
            status = JobStatus.VALIDATING_FILES
        error = None
        if status is JobStatus.FAILED:
            code = job.error.code if job.error is not None else None
            error = JobError(
                code=f"vertex_{code}" if code is not None else raw.lower(),
                message=(job.error.message if job.error else None)
                or "The provider reported the job failed.",
                param="training_file" if code == INVALID_ARGUMENT else None,
            )
        tuned = job.tuned_model
        description = job.description or ""
        return ProviderJob(
            provider=self.name,
            id=str(job.name).rsplit("/", 1)[-1],
            status=status,
            provider_status=raw,
            model=job.base_model,
            fine_tuned_model=tuned.endpoint if tuned and status is JobStatus.SUCCEEDED else None,
            trained_tokens=self._trained_tokens(job),
            error=error,
            created_at=job.create_time,
            finished_at=job.end_time if status.is_terminal else None,
            tag=description.removeprefix(TAG_PREFIX)
            if description.startswith(TAG_PREFIX)
            else None,
        )

    @staticmethod
    def _trained_tokens(job: types.TuningJob) -> int | None:
        stats = (
            job.tuning_data_stats.supervised_tuning_data_stats if job.tuning_data_stats else None
        )
        tokens = stats.total_billable_token_count if stats else None
        spec = job.supervised_tuning_spec
        hyper = spec.hyper_parameters if spec else None
        epochs = hyper.epoch_count if hyper and hyper.epoch_count else None
        if tokens is None or epochs is None:
            return None
        return tokens * epochs

    def upload_dataset(self, path: Path, filename: str, purpose: str = "fine-tune") -> str:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
        name = f"tuneforge/{digest.hexdigest()[:32]}/{Path(filename).name}"
        with translated(self.name):
            blob = self.storage.bucket(self.bucket).blob(name)
            blob.upload_from_filename(str(path), content_type="application/jsonl", retry=None)
        return f"gs://{self.bucket}/{name}"

    def create_job(self, spec: JobSpec) -> ProviderJob:
        if spec.method != "supervised":
            raise ProviderPermanentError(
                self.name, "Vertex AI tunes Gemini with supervised data only", param="method"
            )
        hp = spec.hyperparameters
        if hp.batch_size != "auto":
            raise ProviderPermanentError(
                self.name,
                "Gemini tuning on Vertex AI has no batch size",
                param="hyperparameters.batch_size",
            )
        fields: dict[str, Any] = {
            "tuned_model_display_name": suffix_with_tag(spec.suffix, spec.tag, DISPLAY_NAME_MAX),
            "description": f"{TAG_PREFIX}{spec.tag}",
            "labels": {TAG_LABEL: tag_token(spec.tag)},
        }
        if hp.n_epochs != "auto":
            fields["epoch_count"] = hp.n_epochs
        if hp.learning_rate_multiplier != "auto":
            fields["learning_rate_multiplier"] = hp.learning_rate_multiplier
        if spec.validation_file:
            fields["validation_dataset"] = types.TuningValidationDataset(
                gcs_uri=spec.validation_file
            )
        apply_options(self.name, fields, spec.options)
        if "adapter_size" in fields:
            fields["adapter_size"] = ADAPTER_SIZES[fields["adapter_size"]]
        config = types.CreateTuningJobConfig(
            **fields,
            # One POST, whatever the client's retry settings: a retried create can start two
            # paid jobs. The caller reconciles by tag instead.
            http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1)),
        )
        with translated(self.name):
            job = self.client.tunings.tune(
                base_model=spec.model,
                training_dataset=types.TuningDataset(gcs_uri=spec.training_file),
                config=config,
            )
        return self._job(job)

    def _get(self, provider_job_id: str) -> types.TuningJob:
        with translated(self.name):
            return self.client.tunings.get(name=resource_name(provider_job_id))

    def get_job(self, provider_job_id: str) -> ProviderJob:
        return self._job(self._get(provider_job_id))

    def cancel_job(self, provider_job_id: str) -> ProviderJob:
        try:
            with translated(self.name):
                self.client.tunings.cancel(name=resource_name(provider_job_id))
        except ProviderPermanentError as exc:
            # FAILED_PRECONDITION: it ended before our cancel arrived; report how it ended.
            job = self.get_job(provider_job_id) if exc.status_code == 400 else None
            if job is None or not job.status.is_terminal:
                raise
            return job
        return self.get_job(provider_job_id)

    def _metrics(self, job: types.TuningJob) -> list[MetricsRow]:
        location = _split_gcs_uri(job.gcs_metrics_uri or "")
        if location is None:
            return []
        try:
            with translated(self.name):
                content = (
                    self.storage.bucket(location[0])
                    .blob(location[1])
                    .download_as_bytes(retry=None, checksum=None)
                )
        except ProviderError as exc:
            if exc.status_code == 404:  # not written yet
                return []
            raise
        return parse_metrics(content)

    def list_events(self, provider_job_id: str, after: str | None = None) -> list[ProviderEvent]:
        job = self._get(provider_job_id)
        events = events_for(job, self._metrics(job))
        ids = [e.id for e in events]
        if after is None or after not in ids:
            return events
        return events[ids.index(after) + 1 :]

    def list_checkpoints(self, provider_job_id: str) -> list[ProviderCheckpoint]:
        job = self._get(provider_job_id)
        if job.tuned_model is None or not job.tuned_model.checkpoints:
            return []
        return checkpoints_for(job, self._metrics(job))

    def find_job_by_tag(self, tag: str) -> ProviderJob | None:
        token = tag_token(tag)
        config = types.ListTuningJobsConfig(page_size=100, filter=f'labels.{TAG_LABEL}="{token}"')
        with translated(self.name):
            for seen, job in enumerate(self.client.tunings.list(config=config)):
                if seen >= FIND_MAX_JOBS:
                    break
                labels = job.labels or {}
                description = job.description or ""
                if labels.get(TAG_LABEL) == token and (
                    not description.startswith(TAG_PREFIX) or description == TAG_PREFIX + tag
                ):
                    return self._job(job)
        return None

    def chat_completion(self, request: ChatRequest) -> ChatCompletion:
        contents, config = gemini_request(request)
        with translated(self.name):
            response = self.client.models.generate_content(
                model=request.model,
                contents=contents,
                config=config,
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
            reports_cost=False,
        )
