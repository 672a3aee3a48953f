"""``/v1/fine_tuning/studies`` (ours): create, list, retrieve, cancel. Parsing and status codes
only; each route calls one service function."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.query import After, Limit
from service.api.wire import list_page
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
    after: After = None,
    limit: Limit = 20,
) -> StudyList:
    found = service.list_studies(session, caller.tenant_id, after=after, limit=limit)
    return list_page(StudyList, [study_object(row) for row in found.items], found.has_more)


@router.get("/{study_id}", response_model=StudyObject)
def retrieve_study(study_id: str, caller: CallerDep, session: SessionDep) -> StudyObject:
    return study_object(service.get_study(session, caller.tenant_id, study_id))


@router.post("/{study_id}/cancel", response_model=StudyObject)
def cancel_study(
    study_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> StudyObject:
    return study_object(service.cancel_study(session, settings, caller.tenant_id, study_id))
