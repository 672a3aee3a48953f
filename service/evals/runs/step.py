"""The eval run's one step on the lifecycle engine: execute the run's items.

A run whose sampled model serves only on a dedicated deployment first deploys it
(``deployments``): the step creates it and comes back every ``deployment_poll_s`` until it is
ready (a wait is not counted as a start), samples the deployed copy, and stops it before the run
ends.

``begin`` (locked): stop a run whose cancel was asked, count the attempt, move it to
in_progress, route its models, read the tenant's credentials and the indexes already stored.
``act`` (no transaction open, lease renewed by a heartbeat): sample and grade the items not yet
stored, concurrently, each stored in its own transaction as it completes (so a crashed run
resumes from the stored items and pays for none twice); a cancel is noticed before the next
item starts. ``finish`` (re-locked): completed, or canceled when it stopped early. The run's
summary, cost and webhook come with the terminal transition."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from providers.base import ChatCompletion, ChatRequest, DeploymentState, ProviderAdapter
from providers.errors import ProviderPermanentError
from service.credentials.service import CredentialsMissing, ProviderCredentials
from service.db.models import Eval, EvalRun
from service.db.session import session_scope
from service.db.types import utcnow
from service.errors import InvalidRequest
from service.evals.graders.grade import GradingContext
from service.evals.runs import deployments
from service.evals.runs.costs import run_routes
from service.evals.runs.execute import execute_items
from service.evals.runs.items import Completer, criteria_of
from service.evals.runs.judge import judge_with
from service.evals.runs.kind import LOCAL_RUN_TASK, RUN_TASK
from service.evals.runs.latency import timed
from service.evals.runs.limits import limited
from service.evals.runs.local import LocalModel, local_completer
from service.evals.runs.repository import RunRepository
from service.evals.runs.requests import sampling_plan
from service.evals.runs.routing import ModelRoute
from service.evals.runs.source import file_id_of, item_schema_of, load_rows, parse_stored
from service.evals.runs.status import RunStatus
from service.evals.runs.stored import output_item
from service.evals.runs.transitions import transition_run
from service.files.repository import FileRepository
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter, tenant_credentials
from service.lifecycle import schedule
from service.lifecycle.kind import StepAbandoned, StepContext, StepRetry
from service.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""Starts of a run (crashes, unexpected errors) before it is failed."""
CANCEL_CHECK_S = 0.2
"""A cancel is read from the database at most this often while items run."""


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    tenant_id: str
    eval_id: str
    data_source: dict[str, Any]
    item_schema: dict[str, Any]
    criteria: list[dict[str, Any]]
    file_path: Path | None
    routes: tuple[ModelRoute, ...]
    credentials: dict[str, ProviderCredentials | CredentialsMissing]
    done: frozenset[int]
    deployment: dict[str, Any] | None = None
    """The run's deployment record, when its sampled model serves only on one."""

    @property
    def deploys(self) -> bool:
        return (
            bool(self.routes)
            and self.routes[0].dedicated
            and self.data_source.get("type") == "completions"
        )


@dataclass(frozen=True)
class Executed:
    finished: bool
    """Every item is stored (False: stopped early by a cancel)."""
    waiting: bool = False
    """The run's deployment is not ready yet: come back later."""


