"""The job API's response models: OpenAI's ``fine_tuning.job``, event and checkpoint objects
with tuneforge's fields added. They are the documented contract (``/openapi.json``); tests check
real responses against them and against the openai SDK's own types."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from providers.base import JobStatus
from service.billing.money import JobCost, Money
from service.datasets.report_schema import JobValidationSummary

AutoOr = Literal["auto"]


class JobError(BaseModel):
    code: str
    message: str
    param: str | None = None


class JobHyperparameters(BaseModel):
    """What the job trains with; "auto" lets the provider (or our trainer) choose."""

    n_epochs: AutoOr | int = "auto"
    batch_size: AutoOr | int = "auto"
    learning_rate_multiplier: AutoOr | float = "auto"


class DpoJobHyperparameters(JobHyperparameters):
    beta: AutoOr | float = "auto"


class SupervisedMethod(BaseModel):
    hyperparameters: JobHyperparameters


class DpoMethod(BaseModel):
    hyperparameters: DpoJobHyperparameters


class JobMethod(BaseModel):
    type: Literal["supervised", "dpo"]
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None


class WandbSettings(BaseModel):
    project: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=128)
    entity: str | None = Field(default=None, max_length=128)
    tags: list[str] | None = Field(default=None, max_length=50)


class Integration(BaseModel):
    """OpenAI's integration object. Stored and echoed; tuneforge does not call Weights & Biases
    (the job's events say so)."""

    type: Literal["wandb"]
    wandb: WandbSettings


class CreateWarning(BaseModel):
    code: str = Field(examples=["provider_closing", "model_closing"])
    message: str
    date: str | None = Field(default=None, description="ISO date the notice is about")


class FineTuningJob(BaseModel):
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    id: str
    created_at: int
    error: JobError | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    hyperparameters: JobHyperparameters
    model: str
    organization_id: str
    result_files: list[str] = Field(description="file ids: GET /v1/files/{id}/content")
    seed: int
    status: JobStatus
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None = None
    estimated_finish: int | None = None
    integrations: list[Integration] = Field(default_factory=list)
    metadata: dict[str, str] | None = None
    method: JobMethod
    suffix: str | None = None
    provider: str = Field(description="where the job runs: openai, together, fireworks, local…")
    provider_job_id: str | None = None
    provider_status: str | None = Field(default=None, description="the provider's own status")
    provider_options: dict[str, Any] = Field(default_factory=dict)
    estimated_cost: Money | None = None
    cost: JobCost | None = None
    validation: JobValidationSummary | None = None
    evaluation: JobEvaluation | None = Field(
        default=None, description="ours: only on a job created with evaluation"
    )
    warnings: list[CreateWarning] | None = Field(
        default=None,
        description="on a create only: lifecycle notices (e.g. the provider stops taking new "
        "jobs after a date); each is also a warn event of the job",
    )


class FineTuningJobEvent(BaseModel):
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    id: str
    created_at: int
    level: str = Field(description="info, warn or error (a provider's own level passes through)")
    message: str
    type: str = Field(description="message or metrics", examples=["message", "metrics"])
    data: dict[str, Any] = Field(default_factory=dict)


class FineTuningJobCheckpoint(BaseModel):
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, float] = Field(description="step, train_loss, valid_loss, …")
    step_number: int


class JobEvaluationRun(BaseModel):
    role: Literal["baseline", "candidate"]
    label: str
    model: str
    run_id: str | None = Field(description="the eval run; null when it could not start")
    error: str | None = None


class JobEvaluationCostPart(BaseModel):
    kind: Literal["training", "evaluation"]
    provider: str
    model: str
    amount: str | None = Field(description="decimal string; null when the price is unknown")
    detail: str


class JobEvaluationQuote(BaseModel):
    total: Money | None = None
    parts: list[JobEvaluationCostPart] = Field(default_factory=list)


class JobEvaluation(BaseModel):
    """Ours, on a job created with ``evaluation``: the tuned model and each prompting baseline
    evaluated on the same held-out items once the job succeeds."""

    status: Literal["pending", "running", "completed", "failed", "skipped", "cancelled"] = Field(
        description="pending while the job trains; skipped when it did not succeed (``error`` "
        "says why); failed when the evaluation could not finish (the job stays succeeded); "
        "cancelled by POST …/cancel after the job succeeded (the job stays succeeded)"
    )
    error: dict[str, Any] | None = None
    eval_id: str | None = Field(default=None, description="GET /v1/evals/{eval_id}")
    train_file: str = Field(description="what the job trained on")
    test_file: str = Field(description="the held-out items; never sent to a provider")
    test_items: int | None = None
    testing_criteria: list[str]
    primary: str | None = None
    baselines: list[dict[str, Any]]
    quote: JobEvaluationQuote
    runs: list[JobEvaluationRun]
    results: list[dict[str, Any]] = Field(
        description="one per model: run status, the primary score and every criterion's pass "
        "rate and mean score, each with its 95% interval, and the run's cost"
    )
    comparison: dict[str, Any] | None = Field(
        default=None,
        description="the tuned model against the best baseline on the primary criterion: "
        "paired difference with its 95% CI, McNemar p, verdict",
    )
    gates: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = Field(
        default=None, description="outcome winner (the tuned model) or no_improvement"
    )
