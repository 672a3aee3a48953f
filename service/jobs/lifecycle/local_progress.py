"""What a local training run reports, written to the database as it happens: metrics rows,
job events, checkpoint rows, and the cancel check. Each write is its own short transaction so
the API shows progress while the run goes on; re-reported steps after a resume are skipped."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from local_gpu import CheckpointInfo, ProgressMetrics, TrainingCallbacks
from service.db.models import Checkpoint, Job, JobEvent, Metric
from service.db.session import session_scope
from service.db.types import utcnow
from service.webhooks.deliveries import enqueue_job_event
from service.webhooks.events import CHECKPOINT_CREATED

CANCEL_CHECK_INTERVAL_S = 0.5
"""The cancel flag is read at most this often: a step boundary on a tiny model is milliseconds."""


def metric_values(progress: ProgressMetrics) -> dict[str, float]:
    """OpenAI's metric names (train_loss, valid_mean_token_accuracy, full_valid_loss, ...; for
    DPO also rewards/chosen, rewards/rejected, rewards/accuracy, rewards/margin)."""
    values = progress.named_values()
    return {name: value for name, value in values.items() if math.isfinite(value)}


@dataclass
class JobRecorder:
    """Callbacks for one run of ``job_id``; ``lease_lost`` stops the run without a verdict."""

    sessions: sessionmaker[Session]
    job_id: str
    tenant_id: str
    job_dir: Path
    fine_tuned_model: str
    lease_lost: Event
    _last_cancel_check: float = 0.0
    _cancel_requested: bool = False

    def callbacks(self) -> TrainingCallbacks:
        return TrainingCallbacks(
            on_progress=self.on_progress,
            on_checkpoint=self.on_checkpoint,
            should_cancel=self.should_stop,
            on_event=self.on_event,
        )

    def _event(
        self,
        session: Session,
        message: str,
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        session.add(
            JobEvent(
                tenant_id=self.tenant_id,
                job_id=self.job_id,
                level="info",
                type=kind,
                message=message,
                data=data,
                created_at=utcnow(),
            )
        )

    def on_event(self, message: str) -> None:
        with session_scope(self.sessions) as session:
            self._event(session, message)

    def on_progress(self, progress: ProgressMetrics) -> None:
        values = metric_values(progress)
        with session_scope(self.sessions) as session:
            known = set(
                session.scalars(
                    select(Metric.name).where(
                        Metric.job_id == self.job_id, Metric.step == progress.step
                    )
                )
            )
            if known:
                return  # this step was reported before a crash; the resumed run repeats it
            now = utcnow()
            for name, value in values.items():
                session.add(
                    Metric(
                        tenant_id=self.tenant_id,
                        job_id=self.job_id,
                        step=progress.step,
                        name=name,
                        value=value,
                        created_at=now,
                    )
                )
            rewards = (
                f", reward accuracy={values['rewards/accuracy']:.2f}, "
                f"margin={values['rewards/margin']:.3f}"
                if "rewards/margin" in values
                else ""
            )
            self._event(
                session,
                f"Step {progress.step}/{progress.total_steps}: training loss="
                f"{progress.train_loss:.4f}{rewards}",
                kind="metrics",
                data={"step": progress.step, "total_steps": progress.total_steps, **values},
            )

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        with session_scope(self.sessions) as session:
            exists = session.scalars(
                select(Checkpoint.id).where(
                    Checkpoint.job_id == self.job_id, Checkpoint.step == info.step
                )
            ).first()
            if exists is not None:
                return
            metrics = {"train_loss": info.train_loss} if math.isfinite(info.train_loss) else {}
            checkpoint = Checkpoint(
                tenant_id=self.tenant_id,
                job_id=self.job_id,
                step=info.step,
                fine_tuned_model_checkpoint=f"{self.fine_tuned_model}:ckpt-step-{info.step}",
                metrics=metrics,
                path=str(info.path.relative_to(self.job_dir)),
                created_at=utcnow(),
            )
            session.add(checkpoint)
            session.flush()
            self._event(session, f"Checkpoint saved at step {info.step}")
            job = session.get(Job, self.job_id)
            if job is not None:
                enqueue_job_event(session, job, CHECKPOINT_CREATED, checkpoint=checkpoint)

    def should_stop(self) -> bool:
        """True on a cancel request (checked at most every CANCEL_CHECK_INTERVAL_S) or when
        the lease was lost to another worker."""
        if self.lease_lost.is_set():
            return True
        now = time.monotonic()
        if self._cancel_requested or now - self._last_cancel_check < CANCEL_CHECK_INTERVAL_S:
            return self._cancel_requested
        self._last_cancel_check = now
        with session_scope(self.sessions) as session:
            requested = session.scalars(
                select(Job.cancel_requested_at).where(Job.id == self.job_id)
            ).first()
        self._cancel_requested = requested is not None
        return self._cancel_requested
