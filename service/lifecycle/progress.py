"""The one progress writer: events, metrics and checkpoints of a run, written idempotently so
a repeated poll, a duplicate task or a resumed local run changes nothing twice. Provider polls
(``service.jobs.lifecycle.adopt``) and the local trainer's callbacks both write through it.

Each call works inside the caller's transaction; a new checkpoint is announced to the webhook
endpoints subscribed to ``fine_tuning.job.checkpoint.created`` in that same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Checkpoint, Job, JobEvent, Metric
from service.db.types import utcnow
from service.webhooks.deliveries import enqueue_job_event
from service.webhooks.events import CHECKPOINT_CREATED

MAX_NAME = 64


@dataclass(frozen=True)
class EventRecord:
    message: str
    level: str = "info"
    type: str = "message"
    data: Mapping[str, Any] | None = None
    provider_event_id: str | None = None
    """Dedupes a provider's event across polls; None for our own events."""
    created_at: datetime | None = None


@dataclass(frozen=True)
class CheckpointRecord:
    step: int
    model: str | None
    """The fine-tuned model checkpoint's name."""
    metrics: Mapping[str, float]
    provider_checkpoint_id: str | None = None
    path: str | None = None
    """Where a local checkpoint lies, relative to the job's folder."""
    created_at: datetime | None = None


class ProgressWriter:
    """Progress of one job, written in ``session``'s transaction."""

    def __init__(self, session: Session, job: Job) -> None:
        self.session = session
        self.job = job
        self._metric_keys: set[tuple[int, str]] = set()
        self._steps_loaded: set[int] = set()

    def event(self, record: EventRecord) -> None:
        """Add one event of ours (not deduped: call it once per happening)."""
        self._add_event(record)
        self.session.flush()

    def stage_event(self, record: EventRecord) -> None:
        """``event`` without the flush: the row goes with the caller's next flush or commit
        (the create path and the transition function flush once for all they wrote)."""
        self._add_event(record)

    def events(self, records: Sequence[EventRecord]) -> int:
        """Add the events not seen before (by provider event id), and the metrics their data
        carry (``step`` plus numbers); returns how many events were new."""
        known = self._provider_event_ids([r.provider_event_id for r in records])
        self._load_metric_keys([_step_of(r.data) for r in records])
        added = 0
        for record in records:
            if record.provider_event_id is not None:
                if record.provider_event_id in known:
                    continue
                known.add(record.provider_event_id)
            data = dict(record.data or {})
            self._add_event(record)
            added += 1
            step = _step_of(data)
            if step is not None:
                self._add_metrics(step, data)
        self.session.flush()
        return added

    def metrics(self, step: int, values: Mapping[str, Any]) -> int:
        """Add the metrics at ``step`` not recorded before; returns how many were new (0 for a
        step a resumed run reports again)."""
        self._load_metric_keys([step])
        added = self._add_metrics(step, values)
        self.session.flush()
        return added

    def checkpoints(
        self, records: Sequence[CheckpointRecord], *, note: bool = False, curve: bool = True
    ) -> list[Checkpoint]:
        """Store the checkpoints not seen before (by step), their metrics on the curve too
        when ``curve``, an event each when ``note``, and announce each new one; returns the
        new rows, by step."""
        if not records:
            return []
        known = set(
            self.session.scalars(select(Checkpoint.step).where(Checkpoint.job_id == self.job.id))
        )
        self._load_metric_keys([r.step for r in records])
        added: list[Checkpoint] = []
        for record in sorted(records, key=lambda r: r.step):
            if record.step in known:
                continue
            known.add(record.step)
            metrics = {k: float(v) for k, v in record.metrics.items()}
            row = Checkpoint(
                tenant_id=self.job.tenant_id,
                job_id=self.job.id,
                step=record.step,
                provider_checkpoint_id=record.provider_checkpoint_id,
                fine_tuned_model_checkpoint=record.model,
                metrics=metrics,
                path=record.path,
                created_at=record.created_at or utcnow(),
            )
            self.session.add(row)
            if curve:
                self._add_metrics(record.step, metrics)
            if note:
                self._add_event(EventRecord(f"Checkpoint saved at step {record.step}"))
            added.append(row)
        self.session.flush()
        for row in added:
            enqueue_job_event(self.session, self.job, CHECKPOINT_CREATED, checkpoint=row)
        return added

    def _add_event(self, record: EventRecord) -> None:
        self.session.add(
            JobEvent(
                tenant_id=self.job.tenant_id,
                job_id=self.job.id,
                level=(record.level or "info")[:8],
                type=(record.type or "message")[:16],
                message=record.message,
                data=dict(record.data) if record.data else None,
                provider_event_id=(
                    record.provider_event_id[:255] if record.provider_event_id else None
                ),
                created_at=record.created_at or utcnow(),
            )
        )

    def _add_metrics(self, step: int, values: Mapping[str, Any]) -> int:
        known = self._metric_keys
        added = 0
        for name, value in values.items():
            if name == "step" or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            key = (step, name[:MAX_NAME])
            if key in known:
                continue
            known.add(key)
            self.session.add(
                Metric(
                    tenant_id=self.job.tenant_id,
                    job_id=self.job.id,
                    step=step,
                    name=key[1],
                    value=float(value),
                    created_at=utcnow(),
                )
            )
            added += 1
        return added

    def _load_metric_keys(self, steps: Sequence[int | None]) -> None:
        """Read which metrics exist at ``steps`` (only those: a long run has many)."""
        wanted = {s for s in steps if s is not None} - self._steps_loaded
        if not wanted:
            return
        rows = self.session.execute(
            select(Metric.step, Metric.name).where(
                Metric.job_id == self.job.id, Metric.step.in_(sorted(wanted))
            )
        )
        self._metric_keys.update((int(step), str(name)) for step, name in rows)
        self._steps_loaded.update(wanted)

    def _provider_event_ids(self, candidates: Sequence[str | None]) -> set[str]:
        wanted = [c for c in candidates if c is not None]
        if not wanted:
            return set()
        rows = self.session.scalars(
            select(JobEvent.provider_event_id).where(
                JobEvent.job_id == self.job.id, JobEvent.provider_event_id.in_(wanted)
            )
        )
        return {str(r) for r in rows}


def _step_of(data: Mapping[str, Any] | None) -> int | None:
    step = (data or {}).get("step")
    if isinstance(step, int | float) and not isinstance(step, bool):
        return int(step)
    return None
