"""The wire shapes of ``/v1/fine_tuning/studies``: the study spec (one dataset, many candidates
across providers, baselines, criteria, gates, one budget, a monthly volume) and the study
object. Every list, string and number is bounded; unknown fields are refused."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from service.billing.money import Money
from service.evals.graders.specs import Grader
from service.jobs.api.schemas import Hyperparameters, Metadata, MethodSpec, ProviderOptions
from service.studies.baselines import (
    MAX_BASELINES,
    MAX_CRITERIA,
    FileId,
    ModelName,
    StudyBaseline,
)

MAX_CANDIDATES = 10
MAX_ALSO_ON = 4


class StudyStatus(StrEnum):
    QUEUED = "queued"
    TRAINING = "training"
    EVALUATING = "evaluating"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset(
    {
        StudyStatus.COMPLETED,
        StudyStatus.FAILED,
        StudyStatus.CANCELLED,
    }
)


class StudyCandidate(BaseModel):
    """One fine-tune to try, named as a job create names it (``together/…``, ``local/…``)."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName
    provider: Annotated[StrictStr, Field(max_length=32)] | None = None
    hyperparameters: Hyperparameters | None = None
    method: MethodSpec | None = None
    provider_options: ProviderOptions | None = None
    suffix: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    also_on: (
        Annotated[
            list[Annotated[StrictStr, Field(min_length=1, max_length=32)]],
            Field(max_length=MAX_ALSO_ON),
        ]
        | None
    ) = None
    """Providers to run this same candidate on as well ("as on provider X"): each serves the
    same open weights under its own name (the catalog's ``weights``); one more candidate each,
    with the same hyperparameters and method and no provider options."""


class StudyGates(BaseModel):
    """What a winner must pass. ``format_compliance`` applies to every ``json_schema``
    criterion; the primary criterion's improvement over the best baseline must have a 95% CI
    whose lower bound is above ``min_improvement``."""

    model_config = ConfigDict(extra="forbid")

    format_compliance: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.95
    min_improvement: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] = 0.0


Usd = Annotated[Decimal, Field(gt=0, le=Decimal(1_000_000), max_digits=16, decimal_places=6)]


class CreateStudyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, Field(max_length=256)] | None = None
    training_file: FileId
    validation_file: FileId | None = None
    holdout: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = None
    test_file: FileId | None = None
    candidates: Annotated[list[StudyCandidate], Field(max_length=MAX_CANDIDATES)]
    baselines: Annotated[list[StudyBaseline], Field(max_length=MAX_BASELINES)] | None = None
    testing_criteria: Annotated[list[Grader], Field(min_length=1, max_length=MAX_CRITERIA)]
    primary: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    gates: StudyGates | None = None
    budget: Usd
    volume: Annotated[int, Field(ge=0, le=10**12)] = 0
    horizon_months: Annotated[int, Field(ge=1, le=60)] = 6
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _one_test_source(self) -> CreateStudyRequest:
        if self.holdout is not None and self.test_file is not None:
            raise ValueError("give either holdout or test_file, not both")
        return self


class StudyCostPart(BaseModel):
    kind: Literal["training", "evaluation", "judge"]
    model: str
    provider: str
    amount: str | None = Field(description="decimal string; null when the price is unknown")
    detail: str


class StudyQuote(BaseModel):
    total: Money
    parts: list[StudyCostPart]
    budget: Money
    test_items: int
    train_examples: int


class StudyCandidateState(BaseModel):
    model: str
    provider: str
    label: str | None = Field(
        default=None,
        description="how the leaderboard names it: '<model> (candidates[i])', with "
        "'as on <provider>' for a candidate's run on another provider's same weights",
    )
    as_on: str | None = Field(
        default=None, description="the provider of an 'also_on' run (null: as listed)"
    )
    job_id: str | None = None
    status: str = Field(description="pending, or the job's status")
    fine_tuned_model: str | None = None
    cost: Money | None = None


class StudyObject(BaseModel):
    object: Literal["fine_tuning.study"] = "fine_tuning.study"
    id: str
    name: str | None
    status: StudyStatus
    created_at: int
    finished_at: int | None = None
    training_file: str
    train_file: str = Field(description="the train part the candidates are tuned on")
    test_file: str = Field(description="the held-out part; never sent to a provider")
    candidates: list[StudyCandidateState]
    baselines: list[StudyBaseline]
    testing_criteria: list[dict[str, Any]]
    primary: str
    gates: StudyGates
    budget: Money
    volume: int
    horizon_months: int
    quote: StudyQuote
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(
        default_factory=list, description="what happened, oldest first (the last 200)"
    )
    evaluation: dict[str, Any] | None = Field(
        default=None,
        description="the study's eval (eval_id) and its runs: one per baseline and trained "
        "candidate, each with its run_id or the error that kept it from starting",
    )
    leaderboard: list[dict[str, Any]] | None = None
    verdict: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


class StudyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StudyObject]
    first_id: str | None
    last_id: str | None
    has_more: bool
