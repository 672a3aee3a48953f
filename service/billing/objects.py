"""The billing API's response models: usage, quotes, the provider catalog and the budget."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.billing.money import Money


class UsageRow(BaseModel):
    """One group of booked spend; the key is under the ``group_by`` field's name."""

    provider: str | None = None
    model: str | None = None
    tenant: str | None = None
    month: str | None = None
    kind: str | None = None
    amount: str = Field(description="decimal string")
    currency: str
    entries: int
    billed_tokens: int | None = None


class Usage(BaseModel):
    object: Literal["usage"] = "usage"
    group_by: Literal["provider", "model", "tenant", "month", "kind"]
    from_: int | None = Field(default=None, alias="from", serialization_alias="from")
    to: int | None = None
    data: list[UsageRow]
    total: list[Money]

    model_config = {"populate_by_name": True}


class CostEstimate(BaseModel):
    amount: str | None = Field(description="decimal string; null when the price is unknown")
    currency: str
    basis: str
    billed_tokens: int | None = None
    epochs: int | float | str | None = None
    duration_s: int | None = None
    price: str | None = None
    price_unit: str | None = None
    price_source: str | None = Field(default=None, description="public source and date read")


class QuoteIssue(BaseModel):
    code: str
    message: str
    file: str = Field(description="training_file or validation_file")
    line: int | None = None


class Lifecycle(BaseModel):
    status: Literal["available", "closing", "retired"]
    date: str | None = Field(default=None, description="ISO date")


class CatalogLifecycle(Lifecycle):
    jobs_end: str | None = Field(
        default=None, description="ISO date: the provider's last day for new fine-tuning jobs"
    )
    retirement_date: str | None = Field(
        default=None, description="ISO date the base model (and models tuned on it) stops serving"
    )


class Quote(BaseModel):
    object: Literal["quote"] = "quote"
    provider: str
    model: str
    compatible: bool
    problems: list[QuoteIssue]
    warnings: list[QuoteIssue]
    billed_tokens: int | None = None
    epochs: int | float | str | None = None
    estimated_cost: CostEstimate | None = None
    estimated_duration_s: int | None = None
    context_length: int | None = None
    lifecycle: Lifecycle | None = None
    tokens_from_provider_rules: bool


class QuoteList(BaseModel):
    object: Literal["list"] = "list"
    training_file: str
    validation_file: str | None = None
    data: list[Quote]


class CatalogPrice(BaseModel):
    amount: str | None = Field(description="decimal string; null when unpublished")
    currency: str
    per: str = Field(examples=["1M tokens", "hour"])
    source: str = Field(description="the public page the price was read from")
    date: str = Field(description="ISO date the price was read")


class InferencePrice(BaseModel):
    input: str | None = Field(description="tuned model: decimal string per 1M input tokens")
    output: str | None = Field(description="tuned model: decimal string per 1M output tokens")
    cached_input: str | None = Field(
        default=None, description="tuned model: per 1M cached input tokens, where cached"
    )
    base_input: str | None = Field(default=None, description="base model: per 1M input tokens")
    base_output: str | None = Field(default=None, description="base model: per 1M output tokens")
    base_cached_input: str | None = Field(
        default=None, description="base model: per 1M cached input tokens, where cached"
    )
    serving: Literal["serverless", "dedicated"] = Field(
        default="serverless",
        description="dedicated: the tuned model serves only on a deployment billed by the hour",
    )
    hosting_per_hour: str | None = Field(
        default=None, description="USD per hour of that dedicated deployment, where known"
    )
    currency: str
    per: str = Field(examples=["1M tokens"])
    source: str | None = Field(description="where the serving price was read, and when")
    date: str | None = Field(default=None, description="ISO date the serving price was read")


class CatalogModel(BaseModel):
    object: Literal["model"] = "model"
    id: str
    provider: str
    context_length: int
    methods: list[str]
    training_types: list[str]
    price: CatalogPrice
    lifecycle: CatalogLifecycle
    inference_price: InferencePrice | None = Field(
        default=None, description="what the tuned model costs to serve, where known"
    )


class ProviderObject(BaseModel):
    object: Literal["provider"] = "provider"
    id: str
    configured: bool
    status: Literal["available", "retired"]
    models: list[CatalogModel]


class ProviderList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ProviderObject]


class Budget(BaseModel):
    object: Literal["budget"] = "budget"
    monthly_limit: str | None = Field(description="decimal string; null: no budget")
    currency: str | None = None
    booked: str | None = None
    committed: str | None = None
    remaining: str | None = None
    period_start: int | None = None
    period_end: int | None = None