@dataclass(frozen=True)
class RunItemsStep:
    adapter_factory: AdapterFactory
    local: bool = False
    heartbeat: bool = True

    @property
    def task(self) -> str:
        return LOCAL_RUN_TASK if self.local else RUN_TASK

    def wanted(self, run: EvalRun) -> bool:
        return True

    def begin(self, ctx: StepContext, session: Session, run: EvalRun) -> RunPlan | None:
        return _begin(session, ctx.settings, run, self.adapter_factory)

    def act(self, ctx: StepContext, plan: RunPlan) -> Executed:
        adapter = None
        if plan.deploys:
            adapter = build_adapter(
                self.adapter_factory, ctx.settings, plan.credentials[plan.routes[0].provider]
            )
            deployed = _deployed(ctx, plan, adapter)
            if deployed is None:
                return Executed(finished=False, waiting=True)
            plan = deployed
        finished = _execute(ctx, plan, self.adapter_factory)
        if ctx.lease_lost.is_set():
            log.warning(
                "lease on eval run %s was lost mid-run; another worker carries it on", plan.run_id
            )
            raise StepAbandoned(plan.run_id)
        if adapter is not None and plan.deployment is not None:
            deployments.stop(adapter, plan.deployment)
            deployments.record_stopped(ctx.sessions, plan.run_id)
        return Executed(finished)

    def finish(self, ctx: StepContext, session: Session, run: EvalRun, result: Executed) -> None:
        if result.waiting and run.cancel_requested_at is None:
            run.attempts = max(0, run.attempts - 1)  # waiting for the deployment is no start
            now = utcnow()
            later = now + timedelta(seconds=ctx.settings.deployment_poll_s)
            schedule.schedule(session, ctx.kind, run, later, now=now)
            return
        if result.waiting:  # canceled while its deployment was starting
            deployments.stop_in_transaction(session, ctx.settings, run, self.adapter_factory)
        target = RunStatus.COMPLETED
        if run.cancel_requested_at is not None or not result.finished:
            target = RunStatus.CANCELED
        transition_run(session, ctx.settings, run, target)

    def on_retry(self, ctx: StepContext, session: Session, run: EvalRun, retry: StepRetry) -> int:
        log.info("eval run %s interrupted: %s", run.id, retry.reason)
        return max(1, run.attempts)


def _begin(
    session: Session, settings: Settings, run: EvalRun, factory: AdapterFactory
) -> RunPlan | None:
    if run.cancel_requested_at is not None:
        deployments.stop_in_transaction(session, settings, run, factory)
        transition_run(session, settings, run, RunStatus.CANCELED)
        return None
    if run.attempts >= MAX_ATTEMPTS:
        deployments.stop_in_transaction(session, settings, run, factory)
        transition_run(
            session,
            settings,
            run,
            RunStatus.FAILED,
            error={
                "code": "run_interrupted",
                "message": f"The run was started {run.attempts} times without finishing "
                "(worker crashes or unexpected errors).",
            },
        )
        return None
    run.attempts += 1
    transition_run(session, settings, run, RunStatus.IN_PROGRESS)
    evaluation = session.get(Eval, run.eval_id)
    if evaluation is None:
        transition_run(
            session,
            settings,
            run,
            RunStatus.FAILED,
            error={"code": "eval_not_found", "message": "The run's eval was deleted."},
        )
        return None
    try:
        source = parse_stored(run.data_source)
        file_path = None
        file_id = file_id_of(source)
        if file_id is not None:
            stored = FileRepository(session).get(run.tenant_id, file_id)
            if stored is None:
                raise InvalidRequest(f"No file with id '{file_id}'.", param="data_source.source.id")
            file_path = Path(stored.storage_path)
        routes = run_routes(
            session, settings, run.tenant_id, run.model, list(evaluation.testing_criteria)
        )
    except InvalidRequest as exc:
        transition_run(
            session,
            settings,
            run,
            RunStatus.FAILED,
            error={"code": exc.code, "message": exc.message, "param": exc.param},
        )
        return None
    credentials = {
        route.provider: tenant_credentials(session, settings, run.tenant_id, route.provider)
        for route in routes
        if not route.local
    }
    return RunPlan(
        run_id=run.id,
        tenant_id=run.tenant_id,
        eval_id=run.eval_id,
        data_source=dict(run.data_source),
        item_schema=item_schema_of(evaluation.data_source_config),
        criteria=list(evaluation.testing_criteria),
        file_path=file_path,
        routes=tuple(routes),
        credentials=credentials,
        done=frozenset(RunRepository(session).stored_indexes(run.id)),
        deployment=dict(run.deployment) if run.deployment_live and run.deployment else None,
    )


def _deployed(ctx: StepContext, plan: RunPlan, adapter: ProviderAdapter) -> RunPlan | None:
    """The plan with its sampled model on the run's ready deployment (created first when the
    run has none live); None while it is starting."""
    route = plan.routes[0]
    record = plan.deployment
    if record is None:
        created = adapter.create_deployment(route.model, deployments.deployment_name(plan.run_id))
        record = deployments.record_created(ctx.sessions, plan.run_id, route, created)
        log.info("eval run %s: deployment %s of %s created", plan.run_id, created.id, route.model)
    current = adapter.get_deployment(str(record["id"]))
    if current.state is DeploymentState.PENDING:
        return None
    if current.state is not DeploymentState.READY:
        raise ProviderPermanentError(
            route.provider,
            f"the dedicated deployment of {route.model} is {current.state}"
            + (f": {current.message}" if current.message else ""),
        )
    deployments.record_ready(ctx.sessions, plan.run_id)
    served = replace(route, model=current.model_to_call)
    return replace(plan, routes=(served, *plan.routes[1:]), deployment=record)


