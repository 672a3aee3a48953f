"""The one interface every provider adapter implements, and the types it speaks.

An adapter wraps one provider's official SDK (or REST API) and translates, in both
directions, between that provider's wire shapes and the types below. Nothing here knows
about our database or task queue: the caller passes a ``ProviderConfig`` and a ``JobSpec``
and gets ``ProviderJob`` / ``ProviderEvent`` / ``ProviderCheckpoint`` back.

Idempotency: ``JobSpec.tag`` is our stable key for one logical job. Adapters store it on
the provider's side (OpenAI ``metadata``, a suffix token on Together/Mistral, the job id on
Fireworks) so that ``find_job_by_tag`` can find a job whose create response was lost.
``create_job`` never lets the SDK retry the POST (a retried POST can start two paid jobs);
the caller retries on ``ProviderRetryableError`` and must call ``find_job_by_tag`` first.

Every failure leaves an adapter as one of the ``providers.errors`` classes; no SDK exception
type crosses this boundary.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal

from providers.errors import ProviderPermanentError

Method = Literal["supervised", "dpo"]
TrainingType = Literal["lora", "full"]
Auto = Literal["auto"]


class JobStatus(StrEnum):
    """Our status vocabulary (OpenAI's); every provider status maps onto one of these."""

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class ProviderConfig:
    """How to reach one provider. Built by the service from its Settings.

    ``base_url`` is exactly what the provider SDK's own base-URL option takes (``None`` means
    the SDK's default, i.e. the real service): OpenAI ``http://host:port/v1``; Together,
    Mistral and Fireworks ``http://host:port`` (their paths already start with ``/v1``);
    Vertex ``http://host:port`` (google-genai adds ``/v1/projects/…``).

    Vertex authenticates with a service account instead of a key: ``credentials_file`` (its
    JSON key file; the file's ``token_uri`` says where tokens come from) or the same key's
    fields in ``credentials_info``, in ``project`` and
    ``location``, with datasets uploaded to ``bucket`` through Cloud Storage at
    ``storage_base_url`` (``None``: the real service). On OpenAI ``project`` (and
    ``organization``) choose the ``OpenAI-Project`` (``OpenAI-Organization``) the key acts in.
    """

    api_key: str
    base_url: str | None = None
    account_id: str | None = None
    organization: str | None = None  # OpenAI only (the ``OpenAI-Organization`` header)
    timeout: float = 60.0
    max_retries: int = 2
    project: str | None = None
    location: str | None = None
    credentials_file: str | None = None
    credentials_info: Mapping[str, str] | None = field(default=None, repr=False)
    """Vertex: the service account's key itself (the JSON file's fields), used instead of
    ``credentials_file`` when set (a tenant's own account, kept encrypted by the service)."""
    bucket: str | None = None
    storage_base_url: str | None = None


@dataclass(frozen=True)
class Hyperparameters:
    n_epochs: int | Auto = "auto"
    batch_size: int | Auto = "auto"
    learning_rate_multiplier: float | Auto = "auto"


@dataclass(frozen=True)
class JobSpec:
    """One fine-tuning job as we ask a provider to run it.

    ``training_file``/``validation_file`` are provider file ids from ``upload_dataset``.
    ``model`` is the provider's own model name (no ``together/`` style prefix).
    ``options`` carries provider-specific extras passed through untouched.
    """

    tag: str
    model: str
    training_file: str
    validation_file: str | None = None
    method: Method = "supervised"
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    suffix: str | None = None
    seed: int | None = None
    training_type: TrainingType | None = None
    lora_rank: int | None = None
    lora_alpha: int | None = None
    dpo_beta: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # Train on from this earlier job of the same account, in the provider's own terms (Together:
    # "<job id>[:<step>]"); set by the service from the caller's own job, never by the caller.
    # Only adapters whose provider continues jobs read it (Together).
    from_checkpoint: str | None = None


@dataclass(frozen=True)
class JobError:
    code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """One job event. ``id`` is stable across calls (synthesised where the provider has none)."""

    id: str
    created_at: datetime
    level: str
    message: str
    type: str = "message"
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderCheckpoint:
    step: int
    created_at: datetime
    metrics: Mapping[str, float] = field(default_factory=dict)
    id: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class ProviderJob:
    """A provider job as we see it. ``cost`` is the provider-reported cost, when it reports one."""

    provider: str
    id: str
    status: JobStatus
    provider_status: str
    model: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    cost: Decimal | None = None
    cost_currency: str | None = None
    error: JobError | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    tag: str | None = None
    estimated_finish_at: datetime | None = None
    """When the provider expects the job to end (OpenAI's ``estimated_finish``)."""
    next_change_at: datetime | None = None
    """When the provider expects the job's status to change next (OpenAI's estimated finish,
    Together's ``progress.seconds_remaining`` to the next state): the poller checks back then
    instead of waiting out its interval."""
    steps_completed: int | None = None
    """How far training has come, in the provider's own counter (Together's
    ``steps_completed``, Fireworks' ``jobProgress.percent``; None where none is reported)."""


@dataclass(frozen=True)
class RateLimit:
    """What a provider's rate-limit headers said about request quota (OpenAI's
    ``x-ratelimit-remaining-requests`` / ``x-ratelimit-reset-requests``)."""

    remaining: int | None = None
    reset_s: float | None = None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def _duration_s(raw: str) -> float | None:
    """OpenAI's reset durations (``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``) or plain seconds."""
    raw = raw.strip()
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests``, when sent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    remaining_raw = lowered.get("x-ratelimit-remaining-requests")
    reset_raw = lowered.get("x-ratelimit-reset-requests")
    if remaining_raw is None and reset_raw is None:
        return None
    remaining: int | None = None
    if remaining_raw is not None:
        try:
            remaining = max(int(float(remaining_raw)), 0)
        except ValueError:
            remaining = None
    reset = _duration_s(reset_raw) if reset_raw is not None else None
    return RateLimit(remaining=remaining, reset_s=reset)


@dataclass(frozen=True)
class JobPage:
    """One page of a provider's job list, newest first. ``next_after`` is the opaque cursor
    for the next page (None on the last one)."""

    jobs: list[ProviderJob]
    has_more: bool
    next_after: str | None = None
    rate_limit: RateLimit | None = None


@dataclass(frozen=True)
class Capabilities:
    provider: str
    methods: frozenset[str]
    training_types: frozenset[str]
    supports_events: bool
    supports_checkpoints: bool
    supports_cost_estimate: bool
    reports_cost: bool
    lists_jobs: bool = False
    """``list_jobs`` returns many jobs' statuses in one paged call."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion, in OpenAI's vocabulary; adapters map it to their SDK's names
    (``max_completion_tokens`` → ``max_tokens``, ``seed`` → ``random_seed`` on Mistral)."""

    model: str
    messages: list[dict[str, Any]]
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class ChatUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# Provider finish reasons that OpenAI spells otherwise (Together "eos", Mistral "model_length").
FINISH_REASONS = {"eos": "stop", "model_length": "length", "function_call": "tool_calls"}


def finish_reason(raw: object) -> str:
    value = str(getattr(raw, "value", raw) or "stop").lower()
    return FINISH_REASONS.get(value, value)


@dataclass(frozen=True)
class ChatCompletion:
    model: str
    """The exact model string that was called (with any deployment suffix)."""
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: ChatUsage = field(default_factory=ChatUsage)
    latency_ms: float | None = None
    """Wall time of the inference call in milliseconds, set by the caller that timed it."""


class DeploymentState(StrEnum):
    """Where a dedicated deployment stands (each provider's states map onto these)."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Deployment:
    """A dedicated deployment serving one tuned model. ``model_to_call`` is the model string a
    chat completion names to reach it (Together: the endpoint's name; Fireworks:
    ``<model>#<deployment>``); ``id`` is what ``get_deployment``/``delete_deployment`` take."""

    id: str
    model_to_call: str
    state: DeploymentState
    message: str | None = None


class ProviderAdapter(abc.ABC):
    """What the service may ask of any provider. All methods are synchronous and blocking."""

    name: str
    lists_jobs: ClassVar[bool] = False
    """Whether ``list_jobs`` works here (readable without building the adapter)."""
    max_list_page: ClassVar[int] = 100
    """The largest ``limit`` the provider's list takes."""
    default_list_page: ClassVar[int] = 100
    """The page a sweep asks for unless configured: the provider's documented maximum, or 100
    where none is documented."""

    @abc.abstractmethod
    def __init__(self, config: ProviderConfig) -> None:
        """Every adapter is built from one ``ProviderConfig`` (``providers.registry``)."""

    @abc.abstractmethod
    def upload_dataset(self, path: Path, filename: str, purpose: str = "fine-tune") -> str:
        """Upload a file already converted to this provider's format; return its file id."""

    @abc.abstractmethod
    def create_job(self, spec: JobSpec) -> ProviderJob:
        """Create the job with SDK retries off. On a retryable error, reconcile by tag."""

    @abc.abstractmethod
    def get_job(self, provider_job_id: str) -> ProviderJob: ...

    @abc.abstractmethod
    def cancel_job(self, provider_job_id: str) -> ProviderJob: ...

    supports_pause: bool = False
    """Whether ``pause_job``/``resume_job`` reach the provider (OpenAI's do)."""

    def pause_job(self, provider_job_id: str) -> ProviderJob:
        """Pause a running job; the provider answers the job (``paused``)."""
        raise ProviderPermanentError(self.name, f"{self.name} cannot pause a fine-tuning job")

    def resume_job(self, provider_job_id: str) -> ProviderJob:
        """Resume a paused job; the provider answers the job (running again)."""
        raise ProviderPermanentError(self.name, f"{self.name} cannot resume a fine-tuning job")

    @abc.abstractmethod
    def list_events(self, provider_job_id: str, after: str | None = None) -> list[ProviderEvent]:
        """Events oldest first; with ``after`` (an event id), only those that came after it."""

    @abc.abstractmethod
    def list_checkpoints(self, provider_job_id: str) -> list[ProviderCheckpoint]:
        """Checkpoints with their metrics, by ascending step."""

    @abc.abstractmethod
    def find_job_by_tag(self, tag: str) -> ProviderJob | None: ...

    def list_jobs(self, after: str | None = None, limit: int = 100) -> JobPage:
        """One page of the account's jobs, newest first, from ``after`` (a cursor from the
        previous page). Only where ``lists_jobs``."""
        raise ProviderPermanentError(self.name, "this provider cannot list fine-tuning jobs")

    def estimate_cost(self, spec: JobSpec) -> Decimal | None:
        """The provider's own price estimate, where it offers one (Together)."""
        return None

    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    def chat_completion(self, request: ChatRequest) -> ChatCompletion:
        """One chat completion through the provider's SDK (its own retries honour 429 and
        Retry-After; what is left is a ``ProviderRetryableError`` carrying ``retry_after``)."""
        raise ProviderPermanentError(
            self.name, "chat completions are not available through this adapter yet"
        )

    def create_deployment(self, model: str, name: str) -> Deployment:
        """Start a dedicated deployment of tuned ``model`` named ``name`` (our stable key: a
        second create with the same name finds the first). It starts ``pending``."""
        raise ProviderPermanentError(
            self.name, "dedicated deployments are not available through this adapter yet"
        )

    def get_deployment(self, deployment_id: str) -> Deployment:
        raise ProviderPermanentError(self.name, "dedicated deployments are not available")

    def delete_deployment(self, deployment_id: str) -> None:
        """Stop and delete the deployment; one already gone is no error."""
        raise ProviderPermanentError(self.name, "dedicated deployments are not available")


def tag_token(tag: str) -> str:
    """A short, deterministic, lowercase token for a tag, for providers with short fields."""
    return "tf" + hashlib.sha256(tag.encode()).hexdigest()[:10]


def suffix_with_tag(user_suffix: str | None, tag: str, max_len: int) -> str:
    """The suffix we send: the user's suffix (trimmed to fit) followed by the tag token."""
    token = tag_token(tag)
    if not user_suffix:
        return token
    room = max_len - len(token) - 1
    return f"{user_suffix[:room]}-{token}" if room > 0 else token
