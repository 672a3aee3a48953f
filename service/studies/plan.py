"""A study checked and quoted before anything is spent: the files, every candidate through the
job create's own checks (model, lifecycle, method, options, files), the baselines, the
criteria against the test items, the primary criterion, ``few_shot`` against the train split;
then the quote — each candidate's training, every evaluation (items × tokens × the catalog's
serving prices) and each judge model's calls over them — against the study's budget and the
tenant's monthly budget. Any problem is a 4xx naming the field; nothing is written but the
frozen split."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from providers.catalog import ModelInfo, resolve_provider
from service.billing.budget import BudgetExceeded, budget_status
from service.billing.catalog import hourly_rate, lookup_model, service_catalog
from service.billing.lifecycle import lifecycle_warnings
from service.credentials.service import require_credentials
from service.datasets.tokens import counter_for, model_tokenizer_dir
from service.db.models import File
from service.errors import InvalidRequest, NotFound
from service.evals.graders.validate import check_criteria
from service.files.service import get_file
from service.files.split import SplitRequest, split_file
from service.jobs import costs
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.service import checked_request
from service.jobs.api.targets import Target
from service.settings import Settings
from service.studies.baselines import DEFAULT_FEW_SHOT, StudyBaseline
from service.studies.items import (
    ITEM_SCHEMA,
    TestItem,
    baseline_prefix,
    message_text,
    read_items,
    read_shots,
)
from service.studies.judges import quote_judges
from service.studies.portability import as_on
from service.studies.schemas import CreateStudyRequest, StudyCandidate

DEFAULT_HOLDOUT = 0.1
MILLION = Decimal(1_000_000)
CENTS = Decimal("0.000001")


@dataclass(frozen=True)
class CostPart:
    kind: str  # training | evaluation | judge
    provider: str
    model: str
    amount: Decimal | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "provider": self.provider,
            "model": self.model,
            "amount": None if self.amount is None else format(self.amount, "f"),
            "detail": self.detail,
        }


@dataclass
class StudyPlan:
    train_file_id: str
    test_file_id: str
    train_examples: int
    test_items: int
    candidates: list[dict[str, Any]]
    """Each candidate's job create request (as JSON), its provider and provider model."""
    baselines: list[StudyBaseline]
    criteria: list[dict[str, Any]]
    primary: str
    parts: list[CostPart] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((p.amount for p in self.parts if p.amount is not None), Decimal(0))

    def quote_dict(self, budget: Decimal | None) -> dict[str, Any]:
        return {
            "total": {"amount": format(self.total, "f"), "currency": "USD"},
            "parts": [p.to_dict() for p in self.parts],
            "budget": None
            if budget is None
            else {"amount": format(budget, "f"), "currency": "USD"},
            "test_items": self.test_items,
            "train_examples": self.train_examples,
        }


def _prefixed(exc: InvalidRequest, where: str) -> InvalidRequest:
    param = f"{where}.{exc.param}" if exc.param else where
    return InvalidRequest(f"{where}: {exc.message}", param=param, code=exc.code, extra=exc.extra)


def _file(session: Session, tenant_id: str, file_id: str, param: str) -> File:
    try:
        file = get_file(session, tenant_id, file_id)
    except NotFound:
        raise NotFound(f"No such File object: {file_id}", param=param) from None
    if file.status == "uploaded" or (file.validation or {}).get("pending"):
        raise InvalidRequest(
            f"File {file_id} is still being validated; try again in a moment.",
            param=param,
            code="file_not_ready",
        )
    return file


def _splits(
    session: Session, settings: Settings, tenant_id: str, body: CreateStudyRequest
) -> tuple[File, File]:
    """(train part, test part): the given test file, or a frozen holdout split."""
    training = _file(session, tenant_id, body.training_file, "training_file")
    if body.test_file is not None:
        return training, _file(session, tenant_id, body.test_file, "test_file")
    fraction = body.holdout if body.holdout is not None else DEFAULT_HOLDOUT
    try:
        _, train, test = split_file(
            session, settings, tenant_id, training.id, SplitRequest(test_fraction=fraction)
        )
    except InvalidRequest as exc:
        raise InvalidRequest(
            exc.message, param="holdout" if exc.param == "test_fraction" else "training_file"
        ) from None
    return train, test


def _job_request(candidate: StudyCandidate, train: str, validation: str | None) -> CreateJobRequest:
    return CreateJobRequest(
        model=candidate.model,
        provider=candidate.provider,
        training_file=train,
        validation_file=validation,
        hyperparameters=candidate.hyperparameters,
        method=candidate.method,
        provider_options=candidate.provider_options,
        suffix=candidate.suffix,
    )


def _base_name(provider: str, model: str) -> str:
    return model if provider == "openai" else f"{provider}/{model}"


def count_tokens(info: ModelInfo, texts: list[str], settings: Settings) -> list[int]:
    counter = counter_for(
        info.provider, info.model, model_tokenizer_dir(settings.tokenizers_dir, info.model)
    )
    return counter.count_batch(texts)


