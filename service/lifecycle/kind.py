"""What a kind of long-running work declares to the engine, and the outcomes a step reports.

A kind is one frozen ``Kind`` value: its table, its statuses (an enum), what is terminal, its
transition function (the only writer of its status), how it fails, how it schedules its next
step and which task runs it. A step is a ``Step``: ``begin`` (locked, in a transaction),
``act`` (the side effect, no transaction open), ``finish`` (re-locked, applies the outcome).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from threading import Event
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from providers.errors import ProviderError, ProviderPermanentError, ProviderRetryableError
from service.settings import Settings

PlanT = TypeVar("PlanT")
ResultT = TypeVar("ResultT")

ErrorBody = dict[str, Any]
"""An OpenAI-style error: ``{"code", "message", "param"}``."""


class StepRetry(Exception):
    """A transient failure: the step runs again after a backoff (never sooner than
    ``retry_after`` seconds, when the other side said so)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class StepFailed(Exception):
    """A permanent, classified failure: the work ends failed with ``error`` (``reason`` is its
    message). ``usage`` is what the kind books for the failed work (its own type; None when
    nothing was used)."""

    def __init__(self, error: ErrorBody, usage: Any = None) -> None:
        self.reason = str(error.get("message"))
        super().__init__(self.reason)
        self.error = error
        self.usage = usage


class StepAbandoned(Exception):
    """The step gives up without a verdict (its lease was lost): the lease is released and
    whoever holds the work now (or the reconciler) carries it on."""


class Classifier(Protocol):
    def __call__(self, exc: Exception) -> StepRetry | StepFailed | None:
        """The verdict on an exception from ``act``; None: unexpected (logged, retried)."""


def provider_error(exc: ProviderError) -> ErrorBody:
    return {
        "code": exc.code or "provider_error",
        "message": f"{exc.provider}: {exc.message}",
        "param": exc.param,
    }


def classify_provider_errors(exc: Exception) -> StepRetry | StepFailed | None:
    """The provider adapters' own errors are already classified at their edge: a retryable one
    backs off (honouring its Retry-After), a permanent one fails the work with its message."""
    if isinstance(exc, ProviderRetryableError):
        return StepRetry(exc.message, exc.retry_after)
    if isinstance(exc, ProviderPermanentError):
        return StepFailed(provider_error(exc))
    return None


def classify_nothing(exc: Exception) -> StepRetry | StepFailed | None:
    """For a kind whose steps touch only our database: whatever they raise is unexpected (the
    runner logs it and retries)."""
    return None


@dataclass(frozen=True)
class Kind:
    """A kind of durable, cancellable work. ``model`` is its SQLAlchemy table, which has the
    columns the engine uses: ``id``, ``tenant_id``, ``status``, ``lease_owner``,
    ``lease_expires_at``, ``heartbeat_at`` and the due column named by ``due_column``."""

    name: str
    model: type[Any]
    statuses: type[StrEnum]
    terminal: frozenset[StrEnum]
    """Members of ``statuses``: a row there never moves again."""
    next_task: Callable[[Any], str]
    """The task that runs the row's next step (decides among the kind's steps)."""
    fail: Callable[[Session, Settings, Any, StepFailed], None]
    """End the row failed (through the kind's transition function)."""
    classify: Classifier
    due_column: str = "next_poll_at"
    prompt_tasks: Mapping[str, str] = field(default_factory=dict)
    """Routine task → the same task sent ahead of routine ones (a likely-final poll)."""
    bulk_tasks: frozenset[str] = frozenset()
    """Tasks sent at the lowest priority: routine work that must never delay the rest."""
    gpu_tasks: frozenset[str] = frozenset()
    """Tasks that run only on the gpu queue."""

    def __post_init__(self) -> None:
        strays = {s for s in self.terminal if not isinstance(s, self.statuses)}
        if strays:
            raise TypeError(f"kind {self.name}: terminal {strays} are not {self.statuses}")

    @property
    def active(self) -> tuple[StrEnum, ...]:
        return tuple(s for s in self.statuses if s not in self.terminal)

    def is_terminal(self, row: Any) -> bool:
        return self.statuses(row.status) in self.terminal


@dataclass(frozen=True)
class StepContext:
    kind: Kind
    sessions: sessionmaker[Session]
    settings: Settings
    owner: str
    lease_lost: Event


class Step(Protocol[PlanT, ResultT]):
    """One step of a kind. The runner calls, in order: ``wanted`` (a plain read: is this
    delivery still the row's next step?), ``begin`` (lease held, row locked: decide and record
    the attempt; None ends the step), ``act`` (no transaction open), ``finish`` (row re-locked
    and lease released in the same transaction: apply the result through the kind's
    transition and schedule the next step). ``on_retry`` counts a transient failure and
    returns how many in a row there have been (it sets the backoff)."""

    @property
    def task(self) -> str: ...

    @property
    def heartbeat(self) -> bool:
        """Renew the lease while ``act`` runs (a long step)."""
        ...

    def wanted(self, row: Any) -> bool: ...

    def begin(self, ctx: StepContext, session: Session, row: Any) -> PlanT | None: ...

    def act(self, ctx: StepContext, plan: PlanT) -> ResultT: ...

    def finish(self, ctx: StepContext, session: Session, row: Any, result: ResultT) -> None: ...

    def on_retry(self, ctx: StepContext, session: Session, row: Any, retry: StepRetry) -> int: ...
