"""The local trainer's callbacks, written through the engine's one progress writer
(``service.lifecycle.progress``): metrics, events and checkpoints as the run goes, each in its
own short transaction so the API shows progress while it runs; a step a resumed run reports
again is skipped. Also the cancel check the trainer polls at step boundaries."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import Event

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from local_gpu import CheckpointInfo, ProgressMetrics, TrainingCallbacks
from providers.base import JobStatus
from service.db.models import Job
from service.db.session import session_scope
from service.lifecycle.progress import CheckpointRecord, EventRecord, ProgressWriter

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

    @contextmanager
    def _writer(self) -> Iterator[ProgressWriter | None]:
        with session_scope(self.sessions) as session:
            job = session.get(Job, self.job_id)
            yield ProgressWriter(session, job) if job is not None else None

    def on_event(self, message: str) -> None:
        with self._writer() as progress:
            if progress is not None:
                progress.event(EventRecord(message))

    def on_progress(self, progress: ProgressMetrics) -> None:
        values = metric_values(progress)
        with self._writer() as writer:
            if writer is None or not writer.metrics(progress.step, values):
                return  # this step was reported before a crash; the resumed run repeats it
            rewards = (
                f", reward accuracy={values['rewards/accuracy']:.2f}, "
                f"margin={values['rewards/margin']:.3f}"
                if "rewards/margin" in values
                else ""
            )
            writer.event(
                EventRecord(
                    f"Step {progress.step}/{progress.total_steps}: training loss="
                    f"{progress.train_loss:.4f}{rewards}",
                    type="metrics",
                    data={"step": progress.step, "total_steps": progress.total_steps, **values},
                )
            )

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        metrics = {"train_loss": info.train_loss} if math.isfinite(info.train_loss) else {}
        record = CheckpointRecord(
            step=info.step,
            model=f"{self.fine_tuned_model}:ckpt-step-{info.step}",
            metrics=metrics,
            path=str(info.path.relative_to(self.job_dir)),
        )
        with self._writer() as writer:
            if writer is not None:
                # The trainer reports each step's loss itself: not again from a checkpoint.
                writer.checkpoints([record], note=True, curve=False)

    def should_stop(self) -> bool:
        """True on a cancel or pause request (checked at most every CANCEL_CHECK_INTERVAL_S)
        or when the lease was lost to another worker."""
        if self.lease_lost.is_set():
            return True
        now = time.monotonic()
        if self._cancel_requested or now - self._last_cancel_check < CANCEL_CHECK_INTERVAL_S:
            return self._cancel_requested
        self._last_cancel_check = now
        with session_scope(self.sessions) as session:
            found = session.execute(
                select(Job.cancel_requested_at, Job.status).where(Job.id == self.job_id)
            ).first()
        self._cancel_requested = found is not None and (
            found.cancel_requested_at is not None or found.status == JobStatus.PAUSING
        )
        return self._cancel_requested