def _usd(value: Decimal) -> Decimal:
    return value.quantize(CENTS, ROUND_HALF_UP)


def _eval_cost(
    info: ModelInfo,
    items: list[TestItem],
    prefix_text: str,
    settings: Settings,
    *,
    tuned: bool,
) -> tuple[Decimal | None, str]:
    """Items × (prompt tokens × input price + the longest ideal answer × output price)."""
    prompts = count_tokens(info, [message_text(i.messages) for i in items], settings)
    answers = count_tokens(info, [i.ideal for i in items], settings)
    prefix = count_tokens(info, [prefix_text], settings)[0] if prefix_text else 0
    completion = max(answers) if answers else 0
    prompt_total = sum(prompts) + prefix * len(items)
    price_in = info.inference_input_price if tuned else info.base_input_price
    price_out = info.inference_output_price if tuned else info.base_output_price
    detail = (
        f"{len(items)} items x ({prompt_total // max(len(items), 1)} prompt + {completion} "
        f"completion tokens, the longest ideal answer)"
    )
    if price_in is None or price_out is None:
        return None, f"{detail}; no serving price in the catalog"
    amount = (prompt_total * price_in + completion * len(items) * price_out) / MILLION
    if tuned and info.serving == "dedicated":
        if info.hosting_per_hour is None:
            return None, f"{detail}; a dedicated deployment at an unknown hourly rate"
        amount += info.hosting_per_hour
        detail += f" + 1 h of its dedicated deployment ({info.hosting_per_hour}/h)"
    return _usd(amount), detail


def _baselines(body: CreateStudyRequest, candidates: list[dict[str, Any]]) -> list[StudyBaseline]:
    if body.baselines is not None:
        if not body.baselines:
            # The default gate is an improvement over the best baseline: with none, a "winner"
            # would have beaten nothing.
            raise InvalidRequest(
                "baselines: at least one baseline is needed to tell whether fine-tuning helped; "
                "omit baselines for the default (each base model zero-shot and 5-shot).",
                param="baselines",
            )
        return body.baselines
    found: list[StudyBaseline] = []
    for candidate in candidates:
        name = _base_name(candidate["provider"], candidate["provider_model"])
        for k in (0, DEFAULT_FEW_SHOT):
            baseline = StudyBaseline(model=name, few_shot=k)
            if baseline not in found:
                found.append(baseline)
    return found


def _primary(body: CreateStudyRequest) -> str:
    names = [c.name for c in body.testing_criteria]
    if body.primary is None:
        return names[0]
    if body.primary not in names:
        raise InvalidRequest(
            f"primary '{body.primary}' names no testing criterion (one of: {', '.join(names)}).",
            param="primary",
        )
    return body.primary


def plan_study(
    session: Session,
    settings: Settings,
    tenant_id: str,
    body: CreateStudyRequest,
    *,
    today: date,
    now: datetime,
    budget: Decimal | None,
    subject: str = "study",
) -> StudyPlan:
    """``budget``: the study's own cap (None: only the tenant's monthly budget); ``subject``
    names what is quoted in a refusal."""
    if not body.candidates:
        raise InvalidRequest("A study needs at least one candidate.", param="candidates")
    primary = _primary(body)
    try:
        check_criteria(list(body.testing_criteria), ITEM_SCHEMA, settings.wordnet_dir)
    except InvalidRequest as exc:
        raise InvalidRequest(
            f"{exc.message} A study's test items have 'messages' (the prompt) and 'ideal' "
            "(the held-out answer): use {{item.ideal}}.",
            param=exc.param,
            code=exc.code,
        ) from None
    train, test = _splits(session, settings, tenant_id, body)
    items = read_items(Path(test.storage_path), test.id, "test_file")
    plan = StudyPlan(
        train_file_id=train.id,
        test_file_id=test.id,
        train_examples=int((train.validation or {}).get("examples") or 0),
        test_items=len(items),
        candidates=[],
        baselines=[],
        criteria=[c.model_dump(by_alias=True, exclude_none=True) for c in body.testing_criteria],
        primary=primary,
    )
    for index, candidate in enumerate(body.candidates):
        where = f"candidates[{index}]"
        label = f"{candidate.model} (candidates[{index}])"
        listed = _plan_candidate(
            session, settings, tenant_id, body, plan, items, candidate, where, today
        )
        plan.candidates[-1]["label"] = label
        for number, provider in enumerate(candidate.also_on or []):
            at = f"{where}.also_on[{number}]"
            twin = as_on(candidate, listed.info, number, service_catalog(settings), at, today)
            _plan_candidate(session, settings, tenant_id, body, plan, items, twin, at, today)
            plan.candidates[-1].update(label=f"{label} as on {provider}", as_on=provider)
    prefixes = _plan_baselines(body, plan, items, train, settings)
    evaluated: list[list[dict[str, Any]]] = [[] for _ in plan.candidates] + prefixes
    for quoted in quote_judges(session, settings, tenant_id, plan.criteria, items, evaluated):
        plan.parts.append(CostPart("judge", *quoted))
    _check_budgets(session, tenant_id, budget, plan, now, subject)
    return plan