def _execute(ctx: StepContext, plan: RunPlan, factory: AdapterFactory) -> bool:
    settings = ctx.settings
    source = parse_stored(plan.data_source)
    sampling = sampling_plan(source, plan.item_schema)
    rows = load_rows(source, plan.item_schema, plan.file_path)
    criteria = criteria_of(plan.criteria)
    with ExitStack() as stack:
        completer = _routed(
            {
                route.requested: _completer(stack, settings, plan, route, factory)
                for route in plan.routes
            }
        )
        judged = len(plan.routes) > (1 if sampling is not None else 0)
        grading = GradingContext(
            settings.wordnet_dir, judge=judge_with(completer) if judged else None
        )
        return execute_items(
            rows,
            criteria,
            grading,
            plan=sampling,
            completer=completer if sampling is not None else None,
            store=_storer(ctx.sessions, plan),
            done=plan.done,
            concurrency=_concurrency(settings, plan.routes),
            cancelled=_cancel_watch(ctx, plan.run_id),
        )


def _concurrency(settings: Settings, routes: tuple[ModelRoute, ...]) -> int:
    """A local model generates the items in flight as batches: keep enough of them waiting."""
    if any(route.local for route in routes):
        return max(settings.eval_run_concurrency, settings.local_eval_run_concurrency)
    return settings.eval_run_concurrency


def _completer(
    stack: ExitStack,
    settings: Settings,
    plan: RunPlan,
    route: ModelRoute,
    factory: AdapterFactory,
) -> Completer:
    if route.local:
        if settings.local_models_dir is None:
            raise ProviderPermanentError(
                "local", "this worker has no TUNEFORGE_LOCAL_MODELS_DIR configured"
            )
        model = LocalModel(
            name=route.requested,
            model_dir=settings.local_models_dir / route.model,
            adapter_dir=Path(route.adapter) if route.adapter else None,
        )
        return timed(stack.enter_context(local_completer(settings, model)))
    adapter: ProviderAdapter = build_adapter(factory, settings, plan.credentials[route.provider])

    def complete(request: ChatRequest) -> ChatCompletion:
        return adapter.chat_completion(replace(request, model=route.model))

    return limited(route.provider, settings.provider_chat_concurrency, timed(complete))


def _routed(completers: dict[str, Completer]) -> Completer:
    """One completer for the run: each request goes to its model's own."""

    def complete(request: ChatRequest) -> ChatCompletion:
        target = completers.get(request.model)
        if target is None:
            raise ProviderPermanentError("tuneforge", f"model {request.model!r} is not routed")
        return target(request)

    return complete


def _storer(sessions: sessionmaker[Session], plan: RunPlan) -> Callable[[Any], None]:
    def store(outcome: Any) -> None:
        with session_scope(sessions) as session:
            stored = RunRepository(session).add_item(
                output_item(plan.tenant_id, plan.eval_id, plan.run_id, outcome)
            )
        if not stored:
            log.info("eval run %s item %d was stored already", plan.run_id, outcome.index)

    return store


def _cancel_watch(ctx: StepContext, run_id: str) -> Callable[[], bool]:
    """True once the lease is lost or a cancel was asked (read at most every CANCEL_CHECK_S)."""
    state = {"checked": 0.0, "cancelled": False}
    lock = threading.Lock()

    def cancelled() -> bool:
        if ctx.lease_lost.is_set():
            return True
        with lock:
            now = time.monotonic()
            if not state["cancelled"] and now - state["checked"] >= CANCEL_CHECK_S:
                state["checked"] = now
                with session_scope(ctx.sessions) as session:
                    run = session.get(EvalRun, run_id)
                    state["cancelled"] = run is None or run.cancel_requested_at is not None
            return bool(state["cancelled"])

    return cancelled
