"""``provider_options.from_checkpoint`` resolves only the tenant's own local jobs and
checkpoints, to an adapter folder that is still kept; everything else is a 400 naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.db.models import Checkpoint, Job, Tenant
from service.errors import InvalidRequest
from service.jobs.local_parent import PARAM, parent_adapter
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.webhooks.helpers import make_job

MODEL = "local/tiny"


def _adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    return folder


def _local_job(session: Session, settings: Settings, tenant_id: str, status: str) -> Job:
    tenant = session.get_one(Tenant, tenant_id)
    job = make_job(session, tenant, status=status)
    job.provider, job.model = "local", MODEL
    session.flush()
    _adapter(settings.artifacts_dir / job.id / "adapter")
    return job


def _rejects(session: Session, settings: Settings, tenant: str, ref: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why) as raised:
        parent_adapter(session, settings, tenant, ref, MODEL)
    assert raised.value.param == PARAM


def test_a_tenant_trains_on_from_its_own_job_or_checkpoint_only(
    db_session: Session, settings: Settings
) -> None:
    mine, theirs = make_tenant(db_session), make_tenant(db_session)
    job = _local_job(db_session, settings, mine.id, "succeeded")
    step = _adapter(settings.artifacts_dir / job.id / "checkpoints" / "step-00000004" / "adapter")
    checkpoint = Checkpoint(
        tenant_id=mine.id, job_id=job.id, step=4, path="checkpoints/step-00000004"
    )
    db_session.add(checkpoint)
    db_session.flush()

    folder = settings.artifacts_dir / job.id
    assert (
        parent_adapter(db_session, settings, mine.id, job.id, MODEL)
        == (folder / "adapter").resolve()
    )
    assert parent_adapter(db_session, settings, mine.id, checkpoint.id, MODEL) == step.resolve()

    # Another tenant sees neither, and the answer is the same as for an id that never existed.
    _rejects(db_session, settings, theirs.id, job.id, "is not a fine-tuning job of yours")
    _rejects(db_session, settings, theirs.id, checkpoint.id, "is not a checkpoint of yours")
    _rejects(db_session, settings, mine.id, "ftjob-nope", "is not a fine-tuning job of yours")

    running = _local_job(db_session, settings, mine.id, "running")
    _rejects(db_session, settings, mine.id, running.id, "is running; name one of its checkpoints")
    hosted = make_job(db_session, mine)
    _rejects(db_session, settings, mine.id, hosted.id, "was trained on gpt-4o-mini")
    checkpoint.path = "../../elsewhere"
    db_session.flush()
    _rejects(db_session, settings, mine.id, checkpoint.id, "has no adapter kept")
