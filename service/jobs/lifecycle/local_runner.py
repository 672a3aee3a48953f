"""Run a ``local/…`` job on this machine: the body of the ``tuneforge.train_job`` task.

A step on the lifecycle engine (``service.lifecycle.runner``): the job's database lease keeps
a second delivery out and a heartbeat renews it while training; progress goes through the
engine's one progress writer (``local_callbacks``).
Checkpoints live under ``Settings.artifacts_dir/<job id>/checkpoints``, so a run that starts
after a crash (the lease expired, the reconciler sent the task again) resumes from the last one
and its loss curve continues. A cancel request stops the run at the next step boundary; so does
a pause (``pausing`` → ``paused``, the checkpoint kept), and a resume starts a run that trains
on from it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session, sessionmaker

from local_gpu import LocalTrainingError, TrainingConfig, TrainingResult
from service.datasets.convert import convert_file
from service.db.models import Job
from service.errors import InvalidRequest
from service.jobs import costs
from service.jobs.api.local_options import training_config
from service.jobs.lifecycle.job_files import files_or_fail
from service.jobs.lifecycle.kind import JOB, TRAIN_TASK
from service.jobs.lifecycle.local_callbacks import JobRecorder
from service.jobs.local_parent import parent_adapter
from service.jobs.repository import JobRepository
from service.jobs.transitions import (
    CANCELLED,
    FAILED,
    PAUSED,
    PAUSING,
    RUNNING,
    SUCCEEDED,
    transition,
)
from service.lifecycle.kind import StepAbandoned, StepContext, StepFailed, StepRetry
from service.lifecycle.progress import EventRecord, ProgressWriter
from service.lifecycle.runner import run_step
from service.settings import Settings

log = logging.getLogger(__name__)

MAX_TRAIN_ATTEMPTS = 5
"""Starts of a run that ended in an unexpected error or a crash before it is failed."""
RETRY_AFTER_S = 5.0


@dataclass(frozen=True)
class LocalPlan:
    job_id: str
    tenant_id: str
    model_name: str
    fine_tuned_model: str
    files: dict[str, Path]  # "training" / "validation" → stored canonical JSONL
    method: Literal["supervised", "dpo"]
    hyperparameters: dict[str, Any]
    options: dict[str, Any]
    seed: int
    attempt: int
    init_adapter: Path | None = None


def job_dir(settings: Settings, job_id: str) -> Path:
    return (settings.artifacts_dir / job_id).resolve()


def fine_tuned_model_name(model: str, suffix: str | None, job_id: str) -> str:
    return f"{model}:ft-{suffix + '-' if suffix else ''}{job_id}"


def run_local_job(sessions: sessionmaker[Session], settings: Settings, job_id: str) -> None:
    """Safe to run any number of times: a duplicate sees the live lease (or a terminal job)."""
    run_step(JOB, TrainStep(), sessions, settings, job_id)


@dataclass(frozen=True)
class Trained:
    result: TrainingResult
    fine_tuned_model: str
    folder: Path


@dataclass(frozen=True)
class TrainStep:
    task: str = TRAIN_TASK
    heartbeat: bool = True

    def wanted(self, job: Job) -> bool:
        return job.provider == "local"

    def begin(self, ctx: StepContext, session: Session, job: Job) -> LocalPlan | None:
        return _begin(session, ctx.settings, job, ctx.owner)

    def act(self, ctx: StepContext, plan: LocalPlan) -> Trained:
        folder = job_dir(ctx.settings, plan.job_id)
        started = time.monotonic()
        recorder = JobRecorder(
            ctx.sessions,
            plan.job_id,
            plan.tenant_id,
            folder,
            plan.fine_tuned_model,
            lease_lost=ctx.lease_lost,
        )
        try:
            config = _prepare(ctx.settings, plan, folder)
            # bitsandbytes (with the optional `kernels` package) reaches for the Hub at import.
            os.environ["HF_HUB_OFFLINE"] = "1"
            from local_gpu import run_training

            result = run_training(config, recorder.callbacks())
        except LocalTrainingError as exc:
            message = str(exc)
            raise StepFailed(
                {"code": "training_failed", "message": message, "param": None},
                usage=costs.FinalUsage(duration_s=time.monotonic() - started),
            ) from exc
        except Exception as exc:
            # A bug, a lost database connection: try again from the last checkpoint after a
            # pause; ``_begin`` fails the job once the attempts run out.
            log.exception("local training of %s failed unexpectedly", plan.job_id)
            raise StepRetry(f"unexpected error: {exc}", RETRY_AFTER_S) from exc
        if ctx.lease_lost.is_set():
            log.warning("lease on %s was lost mid-run; another worker carries it on", plan.job_id)
            raise StepAbandoned(plan.job_id)
        return Trained(result, plan.fine_tuned_model, folder)

    def finish(self, ctx: StepContext, session: Session, job: Job, trained: Trained) -> None:
        _finish(session, ctx.settings, job, trained)

    def on_retry(self, ctx: StepContext, session: Session, job: Job, retry: StepRetry) -> int:
        ProgressWriter(session, job).stage_event(
            EventRecord(f"Training interrupted: {retry.reason}")
        )
        return 1


def _begin(session: Session, settings: Settings, job: Job, owner: str) -> LocalPlan | None:
    repository = JobRepository(session)
    if job.cancel_requested_at is not None:
        transition(session, job, CANCELLED, reason="cancelled before training", settings=settings)
        return None
    if job.status == PAUSING:  # asked while no worker trained it: paused where it stands
        _paused(
            session, settings, job, "paused between runs; resume continues from the last checkpoint"
        )
        return None
    if job.status == PAUSED:
        return None  # a stale delivery: only a resume queues it again
    if job.launch_attempts >= MAX_TRAIN_ATTEMPTS:
        transition(
            session,
            job,
            FAILED,
            settings=settings,
            reason=f"training was started {job.launch_attempts} times without finishing",
            error={
                "code": "training_failed",
                "param": None,
                "message": f"Local training did not finish after {job.launch_attempts} "
                "attempts (worker crashes or unexpected errors); see the job's events.",
            },
        )
        return None
    job.launch_attempts += 1
    stored = files_or_fail(session, settings, job, repository)
    if stored is None:
        return None
    files = {kind: Path(file.storage_path) for kind, file in stored.items()}
    init_adapter = None
    parent = (job.provider_options or {}).get("from_checkpoint")
    if parent:
        try:
            init_adapter = parent_adapter(session, settings, job.tenant_id, parent, job.model)
        except InvalidRequest as exc:
            transition(
                session,
                job,
                FAILED,
                settings=settings,
                reason=exc.message,
                error={"code": "training_failed", "param": exc.param, "message": exc.message},
            )
            return None
    model_name = job.model.removeprefix("local/")
    fine_tuned = fine_tuned_model_name(job.model, job.suffix, job.id)
    resumed = job.status == RUNNING
    job.provider_status = "training"
    if not transition(
        session, job, RUNNING, reason=f"training on a local worker ({owner})", settings=settings
    ):
        ProgressWriter(session, job).stage_event(EventRecord(f"Training restarted on {owner}"))
    if resumed:
        log.info("local job %s restarts (attempt %d)", job.id, job.launch_attempts)
    return LocalPlan(
        job_id=job.id,
        tenant_id=job.tenant_id,
        model_name=model_name,
        fine_tuned_model=fine_tuned,
        files=files,
        method="dpo" if (job.method or {}).get("type") == "dpo" else "supervised",
        hyperparameters=dict(job.hyperparameters or {}),
        options=dict(job.provider_options or {}),
        seed=int(job.seed or 0),
        attempt=job.launch_attempts,
        init_adapter=init_adapter,
    )


def _paused(session: Session, settings: Settings, job: Job, reason: str) -> None:
    """A clean stop is no failed start: the attempts count only crashes and errors; nothing is
    due until a resume queues the job again."""
    transition(session, job, PAUSED, reason=reason, settings=settings)
    job.provider_status = "paused"
    job.launch_attempts = 0
    job.next_poll_at = None


def _prepare(settings: Settings, plan: LocalPlan, folder: Path) -> TrainingConfig:
    """Convert the job's files to the trainer's input and build its configuration."""
    if settings.local_models_dir is None:
        raise LocalTrainingError("this worker has no TUNEFORGE_LOCAL_MODELS_DIR configured")
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    converted: dict[str, Path] = {}
    for kind, source in plan.files.items():
        target = data / f"{kind}.jsonl"
        report = convert_file(source, target, "local", max_line_bytes=settings.max_line_bytes)
        if report.lines_written == 0:
            raise LocalTrainingError(f"the {kind} file has no example the local trainer can use")
        converted[kind] = target
    return training_config(
        method=plan.method,
        model_dir=settings.local_models_dir / plan.model_name,
        train_file=converted["training"],
        validation_file=converted.get("validation"),
        output_dir=folder,
        hyperparameters=plan.hyperparameters,
        options=plan.options,
        seed=plan.seed,
        init_adapter=plan.init_adapter,
    )


def _finish(session: Session, settings: Settings, job: Job, trained: Trained) -> None:
    result, folder = trained.result, trained.folder
    usage = costs.FinalUsage(trained_tokens=result.tokens_trained, duration_s=result.seconds)
    if " on cpu" in result.path_description:
        # The ledger prices CPU runs by their own hourly rate.
        job.hyperparameters = {**(job.hyperparameters or {}), "device": "cpu"}
    job.provider_status = result.outcome
    if result.outcome == "cancelled" and job.cancel_requested_at is None and job.status == PAUSING:
        _paused(
            session,
            settings,
            job,
            f"paused at step {result.steps_completed} of {result.total_steps}; resume continues "
            "from the checkpoint",
        )
        return
    if result.outcome == "cancelled":
        transition(
            session,
            job,
            CANCELLED,
            reason=f"stopped at step {result.steps_completed} of {result.total_steps}; "
            "the last checkpoint is kept",
            usage=usage,
            settings=settings,
        )
        return
    job.fine_tuned_model = trained.fine_tuned_model
    transition(
        session,
        job,
        SUCCEEDED,
        reason=f"{result.steps_completed} steps ({result.path_description})",
        usage=usage,
        settings=settings,
        results=[(path.relative_to(folder).as_posix(), path) for path in result.result_files],
    )
