"""The one constructor of a ``Study`` row, for a study created on its own
(``service.create_study``) and for a job's evaluation (``attached``): both start from a
checked plan's split files, quote and warnings, with no events and no step failures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from service.db.models import Study
from service.studies.plan import StudyPlan
from service.studies.schemas import StudyStatus


def new_study(
    plan: StudyPlan,
    *,
    tenant_id: str,
    name: str | None,
    status: StudyStatus,
    spec: dict[str, Any],
    training_file_id: str,
    budget: Decimal | None,
    candidates: list[dict[str, Any]],
    user_metadata: dict[str, Any],
    now: datetime,
) -> Study:
    return Study(
        tenant_id=tenant_id,
        name=name,
        status=status.value,
        spec=spec,
        training_file_id=training_file_id,
        train_file_id=plan.train_file_id,
        test_file_id=plan.test_file_id,
        quote=plan.quote_dict(budget),
        candidates=candidates,
        warnings=plan.warnings,
        events=[],
        user_metadata=user_metadata,
        step_failures=0,
        created_at=now,
        updated_at=now,
    )
