"""A local training checkpoint is stored once and announced to subscribed webhook endpoints."""

from __future__ import annotations

from pathlib import Path
from threading import Event

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from local_gpu import CheckpointInfo
from service.db.models import Checkpoint, WebhookDelivery
from service.jobs.lifecycle.local_callbacks import JobRecorder
from service.settings import Settings
from service.webhooks.endpoints import create_endpoint
from service.webhooks.events import CHECKPOINT_CREATED
from tests.service.webhooks.helpers import tenant_and_job


def test_a_local_checkpoint_is_recorded_once_and_announced(
    connection: Connection, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    tenant, job = tenant_and_job(db_session, status="running")
    create_endpoint(
        db_session,
        tenant.id,
        url="http://127.0.0.1:9/ckpt",
        settings=settings,
        events=[CHECKPOINT_CREATED],
    )
    db_session.commit()
    recorder = JobRecorder(
        sessions=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
        job_id=job.id,
        tenant_id=tenant.id,
        job_dir=tmp_path,
        fine_tuned_model="local/tiny:ft-test",
        lease_lost=Event(),
    )
    info = CheckpointInfo(step=8, path=tmp_path / "checkpoints" / "step-00000008", train_loss=1.5)
    recorder.on_checkpoint(info)
    recorder.on_checkpoint(info)  # a resumed run reports the same step again

    steps = db_session.scalars(select(Checkpoint.step).where(Checkpoint.job_id == job.id)).all()
    assert steps == [8]
    deliveries = db_session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.job_id == job.id)
    ).all()
    assert [d.event_type for d in deliveries] == [CHECKPOINT_CREATED]
    assert deliveries[0].payload["data"]["id"] == job.id
