"""One dataset against many provider/models, side by side: compatibility problems, billed
tokens, cost, rough duration and lifecycle warnings, cheapest compatible first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from providers.catalog import ModelInfo, available_models, resolve_provider
from service.billing.catalog import hourly_rate, lookup_model, service_catalog
from service.billing.estimate import CostEstimate, estimate_for_model
from service.billing.lifecycle import lifecycle_warnings
from service.billing.revalidation import ProviderReport, report_for
from service.datasets.rules import FORMAT_METHOD, format_mismatch
from service.db.models import File
from service.db.types import utcnow
from service.errors import InvalidRequest, NotFound
from service.files.service import get_file
from service.settings import Settings

MAX_ISSUES_PER_FILE = 5


@dataclass(frozen=True)
class Candidate:
    model: str
    provider: str | None = None  # else from the model's prefix; none means OpenAI


@dataclass(frozen=True)
class QuoteRequest:
    training_file: str
    validation_file: str | None = None
    candidates: list[Candidate] | None = None  # None: every available provider/model
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    method: str | None = None  # else from the file's format (preference → dpo)


@dataclass
class Quote:
    provider: str
    model: str
    problems: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    estimate: CostEstimate | None = None
    info: ModelInfo | None = None
    report_is_specific: bool = True

    @property
    def compatible(self) -> bool:
        return not self.problems

    def sort_key(self) -> tuple[int, int, Decimal, str, str]:
        amount = None if self.estimate is None else self.estimate.amount
        return (
            0 if self.compatible else 1,
            0 if amount is not None else 1,
            amount if amount is not None else Decimal(0),
            self.provider,
            self.model,
        )

    def to_dict(self) -> dict[str, Any]:
        estimate = self.estimate.to_dict() if self.estimate is not None else None
        info = self.info
        return {
            "object": "quote",
            "provider": self.provider,
            "model": self.model,
            "compatible": self.compatible,
            "problems": self.problems,
            "warnings": self.warnings,
            "billed_tokens": estimate["billed_tokens"] if estimate else None,
            "epochs": estimate["epochs"] if estimate else None,
            "estimated_cost": estimate,
            "estimated_duration_s": estimate["duration_s"] if estimate else None,
            "context_length": info.context_length if info else None,
            "lifecycle": _lifecycle_object(info) if info else None,
            "tokens_from_provider_rules": self.report_is_specific,
        }


def _lifecycle_object(info: ModelInfo) -> dict[str, Any]:
    date = info.lifecycle_date.isoformat() if info.lifecycle_date else None
    return {"status": info.lifecycle, "date": date}


def _issue(kind: str, code: str, message: str, line: int | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "file": kind, "line": line}


def _file_issues(kind: str, report: dict[str, Any], quote: Quote) -> None:
    for error in (report.get("errors") or [])[:MAX_ISSUES_PER_FILE]:
        quote.problems.append(_issue(kind, error["code"], error["message"], error.get("line")))
    more = int(report.get("error_count") or 0) - MAX_ISSUES_PER_FILE
    if more > 0:
        quote.problems.append(_issue(kind, "more_errors", f"{more} more errors in this file"))
    over = [w for w in report.get("warnings") or [] if w.get("code") == "example_too_long"]
    for warning in over[:MAX_ISSUES_PER_FILE]:
        quote.warnings.append(_issue(kind, warning["code"], warning["message"], warning["line"]))


def lifecycle_issues(info: ModelInfo, quote: Quote, today: date | None = None) -> None:
    day = today or utcnow().date()
    when = info.lifecycle_date.isoformat() if info.lifecycle_date else "an announced date"
    if info.lifecycle == "retired":
        message = f"{info.provider} retired fine-tuning of {info.model} on {when}"
        quote.problems.append(_issue("model", "model_retired", message))
        quote.warnings.append(_issue("model", "model_retired", message))
    elif not info.takes_jobs_on(day) and info.jobs_end is not None:
        message = f"{info.provider} takes no new fine-tuning jobs after {info.jobs_end}"
        quote.problems.append(_issue("model", "model_retired", message))
        quote.warnings.append(_issue("model", "model_retired", message))
    for warning in lifecycle_warnings(info, day):
        quote.warnings.append(_issue("model", warning.code, warning.message))


def _quote_one(
    candidate: Candidate,
    catalog: list[ModelInfo],
    files: tuple[File, File | None],
    request: QuoteRequest,
    settings: Settings,
    today: date,
) -> Quote:
    provider, model = resolve_provider(candidate.model, candidate.provider)
    quote = Quote(provider, model)
    info = lookup_model(catalog, provider, model, hourly_rate(settings.local_gpu_hourly_rate))
    if info is None:
        quote.problems.append(
            _issue("model", "model_not_found", f"{provider} has no fine-tunable model {model!r}")
        )
        return quote
    quote.info = info
    lifecycle_issues(info, quote, today)
    training, validation = files
    method = request.method or FORMAT_METHOD.get(training.format or "", "supervised")
    if method not in info.methods:
        supported = ", ".join(sorted(info.methods))
        quote.problems.append(
            _issue("model", "method_unsupported", f"{model} supports {supported}, not {method}")
        )
    for param, file in (("training_file", training), ("validation_file", validation)):
        why = None if file is None else format_mismatch(file.format, method, provider, model)
        if why is not None:  # what a job create would refuse
            quote.problems.append(_issue(param, "invalid_file", f"{param} {why}"))
    train: ProviderReport = report_for(training, info, settings)
    quote.report_is_specific = train.specific
    _file_issues("training_file", train.report, quote)
    eval_report = None
    if validation is not None:
        eval_report = report_for(validation, info, settings).report
        _file_issues("validation_file", eval_report, quote)
    if not train.specific:
        quote.warnings.append(
            _issue(
                "training_file",
                "not_revalidated",
                f"the file is too large to re-check during a quote; tokens and checks are "
                f"from its upload-time validation for {train.report.get('provider')}",
            )
        )
    quote.estimate = estimate_for_model(
        info, train.report, request.hyperparameters, eval_report, settings
    )
    return quote


def _file(session: Session, tenant_id: str, file_id: str, param: str) -> File:
    try:
        file = get_file(session, tenant_id, file_id)
    except NotFound as exc:
        raise NotFound(exc.message, param=param) from None
    if not file.validation or file.validation.get("pending"):
        raise InvalidRequest(
            f"File {file_id} has not been validated yet; try again when its status is 'processed'.",
            param=param,
            code="file_not_ready",
        )
    return file


def quote_dataset(
    session: Session,
    settings: Settings,
    tenant_id: str,
    request: QuoteRequest,
    *,
    today: date | None = None,
) -> list[Quote]:
    """Quotes ordered cheapest compatible first, then compatible without a price, then the
    incompatible ones. ``today`` (default: the UTC date) decides what a closing provider
    still takes."""
    day = today or utcnow().date()
    training = _file(session, tenant_id, request.training_file, "training_file")
    validation = (
        _file(session, tenant_id, request.validation_file, "validation_file")
        if request.validation_file
        else None
    )
    catalog = service_catalog(settings)
    candidates = request.candidates
    if candidates is None:
        candidates = [Candidate(m.model, m.provider) for m in available_models(catalog, today=day)]
    quotes = [
        _quote_one(c, catalog, (training, validation), request, settings, day) for c in candidates
    ]
    return sorted(quotes, key=Quote.sort_key)
