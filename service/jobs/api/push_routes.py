"""``POST /provider_webhooks/openai``: fine-tuning webhooks from OpenAI (see ``provider_push``).
Outside ``/v1``: the caller is the provider, authenticated by the signature, not a tenant key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from service.api.deps import SessionDep, SettingsDep
from service.errors import PayloadTooLarge
from service.jobs.lifecycle import provider_push


class PushReceived(BaseModel):
    received: bool
    job_id: str | None = None


router = APIRouter(prefix="/provider_webhooks", tags=["provider webhooks"])

MAX_BODY_BYTES = 64 * 1024


async def _raw_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"A provider webhook may carry at most {MAX_BODY_BYTES} bytes.")
    return body


@router.post("/openai", response_model=PushReceived)
def openai_webhook(
    request: Request,
    body: Annotated[bytes, Depends(_raw_body)],
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    event = provider_push.verify_openai_event(settings, body, request.headers)
    job_id = provider_push.handle_openai_event(
        session, event, request.headers.get("webhook-id", "")
    )
    return {"received": True, "job_id": job_id}
