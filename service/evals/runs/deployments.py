"""The dedicated deployment a run needs when its sampled model is a tuned model that serves only
on one (the catalog's ``serving == "dedicated"``: Together and Fireworks tunes today).

The run's step creates it (recorded on the run at once, in its own transaction, before anything
else happens), comes back until it is ready (rescheduling itself, never sleeping), samples the
deployed model string, and stops it before the run ends — also when the run is canceled or
fails. ``sweep_orphans`` (the reconciler) stops any deployment still live on a terminal run (a
worker that crashed or lost its lease after the create, a cancel while the run waited).

The record (``eval_runs.deployment``): provider, id, model (the tuned model), model_to_call,
state, created_at, ready_at, stopped_at, hosted_s (seconds ready → stopped, summed over every
deployment the run made), hosting_per_hour. Hosting is booked once, when the run is terminal and
its deployment stopped, as a ledger entry of kind ``evaluation_hosting`` (hosted_s × the
catalog's ``hosting_per_hour`` of the base model), and added to the run's ``cost``; with no
rate in the catalog nothing is booked (the record keeps the seconds)."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Deployment, DeploymentState, ProviderAdapter
from providers.errors import ProviderError
from service.billing.estimate import QUANTUM, hours_cost
from service.billing.repository import LedgerRepository
from service.credentials.service import credentials_for
from service.db.models import CostLedgerEntry, EvalRun
from service.db.session import session_scope
from service.db.types import utcnow
from service.evals.runs.routing import ModelRoute
from service.evals.runs.status import TERMINAL
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter
from service.settings import Settings

log = logging.getLogger(__name__)

EVALUATION_HOSTING = "evaluation_hosting"
BASIS = "hosted_hours_x_hosting_rate"


def deployment_name(run_id: str) -> str:
    """Our stable key for the run's deployment: a create retried after a lost answer finds the
    first one instead of starting a second."""
    return f"tuneforge-{run_id.lower().replace('_', '-')}"[:63]


def _iso(at: datetime) -> str:
    return at.isoformat()


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def record_created(
    sessions: sessionmaker[Session], run_id: str, route: ModelRoute, deployment: Deployment
) -> dict[str, Any]:
    """Record the new deployment on the run (its own transaction: committed before the run
    goes on, so a crash from here on leaves it findable)."""
    now = utcnow()
    with session_scope(sessions) as session:
        run = session.get(EvalRun, run_id)
        assert run is not None
        earlier = dict(run.deployment or {})
        record = {
            "provider": route.provider,
            "id": deployment.id,
            "model": route.model,
            "model_to_call": deployment.model_to_call,
            "state": str(deployment.state),
            "created_at": _iso(now),
            "ready_at": None,
            "stopped_at": None,
            "hosted_s": float(earlier.get("hosted_s") or 0.0),
            "hosting_per_hour": None
            if route.hosting_per_hour is None
            else str(route.hosting_per_hour),
        }
        run.deployment = record
        run.deployment_live = True
    return record


def record_ready(sessions: sessionmaker[Session], run_id: str) -> None:
    with session_scope(sessions) as session:
        run = session.get(EvalRun, run_id)
        if run is None or run.deployment is None or run.deployment.get("ready_at"):
            return
        run.deployment = {
            **run.deployment,
            "state": str(DeploymentState.READY),
            "ready_at": _iso(utcnow()),
        }


def _stopped(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    ready = _parse(record.get("ready_at"))
    hosted = float(record.get("hosted_s") or 0.0)
    if ready is not None and record.get("stopped_at") is None:
        hosted += max(0.0, (now - ready).total_seconds())
    return {
        **record,
        "state": str(DeploymentState.STOPPED),
        "stopped_at": record.get("stopped_at") or _iso(now),
        "hosted_s": round(hosted, 3),
    }


def mark_stopped(run: EvalRun, now: datetime) -> None:
    """Record on ``run`` (in the caller's transaction) that its deployment was stopped now."""
    if run.deployment is None:
        return
    run.deployment = _stopped(dict(run.deployment), now)
    run.deployment_live = False


def record_stopped(sessions: sessionmaker[Session], run_id: str) -> None:
    with session_scope(sessions) as session:
        run = session.get(EvalRun, run_id)
        if run is not None:
            mark_stopped(run, utcnow())


def stop(adapter: ProviderAdapter, record: dict[str, Any]) -> None:
    """Stop and delete the deployment (one already gone is no error)."""
    adapter.delete_deployment(str(record["id"]))


def stop_in_transaction(
    session: Session, settings: Settings, run: EvalRun, factory: AdapterFactory
) -> None:
    """Stop ``run``'s live deployment from a transaction that is about to end the run (a cancel
    or failure noticed by the step). A provider that does not answer leaves it live: the
    orphan sweep tries again."""
    if not run.deployment_live or run.deployment is None:
        return
    record = dict(run.deployment)
    try:
        credentials = credentials_for(session, settings, run.tenant_id, str(record["provider"]))
        stop(build_adapter(factory, settings, credentials), record)
    except ProviderError as exc:
        log.warning("eval run %s: deployment %s not stopped yet: %s", run.id, record["id"], exc)
        return
    mark_stopped(run, utcnow())


def hosting_cost(record: dict[str, Any]) -> Decimal | None:
    rate = record.get("hosting_per_hour")
    if rate is None:
        return None
    return hours_cost(float(record.get("hosted_s") or 0.0), Decimal(str(rate)))


def book_hosting(session: Session, run: EvalRun, now: datetime) -> None:
    """Once the run is terminal and its deployment stopped: book the hosting once (unique on
    run and kind) and add it to ``run.cost``."""
    record = run.deployment
    if record is None or run.deployment_live or record.get("booked"):
        return
    amount = hosting_cost(record)
    run.deployment = {**record, "booked": True}
    if amount is None:
        return
    if run.cost is not None:  # an unpriced run stays unpriced; the entry is booked all the same
        run.cost = (run.cost + amount).quantize(QUANTUM)
    if amount == 0:
        return
    entry = CostLedgerEntry(
        tenant_id=run.tenant_id,
        eval_run_id=run.id,
        provider=str(record.get("provider") or "none"),
        model=str(record.get("model_to_call") or "")[:255],
        kind=EVALUATION_HOSTING,
        amount=amount,
        currency="USD",
        basis=BASIS,
        occurred_at=now,
    )
    with contextlib.suppress(IntegrityError):  # booked already: the first entry stands
        LedgerRepository(session).add(entry)


def sweep_orphans(
    sessions: sessionmaker[Session], settings: Settings, factory: AdapterFactory, limit: int = 100
) -> int:
    """Stop every deployment still live on a terminal run, book its hosting; returns how many
    were stopped. A provider that does not answer is tried again at the next sweep."""
    terminal = [str(s) for s in TERMINAL]
    with session_scope(sessions) as session:
        ids = list(
            session.scalars(
                select(EvalRun.id)
                .where(EvalRun.deployment_live.is_(True), EvalRun.status.in_(terminal))
                .limit(limit)
            )
        )
    stopped = 0
    for run_id in ids:
        with session_scope(sessions) as session:
            run = session.get(EvalRun, run_id)
            if run is None or not run.deployment_live or run.deployment is None:
                continue
            record = dict(run.deployment)
            try:
                credentials = credentials_for(
                    session, settings, run.tenant_id, str(record["provider"])
                )
                stop(build_adapter(factory, settings, credentials), record)
            except ProviderError as exc:
                log.warning("orphan deployment %s of run %s: %s", record["id"], run_id, exc)
                continue
            now = utcnow()
            mark_stopped(run, now)
            book_hosting(session, run, now)
            stopped += 1
            log.info("stopped orphan deployment %s of eval run %s", record["id"], run_id)
    return stopped
