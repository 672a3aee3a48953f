"""Provider and model lifecycle as a create sees it on a given day: a closing provider is
warned about up to its last day for new jobs and refused after it, with alternatives, the way a
retired model is. Quotes, job creates and studies all ask here, with an injectable ``today``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from providers.catalog import ModelInfo, available_models
from service.errors import InvalidRequest

MAX_ALTERNATIVES = 8


@dataclass(frozen=True)
class LifecycleWarning:
    code: str  # model_closing | provider_closing
    message: str
    date: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "date": self.date}


def lifecycle_warnings(info: ModelInfo, today: date) -> list[LifecycleWarning]:
    """What a user should know before spending on ``info`` today (nothing when refused)."""
    if not info.takes_jobs_on(today) or info.lifecycle != "closing":
        return []
    if info.jobs_end is not None:
        day = info.jobs_end.isoformat()
        serves = (
            f" Tuned models keep serving until the base model retires ({info.retirement_date})."
            if info.retirement_date
            else " Tuned models keep serving until the base model retires."
        )
        return [
            LifecycleWarning(
                "provider_closing",
                f"{info.provider} takes no new fine-tuning jobs after {day}.{serves}",
                day,
            )
        ]
    closes = info.lifecycle_date.isoformat() if info.lifecycle_date else None
    return [
        LifecycleWarning(
            "model_closing",
            f"{info.provider} stops fine-tuning {info.model} on {closes or 'an announced date'}",
            closes,
        )
    ]


def alternatives(
    catalog: list[ModelInfo],
    closed_provider: str,
    method: str,
    today: date,
    weights: str | None = None,
) -> list[str]:
    """Models on other managed providers that take this method's jobs today, as a create
    names them; those with the refused model's open ``weights`` first (the same model
    elsewhere: a study candidate's ``also_on``)."""
    names = []
    found = available_models(catalog, method=method, today=today)
    for info in sorted(found, key=lambda m: weights is None or m.weights != weights):
        if info.provider in (closed_provider, "local"):
            continue
        names.append(info.model if info.provider == "openai" else f"{info.provider}/{info.model}")
    return names[:MAX_ALTERNATIVES]


def ensure_takes_jobs(
    info: ModelInfo,
    catalog: list[ModelInfo],
    method: str,
    today: date,
    *,
    param: str = "model",
) -> None:
    """A 400 ``provider_retired`` with alternatives when ``info`` takes no new job today."""
    if info.takes_jobs_on(today):
        return
    found = alternatives(catalog, info.provider, method, today, info.weights)
    if info.is_available and info.jobs_end is not None:
        why = f"{info.provider} takes no new fine-tuning jobs after {info.jobs_end.isoformat()}"
    else:
        when = f" on {info.lifecycle_date.isoformat()}" if info.lifecycle_date else ""
        why = f"{info.provider} has retired fine-tuning for '{info.model}'{when}"
    raise InvalidRequest(
        f"{why}. Use one of: {', '.join(found)}.",
        param=param,
        code="provider_retired",
        extra={"alternatives": found},
    )
