"""The one reader of the environment: every knob is a field here, prefixed ``TUNEFORGE_`` (one
exception: ``PROMETHEUS_MULTIPROC_DIR``, the name prometheus_client itself reads)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNEFORGE_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("./data")
    database_url: str = ""
    broker_url: str = ""
    broker_key_prefix: str = ""
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Fernet keys that encrypt secrets at rest (tenant provider keys, webhook signing secrets),
    # comma-separated, newest first: the first encrypts, all decrypt (``tuneforge secrets
    # rotate`` re-encrypts everything with the first). Unset outside production: a key is
    # generated once and kept in ``data_dir/encryption.key``.
    encryption_keys: SecretStr | None = None
    # How long a decrypted tenant provider key stays in a process's memory.
    credentials_cache_ttl_s: float = Field(default=300.0, gt=0, le=3600)

    # Per-tenant request rate (the ``limits`` library's notation, e.g. "600/minute;50/second"),
    # counted in Redis when ``rate_limit_storage_url`` (or a redis:// broker) says so, else in
    # each process's memory.
    rate_limit: str = "1200/minute"
    rate_limit_storage_url: str = ""
    max_active_jobs_per_tenant: int = Field(default=50, gt=0, le=100_000)
    max_active_eval_runs_per_tenant: int = Field(default=10, gt=0, le=100_000)
    # Items of one eval run sampled and graded at once (threads of the run's worker).
    eval_run_concurrency: int = Field(default=8, ge=1, le=256)
    # Chat completions in flight to one provider from one worker process, all runs together.
    provider_chat_concurrency: int = Field(default=32, ge=1, le=1024)
    # A run waiting for its model's dedicated deployment checks back this often.
    deployment_poll_s: float = Field(default=15.0, gt=0, le=600)
    # The hosting hours of a dedicated deployment a run's budget check counts before it starts.
    deployment_budget_hours: float = Field(default=1.0, gt=0, le=168)
    # Runs on a local model: items in flight (threads that only wait on the generator), the
    # most generated in one batch, and how long a batch waits to fill. Two batches in flight
    # let the generator group similar prompt lengths (bench/local_generate.py).
    local_eval_run_concurrency: int = Field(default=64, ge=1, le=1024)
    local_inference_max_batch: int = Field(default=32, ge=1, le=256)
    local_inference_max_wait_s: float = Field(default=0.05, ge=0, le=1)
    # "auto": the GPU when there is one, else the CPU.
    local_inference_device: Literal["auto", "cpu", "cuda"] = "auto"
    # Set: ``/metrics`` answers only ``Authorization: Bearer <token>``. Unset: open, which
    # production refuses unless ``metrics_public`` says the port is not reachable from outside.
    metrics_token: SecretStr | None = None
    metrics_public: bool = False

    host: str = "127.0.0.1"
    port: int = 8000
    log_format: Literal["json", "text"] = "text"
    log_level: str = "INFO"
    # Shared by the processes of one host/pod so /metrics sums their counters. prometheus_client
    # reads PROMETHEUS_MULTIPROC_DIR when it is imported (its documented multiprocess mode), so
    # it is set in the environment before the process starts (the image does), never later.
    metrics_multiproc_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR")
    )
    # A worker serves its counters on this port (needs metrics_multiproc_dir); unset: none.
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_webhook_secret: SecretStr | None = None
    together_api_key: SecretStr | None = None
    together_base_url: str | None = None
    # The Together project dedicated endpoints are created in (a tuned model serves only on
    # one); unset: the SDK's TOGETHER_PROJECT_ID.
    together_project_id: str | None = Field(default=None, max_length=255)
    mistral_api_key: SecretStr | None = None
    mistral_base_url: str | None = None
    fireworks_api_key: SecretStr | None = None
    fireworks_base_url: str | None = None
    fireworks_account_id: str | None = None
    # Vertex AI (Gemini tuning) signs in as a service account: its JSON key file, the project
    # and location jobs run in, and the Cloud Storage bucket datasets are uploaded to. The base
    # URLs point the SDKs elsewhere (emulators); unset means Google's own endpoints.
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    vertex_credentials_file: Path | None = None
    vertex_bucket: str | None = None
    vertex_base_url: str | None = None
    vertex_storage_base_url: str | None = None

    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    max_line_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # Uploads up to this size are validated in the request; larger ones in a worker, so that an
    # upload's response never waits minutes.
    inline_validation_max_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    # Every other body is bounded too, counted while it streams: a JSON body of a /v1 route,
    # a form field of an upload besides the file, and any other form (the dashboard's).
    max_json_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_form_field_bytes: int = Field(default=64 * 1024, gt=0)
    max_form_body_bytes: int = Field(default=64 * 1024, gt=0)
    tokenizers_dir: Path | None = None
    local_models_dir: Path | None = None
    local_gpu_hourly_rate: float = Field(default=2.0, ge=0)
    local_cpu_hourly_rate: float = Field(default=0.10, ge=0)
    # Local inference is priced from the tokens (prompt and completion) the GPU was measured to
    # process per second × local_gpu_hourly_rate; unset: local models have no serving price
    # until a study or eval run measures one.
    local_inference_tokens_per_second: float | None = Field(default=None, gt=0, le=1e7)
    # Prices move: {"together": {"meta-llama/…": {"price_per_million": "3.2",
    # "price_source": "invoice 2026-11", "price_date": "2026-11-20", "lifecycle": "closing",
    # "lifecycle_date": "2027-01-31"}}} replaces what the built-in catalog says for that model.
    price_overrides: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)

    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    # Webhook URLs may use 443 (and 80 when http is allowed), plus these ports; any port only
    # when webhook_allow_any_port (development and tests).
    webhook_allowed_ports: list[Annotated[int, Field(gt=0, lt=65536)]] = Field(default_factory=list)
    webhook_allow_any_port: bool = False
    webhook_max_endpoints: int = Field(default=20, ge=1, le=1000)
    # The most one webhook send may take in all (connect, send, the first KiB of the answer).
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=300)
    webhook_retry_schedule_s: list[int] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    )
    webhook_disable_after_s: int = Field(default=5 * 24 * 3600, gt=0)
    webhook_secret_grace_s: int = Field(default=24 * 3600, ge=0)

    reconcile_interval_s: float = Field(default=5.0, gt=0)
    # Sent outbox rows older than this are deleted by the reconciler (their dedupe keys only
    # matter while a step can still be re-sent: minutes, not days).
    outbox_retention_s: float = Field(default=24 * 3600, gt=0)
    lease_ttl_s: float = Field(default=60.0, gt=0)
    job_poll_min_s: float = Field(default=5.0, gt=0)
    # How often a study looks at its candidate jobs while they train.
    study_check_s: float = Field(default=10.0, gt=0, le=3600)
    job_poll_max_s: float = Field(default=300.0, gt=0)
    # Sweeps (service.jobs.sweeps): jobs on a provider that lists are watched by one paged
    # list call per credential; a job's own detailed poll (events, checkpoints) runs when the
    # list shows it changed, or every sweep_detail_interval_s.
    sweep_enabled: bool = True
    # None: each provider's own default (Fireworks its documented maximum, 200; OpenAI 1000,
    # no maximum being documented; else 100); a larger one the provider refuses falls back to
    # 100, and a provider serving fewer than asked is paged to the end.
    sweep_page_size: int | None = Field(default=None, ge=1, le=1000)
    sweep_min_interval_s: float = Field(default=5.0, gt=0)
    sweep_max_interval_s: float = Field(default=30.0, gt=0)
    # List calls a sweep may spend per active job per hour (sets its cadence with many jobs).
    sweep_list_calls_per_job_hour: float = Field(default=1.0, gt=0, le=3600)
    sweep_detail_interval_s: float = Field(default=3 * 3600.0, gt=0)
    session_max_age_s: int = Field(default=8 * 3600, gt=0)
    # WordNet 3.0 database files for the meteor metric (Debian's wordnet-base); without them
    # evals that ask for meteor are refused at create.
    wordnet_dir: Path = Path("/usr/share/wordnet")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'tuneforge.sqlite').resolve()}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"
        if self.environment == "production" and (
            self.secret_key.get_secret_value() == DEV_SECRET_KEY
        ):
            raise ValueError("TUNEFORGE_SECRET_KEY must be set to a real secret in production")
        if self.encryption_keys is not None:
            _check_fernet_keys(self.encryption_keys.get_secret_value())
        elif self.environment == "production":
            raise ValueError(
                "TUNEFORGE_ENCRYPTION_KEYS must be set in production "
                "(generate one with: tuneforge secrets generate-key)"
            )
        _check_rate(self.rate_limit)
        if (
            self.environment == "production"
            and self.metrics_token is None
            and not (self.metrics_public)
        ):
            raise ValueError(
                "set TUNEFORGE_METRICS_TOKEN (or TUNEFORGE_METRICS_PUBLIC=true when /metrics is "
                "reachable only from inside your network) in production"
            )
        return self

    def vertex_missing_settings(self) -> list[str]:
        """The settings Vertex AI cannot work without that are unset (or name no readable
        file), as environment variable names; empty when Vertex is configured."""
        missing = []
        if not self.vertex_project:
            missing.append("TUNEFORGE_VERTEX_PROJECT")
        if not self.vertex_location:
            missing.append("TUNEFORGE_VERTEX_LOCATION")
        key_file = self.vertex_credentials_file
        if key_file is None or not str(key_file).strip(".") or not key_file.is_file():
            missing.append("TUNEFORGE_VERTEX_CREDENTIALS_FILE")
        if not self.vertex_bucket:
            missing.append("TUNEFORGE_VERTEX_BUCKET")
        return missing

    @property
    def embedded(self) -> bool:
        """True when both the database and the broker need no server (the one-command mode)."""
        return self.database_url.startswith("sqlite") and self.broker_url.startswith("sqla+")

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"


def _check_fernet_keys(raw: str) -> None:
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ValueError("TUNEFORGE_ENCRYPTION_KEYS is set but holds no key")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"TUNEFORGE_ENCRYPTION_KEYS: key {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; tuneforge secrets generate-key makes one)"
            ) from None


def _check_rate(rate: str) -> None:
    from limits import parse_many

    try:
        parse_many(rate)
    except ValueError:
        raise ValueError(
            f"TUNEFORGE_RATE_LIMIT {rate!r} is not a rate such as '600/minute' or "
            "'600/minute;20/second'"
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
