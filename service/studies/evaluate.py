"""A study's evaluation: once every candidate job has ended, one eval (the study's criteria
over its frozen test items) and one eval run per baseline and per trained candidate, all on the
same items in the same order; when every run has ended, the leaderboard and the verdict.
A run that cannot start or fails is reported on the study, never fatal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from providers.catalog import resolve_provider
from service.billing.catalog import hourly_rate, lookup_model, service_catalog
from service.db.models import Eval, EvalRun, File, Job, Study
from service.errors import TuneforgeError
from service.evals.runs.repository import RunRepository
from service.evals.runs.requests import CreateRunRequest
from service.evals.runs.service import create_run
from service.evals.schemas import CreateEvalRequest
from service.evals.service import create_eval
from service.settings import Settings
from service.studies.baselines import StudyBaseline
from service.studies.items import ITEM_SCHEMA, baseline_prefix, message_text, read_items, read_shots
from service.studies.job_event import announce_evaluated, attached_job_id
from service.studies.leaderboard import Entry, build_leaderboard
from service.studies.plan import count_tokens
from service.studies.schemas import StudyStatus
from service.studies.transitions import add_event, transition
from service.webhooks.deliveries import enqueue_tenant_event
from service.webhooks.events import STUDY_COMPLETED, new_event_id, study_event_payload

RUN_TERMINAL = frozenset({"completed", "failed", "canceled"})


def _rows(items: list[Any], prefix: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"item": {"messages": [*prefix, *i.messages], "ideal": i.ideal}} for i in items]


def _run(
    session: Session,
    settings: Settings,
    study: Study,
    eval_id: str,
    name: str,
    model: str,
    rows: list[dict[str, Any]],
) -> tuple[str | None, str | None]:
    body = CreateRunRequest.model_validate(
        {
            "name": name[:256],
            "metadata": {"study": study.id},
            "data_source": {
                "type": "completions",
                "model": model,
                "input_messages": {"type": "item_reference", "item_reference": "item.messages"},
                "source": {"type": "file_content", "content": rows},
            },
        }
    )
    try:
        with session.begin_nested():
            run = create_run(
                session, settings, study.tenant_id, eval_id, body, quoted_by_study=study.id
            )
    except TuneforgeError as exc:
        return None, exc.message
    return run.id, None


def _over_budget(session: Session, study: Study) -> str | None:
    """The budget is a hard cap: what training actually cost plus the evaluation's quote must
    fit in it before evaluation spends anything."""
    if study.spec.get("budget") is None:
        return None  # a job's evaluation: the tenant's budget is checked as each run starts
    budget = Decimal(str(study.spec["budget"]))
    spent = Decimal(0)
    for state in study.candidates:
        job = session.get(Job, state["job_id"]) if state.get("job_id") else None
        if job is not None and job.cost is not None:
            spent += job.cost
    evaluation = sum(
        (
            Decimal(p["amount"])
            for p in study.quote.get("parts", [])
            if p["kind"] in ("evaluation", "judge") and p["amount"] is not None
        ),
        Decimal(0),
    )
    if spent + evaluation <= budget:
        return None
    return (
        f"Training cost {spent} USD and the evaluation is quoted at {evaluation} USD: together "
        f"over the study's budget of {budget} USD, so nothing is evaluated."
    )


def start_evaluation(session: Session, settings: Settings, study: Study, now: datetime) -> None:
    spec = study.spec
    over = _over_budget(session, study)
    if over is not None:
        transition(
            study,
            StudyStatus.FAILED,
            reason=over,
            error={"code": "budget_exceeded", "message": over},
            level="error",
            now=now,
        )
        _announce_end(session, study, now)
        return
    test = session.get(File, study.test_file_id)
    train = session.get(File, study.train_file_id)
    assert test is not None and train is not None  # a study's files are kept while it exists
    items = read_items(Path(test.storage_path), test.id, "test_file")
    evaluation = create_eval(
        session,
        settings,
        study.tenant_id,
        CreateEvalRequest.model_validate(
            {
                "name": f"study {study.id}",
                "metadata": {"study": study.id},
                "data_source_config": {"type": "custom", "item_schema": ITEM_SCHEMA},
                "testing_criteria": spec["testing_criteria"],
            }
        ),
    )
    runs: list[dict[str, Any]] = []
    for index, raw in enumerate(spec.get("baselines", [])):
        baseline = StudyBaseline.model_validate(raw)
        shots = read_shots(Path(train.storage_path), baseline.few_shot)
        prefix = baseline_prefix(baseline.system_prompt, shots)
        label = f"{baseline.model} ({baseline.few_shot}-shot)"
        run_id, error = _run(
            session,
            settings,
            study,
            evaluation.id,
            f"baseline {label}",
            baseline.model,
            _rows(items, prefix),
        )
        runs.append(
            {
                "role": "baseline",
                "index": index,
                "label": label,
                "model": baseline.model,
                "run_id": run_id,
                "error": error,
                "prefix_text": message_text(prefix),
            }
        )
    for index, state in enumerate(study.candidates):
        job = session.get(Job, state["job_id"]) if state.get("job_id") else None
        if job is None or job.status != "succeeded" or not job.fine_tuned_model:
            continue
        run_id, error = _run(
            session,
            settings,
            study,
            evaluation.id,
            f"candidate {state['model']}",
            job.fine_tuned_model,
            _rows(items, []),
        )
        runs.append(
            {
                "role": "candidate",
                "index": index,
                "label": state.get("label") or f"{state['model']} (candidates[{index}])",
                "model": job.fine_tuned_model,
                "run_id": run_id,
                "error": error,
                "job_id": job.id,
            }
        )
    for run in runs:
        if run["error"]:
            add_event(
                study,
                f"{run['role']} {run['label']}: no eval run: {run['error']}",
                level="warn",
                now=now,
            )
    study.evaluation = {"eval_id": evaluation.id, "runs": runs}
    started = sum(1 for r in runs if r["run_id"])
    if started == 0:
        transition(
            study,
            StudyStatus.FAILED,
            reason="No evaluation could start: " + "; ".join(str(r["error"]) for r in runs),
            error={
                "code": "evaluation_not_started",
                "message": "no eval run could start: "
                + "; ".join(str(r["error"]) for r in runs)[:1000],
            },
            level="error",
            now=now,
        )
        _announce_end(session, study, now)
        return
    transition(
        study,
        StudyStatus.EVALUATING,
        reason=f"Evaluating {started} model(s) on {len(items)} held-out item(s) "
        f"(eval {evaluation.id})",
        now=now,
    )


def watch_evaluation(session: Session, settings: Settings, study: Study, now: datetime) -> None:
    evaluation = study.evaluation or {}
    runs = {
        r["run_id"]: session.get(EvalRun, r["run_id"])
        for r in evaluation.get("runs", [])
        if r.get("run_id")
    }
    if any(run is None or run.status not in RUN_TERMINAL for run in runs.values()):
        return
    entries = [
        _entry(session, settings, study, r, runs.get(r.get("run_id")))
        for r in evaluation.get("runs", [])
    ]
    stored = session.get(Eval, evaluation["eval_id"])
    assert stored is not None  # the study's eval is kept while the study exists
    ids = [str(c["id"]) for c in stored.testing_criteria]
    board = build_leaderboard(study.spec, entries, today=now.date(), criterion_ids=ids)
    study.leaderboard = board.rows
    study.verdict = board.verdict
    transition(study, StudyStatus.COMPLETED, reason=board.verdict["message"], now=now)
    if attached_job_id(study) is not None:
        announce_evaluated(session, study, now)
        return
    payload = study_event_payload(
        {
            "id": study.id,
            "object": "fine_tuning.study",
            "status": study.status,
            "verdict": study.verdict,
            "leaderboard": study.leaderboard,
        },
        event_id=new_event_id(),
        created_at=now,
    )
    enqueue_tenant_event(session, study.tenant_id, STUDY_COMPLETED, payload, now=now)


def _announce_end(session: Session, study: Study, now: datetime) -> None:
    """A job's evaluation that failed is announced too (a study's failure is not)."""
    if attached_job_id(study) is not None:
        announce_evaluated(session, study, now)


def _entry(
    session: Session,
    settings: Settings,
    study: Study,
    record: dict[str, Any],
    run: EvalRun | None,
) -> Entry:
    catalog = service_catalog(settings)
    rate = hourly_rate(settings.local_gpu_hourly_rate)
    job = session.get(Job, record["job_id"]) if record.get("job_id") else None
    base = job.model if job is not None else record["model"]
    provider, model = resolve_provider(base, job.provider if job is not None else None)
    info = lookup_model(catalog, provider, model, rate)
    items = RunRepository(session).items_of(run.id) if run is not None else []
    prefix_text = record.get("prefix_text") or ""
    prefix_tokens = (
        count_tokens(info, [prefix_text], settings)[0] if info is not None and prefix_text else 0
    )
    return Entry(
        role=record["role"],
        label=record["label"],
        model=record["model"],
        provider=provider,
        info=info,
        run=run,
        items={i.datasource_item_id: i for i in items if i.status != "error"},
        job_id=record.get("job_id"),
        training_cost=None if job is None else job.cost,
        prefix_tokens=prefix_tokens,
        error=record.get("error"),
    )