def _plan_candidate(
    session: Session,
    settings: Settings,
    tenant_id: str,
    body: CreateStudyRequest,
    plan: StudyPlan,
    items: list[TestItem],
    candidate: StudyCandidate,
    where: str,
    today: date,
) -> Target:
    """``candidate`` through the job create's own checks (a 400 naming the field under
    ``where``), appended to the plan with its training and evaluation quoted."""
    request = _job_request(candidate, plan.train_file_id, body.validation_file)
    try:
        checked = checked_request(session, settings, tenant_id, request, today)
        target = checked.target
        if target.provider != "local":
            require_credentials(session, settings, tenant_id, target.provider)
        estimate = costs.estimate_cost(
            session,
            settings,
            provider=target.provider,
            model=target.provider_model,
            training_report=checked.training,
            validation_report=checked.validation,
            hyperparameters=request.effective_hyperparameters(),
        )
    except InvalidRequest as exc:
        raise _prefixed(exc, where) from None
    for warning in lifecycle_warnings(target.info, today):
        plan.warnings.append({"param": f"{where}.model", **warning.to_dict()})
    plan.candidates.append(
        {
            "request": request.model_dump(mode="json", exclude_none=True),
            "provider": target.provider,
            "provider_model": target.provider_model,
        }
    )
    plan.parts.append(
        CostPart(
            "training",
            target.provider,
            target.provider_model,
            estimate.amount,
            f"{estimate.basis}; {estimate.billed_tokens or 'unknown'} billed tokens",
        )
    )
    # a local model's serving price lives in the service catalog, not the job's target
    priced = lookup_model(
        service_catalog(settings),
        target.provider,
        target.provider_model,
        hourly_rate(settings.local_gpu_hourly_rate),
    )
    cost, detail = _eval_cost(priced or target.info, items, "", settings, tuned=True)
    plan.parts.append(CostPart("evaluation", target.provider, target.provider_model, cost, detail))
    return target


def _plan_baselines(
    body: CreateStudyRequest,
    plan: StudyPlan,
    items: list[TestItem],
    train: File,
    settings: Settings,
) -> list[list[dict[str, Any]]]:
    """Each baseline's evaluation quoted; their prompt prefixes (system prompt and shots)."""
    prefixes: list[list[dict[str, Any]]] = []
    catalog = service_catalog(settings)
    rate = hourly_rate(settings.local_gpu_hourly_rate)
    for index, baseline in enumerate(_baselines(body, plan.candidates)):
        where = f"baselines[{index}]"
        provider, model = resolve_provider(baseline.model, baseline.provider)
        info = lookup_model(catalog, provider, model, rate)
        if info is None:
            raise InvalidRequest(
                f"{where}.model: '{baseline.model}' is not a model tuneforge knows on {provider}.",
                param=f"{where}.model",
                code="model_not_found",
            )
        if baseline.few_shot > plan.train_examples:
            raise InvalidRequest(
                f"{where}.few_shot: {baseline.few_shot} examples asked, but the train split has "
                f"{plan.train_examples}.",
                param=f"{where}.few_shot",
            )
        shots = read_shots(Path(train.storage_path), baseline.few_shot)
        prefixes.append(baseline_prefix(baseline.system_prompt, shots))
        cost, detail = _eval_cost(info, items, message_text(prefixes[-1]), settings, tuned=False)
        label = f"{model} ({baseline.few_shot}-shot)"
        plan.parts.append(CostPart("evaluation", provider, label, cost, detail))
        plan.baselines.append(baseline)
    return prefixes


def _check_budgets(
    session: Session,
    tenant_id: str,
    budget: Decimal | None,
    plan: StudyPlan,
    now: datetime,
    subject: str,
) -> None:
    unknown = [p for p in plan.parts if p.amount is None]
    for part in unknown:
        plan.warnings.append(
            {
                "code": "price_unknown",
                "message": f"{part.kind} on {part.provider}/{part.model} has no price: not "
                "counted in the quote",
                "date": None,
            }
        )
    total = plan.total
    parts = [p.to_dict() for p in plan.parts]
    summary = "; ".join(
        f"{p.kind} {p.provider}/{p.model} {p.amount if p.amount is not None else 'unknown'}"
        for p in plan.parts
    )
    if budget is not None and total > budget:
        raise BudgetExceeded(
            f"This {subject} is quoted at {total} USD, over its budget of {budget} USD: {summary}.",
            param="budget",
            extra={"total": format(total, "f"), "parts": parts},
        )
    status = budget_status(session, tenant_id, now, lock=True)
    if status is not None and total > status.remaining:
        raise BudgetExceeded(
            f"This {subject} is quoted at {total} {status.currency}, more than what is left of the "
            f"monthly budget: {max(status.remaining, Decimal(0))} of {status.monthly_limit} "
            f"({status.booked} booked, {status.committed} committed by active work): {summary}.",
            param="budget",
            extra={"total": format(total, "f"), "parts": parts, "budget": status.to_dict()},
        )
