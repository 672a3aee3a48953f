"""``/v1/models``: ``client.models.list()`` and ``client.models.retrieve(id)``."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.models import service
from service.models.objects import ModelList, ModelObject

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList)
def list_models(caller: CallerDep, session: SessionDep, settings: SettingsDep) -> ModelList:
    return ModelList(data=service.list_models(session, settings, caller.tenant_id))


@router.get("/{model:path}", response_model=ModelObject)
def retrieve_model(
    model: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> ModelObject:
    return service.get_model(session, settings, caller.tenant_id, model)
