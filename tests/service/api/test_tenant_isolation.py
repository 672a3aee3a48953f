"""A key of tenant B gets 404 for every object of tenant A, whatever the route or verb."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.db.models import Checkpoint, Job, JobEvent, WebhookDelivery
from tests.factories import auth, make_key, make_tenant

LINE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


@dataclass(frozen=True)
class Owned:
    file_id: str
    job_id: str
    endpoint_id: str
    delivery_id: str
    owner_key: str
    other_key: str


@pytest.fixture()
def owned(client: TestClient, db_session: Session) -> Owned:
    owner, other = make_tenant(db_session), make_tenant(db_session)
    owner_key, other_key = make_key(db_session, owner), make_key(db_session, other)
    db_session.commit()

    body = b"".join(json.dumps(LINE).encode() + b"\n" for _ in range(10))
    uploaded = client.post(
        "/v1/files",
        headers=auth(owner_key),
        files={"file": ("train.jsonl", body)},
        data={"purpose": "fine-tune"},
    )
    assert uploaded.status_code == 200, uploaded.text
    file_id = uploaded.json()["id"]
    endpoint = client.post(
        "/v1/webhook_endpoints",
        headers=auth(owner_key),
        json={"url": "http://127.0.0.1:9/hook"},
    )
    assert endpoint.status_code == 200, endpoint.text
    endpoint_id = endpoint.json()["id"]

    job = Job(
        tenant_id=owner.id,
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        training_file_id=file_id,
        status="running",
        provider_job_id="ftjob-provider-1",
    )
    db_session.add(job)
    db_session.flush()
    db_session.add(JobEvent(tenant_id=owner.id, job_id=job.id, message="Job started"))
    db_session.add(Checkpoint(tenant_id=owner.id, job_id=job.id, step=10))
    delivery = WebhookDelivery(
        tenant_id=owner.id,
        endpoint_id=endpoint_id,
        job_id=job.id,
        event_id="evt_1",
        event_type="fine_tuning.job.succeeded",
        url="http://127.0.0.1:9/hook",
        payload={"id": "evt_1"},
        status="failed",
    )
    db_session.add(delivery)
    db_session.commit()
    return Owned(file_id, job.id, endpoint_id, delivery.id, owner_key, other_key)


def _requests(o: Owned) -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("GET", f"/v1/files/{o.file_id}", None),
        ("GET", f"/v1/files/{o.file_id}/content", None),
        ("DELETE", f"/v1/files/{o.file_id}", None),
        ("GET", f"/v1/fine_tuning/jobs/{o.job_id}", None),
        ("POST", f"/v1/fine_tuning/jobs/{o.job_id}/cancel", None),
        ("GET", f"/v1/fine_tuning/jobs/{o.job_id}/events", None),
        ("GET", f"/v1/fine_tuning/jobs/{o.job_id}/checkpoints", None),
        ("GET", f"/v1/webhook_endpoints/{o.endpoint_id}", None),
        ("POST", f"/v1/webhook_endpoints/{o.endpoint_id}", {"description": "mine now"}),
        ("PATCH", f"/v1/webhook_endpoints/{o.endpoint_id}", {"enabled": False}),
        ("DELETE", f"/v1/webhook_endpoints/{o.endpoint_id}", None),
        ("POST", f"/v1/webhook_endpoints/{o.endpoint_id}/rotate_secret", None),
        ("GET", f"/v1/webhook_deliveries/{o.delivery_id}", None),
        ("POST", f"/v1/webhook_deliveries/{o.delivery_id}/redeliver", None),
        ("POST", "/v1/quotes", {"training_file": o.file_id}),
    ]


def test_every_object_of_another_tenant_is_404(client: TestClient, owned: Owned) -> None:
    for method, url, body in _requests(owned):
        response = client.request(method, url, json=body, headers=auth(owned.other_key))
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_another_tenants_file_cannot_train_a_job(client: TestClient, owned: Owned) -> None:
    """Referencing it answers exactly as for a file that does not exist (OpenAI's 400)."""

    def create(file_id: str) -> dict[str, object]:
        response = client.post(
            "/v1/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id},
            headers=auth(owned.other_key),
        )
        assert response.status_code == 400, response.text
        error: dict[str, object] = response.json()["error"]
        return error

    foreign, missing = create(owned.file_id), create("file-doesnotexist")
    assert foreign["param"] == missing["param"] == "training_file"
    assert foreign["code"] == missing["code"]


def test_lists_never_show_another_tenants_objects(client: TestClient, owned: Owned) -> None:
    for url in (
        "/v1/files",
        "/v1/fine_tuning/jobs",
        "/v1/webhook_endpoints",
        "/v1/webhook_deliveries",
        f"/v1/webhook_deliveries?job_id={owned.job_id}",
    ):
        response = client.get(url, headers=auth(owned.other_key))
        assert response.status_code == 200, (url, response.text)
        assert response.json()["data"] == [], url


def test_the_owner_still_sees_everything(client: TestClient, owned: Owned) -> None:
    for method, url, _ in _requests(owned):
        if method != "GET":
            continue
        response = client.get(url, headers=auth(owned.owner_key))
        assert response.status_code == 200, (url, response.text)
