"""A study candidate "as on provider X" (``also_on``): the same open weights tuned and served
by another provider, under that provider's own name for them (the catalog's ``weights``). The
twin keeps the candidate's hyperparameters, method and suffix; provider options are the listed
provider's own and do not carry over. A provider with no entry of those weights is a 400 naming
``candidates[i].also_on[j]``; for closed weights (OpenAI's) it lists that provider's models
that take jobs today, to list as candidates of their own — the same alternatives a closed
provider's refusal gives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from providers.catalog import PROVIDER_PREFIXES, ModelInfo, available_models, same_weights
from service.billing.lifecycle import MAX_ALTERNATIVES
from service.errors import InvalidRequest
from service.studies.schemas import StudyCandidate

NO_EQUIVALENT = "no_equivalent_model"


def _name(info: ModelInfo) -> str:
    return info.model if info.provider == "openai" else f"{info.provider}/{info.model}"


def as_on(
    candidate: StudyCandidate,
    listed: ModelInfo,
    index: int,
    catalog: Sequence[ModelInfo],
    param: str,
    today: date,
) -> StudyCandidate:
    """``candidate`` (whose base model is ``listed``) on the copy of its weights of the
    provider its ``also_on[index]`` names."""
    provider = (candidate.also_on or [])[index]
    if provider not in PROVIDER_PREFIXES:
        raise InvalidRequest(
            f"{param}: unknown provider '{provider}' (one of: {', '.join(PROVIDER_PREFIXES)}).",
            param=param,
        )
    if provider == listed.provider:
        raise InvalidRequest(
            f"{param}: the candidate is already on {provider}; name another provider.",
            param=param,
        )
    if provider in (candidate.also_on or [])[:index]:
        raise InvalidRequest(f"{param}: {provider} is named twice.", param=param)
    twin = same_weights(listed, provider, catalog)
    if twin is not None:
        return StudyCandidate(
            model=_name(twin),
            hyperparameters=candidate.hyperparameters,
            method=candidate.method,
            suffix=candidate.suffix,
        )
    if listed.weights is None:
        found = [_name(m) for m in available_models(catalog, today=today) if m.provider == provider]
        found = found[:MAX_ALTERNATIVES]
        why = (
            f"{listed.provider} does not publish the weights of {listed.model}, so no other "
            "provider serves it"
        )
        hint = (
            f"; to try {provider}, list one of its models as a candidate of its own: "
            f"{', '.join(found)}."
            if found
            else "."
        )
        raise InvalidRequest(
            f"{param}: {why}{hint}", param=param, code=NO_EQUIVALENT, extra={"alternatives": found}
        )
    same = [m for m in catalog if m.weights == listed.weights and m.provider != listed.provider]
    where = f" (they are on: {', '.join(sorted({m.provider for m in same}))})" if same else ""
    raise InvalidRequest(
        f"{param}: tuneforge knows no {provider} model with the weights of {_name(listed)} "
        f"({listed.weights}){where}.",
        param=param,
        code=NO_EQUIVALENT,
        extra={"alternatives": [_name(m) for m in same]},
    )
