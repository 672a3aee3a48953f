"""A run's cost booked in the ledger: each model's tokens under its own provider, a judge's
(score_model/label_model) included, so usage by provider is true."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.billing.usage import usage_report
from service.db.models import CostLedgerEntry, Eval, EvalRun
from service.db.types import utcnow
from service.evals.runs.costs import book_run_cost
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.evals.runs.conftest import BASE_MODEL, CONFIG

TOGETHER = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
JUDGE: dict[str, Any] = {
    "type": "score_model",
    "name": "judge",
    "model": BASE_MODEL,
    "input": [{"role": "user", "content": "Rate {{sample.output_text}}"}],
}


def _usage(model: str, prompt: int, completion: int) -> dict[str, Any]:
    return {
        "model_name": model,
        "invocation_count": 10,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cached_tokens": 0,
    }


def _run(session: Session, model: str | None, provider: str | None) -> EvalRun:
    tenant = make_tenant(session)
    evaluation = Eval(tenant_id=tenant.id, data_source_config=CONFIG, testing_criteria=[JUDGE])
    session.add(evaluation)
    session.flush()
    run = EvalRun(
        tenant_id=tenant.id,
        eval_id=evaluation.id,
        model=model,
        provider=provider,
        data_source={"type": "jsonl"},
    )
    session.add(run)
    session.flush()
    return run


def _entries(session: Session, run: EvalRun) -> list[tuple[str, str, str, Decimal, int | None]]:
    rows = session.scalars(
        select(CostLedgerEntry)
        .where(CostLedgerEntry.eval_run_id == run.id)
        .order_by(CostLedgerEntry.id)
    )
    return [(e.kind, e.provider, e.model, e.amount, e.billed_tokens) for e in rows]


# gpt-4o-mini at $0.15 / $0.60 per 1M prompt / completion tokens (the catalog's serving price)
JUDGED = (1000 * Decimal("0.15") + 100 * Decimal("0.60")) / 10**6


def test_a_judge_only_runs_tokens_are_booked_under_the_judges_provider(
    db_session: Session, settings: Settings
) -> None:
    run = _run(db_session, None, None)
    book_run_cost(db_session, settings, run, [_usage(BASE_MODEL, 1000, 100)], utcnow())
    assert run.cost == JUDGED
    assert _entries(db_session, run) == [("evaluation", "openai", BASE_MODEL, JUDGED, 1100)]


def test_a_sampled_model_and_its_judge_on_another_provider_are_booked_apart(
    db_session: Session, settings: Settings
) -> None:
    run = _run(db_session, TOGETHER, "together")
    usage = [_usage(BASE_MODEL, 1000, 100), _usage(TOGETHER, 2000, 300)]
    book_run_cost(db_session, settings, run, usage, utcnow())
    booked = _entries(db_session, run)
    assert [(kind, provider, model) for kind, provider, model, _, _ in booked] == [
        ("evaluation", "together", TOGETHER),
        ("evaluation", "openai", BASE_MODEL),
    ]
    assert booked[1][3] == JUDGED and booked[0][3] > 0
    assert run.cost == booked[0][3] + booked[1][3]
    assert [b[4] for b in booked] == [2300, 1100]

    by_provider = usage_report(db_session, group_by="provider", tenant_id=run.tenant_id)
    assert {(r.key, r.amount) for r in by_provider} == {
        ("together", booked[0][3]),
        ("openai", JUDGED),
    }
    by_kind = usage_report(db_session, group_by="kind", tenant_id=run.tenant_id)
    assert [(r.key, r.amount, r.entries) for r in by_kind] == [("evaluation", run.cost, 2)]

    # a duplicate settle books nothing more
    book_run_cost(db_session, settings, run, usage, utcnow())
    assert _entries(db_session, run) == booked
