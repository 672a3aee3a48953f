"""``/v1/fine_tuning/studies`` (ours): create, list, retrieve, cancel. Parsing and status codes
only; each route calls one service function."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.studies import service
from service.studies.objects import study_object
from service.studies.schemas import CreateStudyRequest, StudyList, StudyObject

router = APIRouter(prefix="/v1/fine_tuning/studies", tags=["studies"])


@router.post("", response_model=StudyObject)
def create_study(
    body: CreateStudyRequest, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> StudyObject:
    return study_object(service.create_study(session, settings, caller.tenant_id, body))


@router.get("", response_model=StudyList)
def list_studies(
    caller: CallerDep,
    session: SessionDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> StudyList:
    found = service.list_studies(session, caller.tenant_id, after=after, limit=limit)
    data = [study_object(row) for row in found.items]
    return StudyList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=found.has_more,
    )


@router.get("/{study_id}", response_model=StudyObject)
def retrieve_study(study_id: str, caller: CallerDep, session: SessionDep) -> StudyObject:
    return study_object(service.get_study(session, caller.tenant_id, study_id))


@router.post("/{study_id}/cancel", response_model=StudyObject)
def cancel_study(
    study_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> StudyObject:
    return study_object(service.cancel_study(session, settings, caller.tenant_id, study_id))
