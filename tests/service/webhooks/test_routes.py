from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.settings import Settings
from service.webhooks.deliveries import attempt_delivery, enqueue_job_event
from service.webhooks.events import JOB_SUCCEEDED
from tests.factories import auth, make_key, make_tenant
from tests.service.webhooks.helpers import make_job, verify_with_both_libraries
from tests.service.webhooks.receiver import running_receiver


def test_endpoint_crud_secret_shown_once_and_tenant_scoped(
    client: TestClient, db_session: Session
) -> None:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    stranger = auth(make_key(db_session, make_tenant(db_session)))
    db_session.commit()

    created = client.post(
        "/v1/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/hook", "description": "ci"},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"][0] == JOB_SUCCEEDED
    endpoint_id = body["id"]

    fetched = client.get(f"/v1/webhook_endpoints/{endpoint_id}", headers=headers).json()
    assert "secret" not in fetched and fetched["description"] == "ci"
    listed = client.get("/v1/webhook_endpoints", headers=headers).json()["data"]
    assert [e["id"] for e in listed] == [endpoint_id]
    assert client.get(f"/v1/webhook_endpoints/{endpoint_id}", headers=stranger).status_code == 404

    patched = client.patch(
        f"/v1/webhook_endpoints/{endpoint_id}", json={"enabled": False}, headers=headers
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    rotated = client.post(f"/v1/webhook_endpoints/{endpoint_id}/rotate_secret", headers=headers)
    assert rotated.json()["secret"] != body["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None

    deleted = client.delete(f"/v1/webhook_endpoints/{endpoint_id}", headers=headers)
    assert deleted.json()["deleted"] is True
    assert client.get(f"/v1/webhook_endpoints/{endpoint_id}", headers=headers).status_code == 404


def test_bad_input_gets_an_openai_style_error_naming_the_field(
    client: TestClient, db_session: Session
) -> None:
    headers = auth(make_key(db_session, make_tenant(db_session)))
    db_session.commit()
    cases = [
        ({"url": "https://user:pw@example.com/x"}, "url", "credentials"),
        ({"url": "https://224.0.0.1/x"}, "url", "multicast"),
        ({"url": "http://127.0.0.1:9/x", "events": ["nope"]}, "events", "nope"),
    ]
    for payload, param, fragment in cases:
        response = client.post("/v1/webhook_endpoints", json=payload, headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == param and fragment in error["message"]


def test_deliveries_are_listed_with_attempts_and_can_be_redelivered(
    client: TestClient, db_session: Session, webhook_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    with running_receiver() as receiver:
        job = make_job(db_session, tenant, webhook_url=receiver.url("/job"))
        [delivery] = enqueue_job_event(db_session, job, JOB_SUCCEEDED)
        attempt_delivery(db_session, delivery.id, settings=webhook_settings)
        db_session.commit()

        listed = client.get(
            "/v1/webhook_deliveries", params={"job_id": job.id}, headers=headers
        ).json()
        [item] = listed["data"]
        assert item["status"] == "delivered" and item["attempt_log"][0]["status_code"] == 200
        assert listed["has_more"] is False
        assert (
            client.get("/v1/webhook_deliveries", params={"status": "bad"}, headers=headers).json()[
                "error"
            ]["param"]
            == "status"
        )
        for name in ("job_id", "endpoint_id", "status"):
            long = client.get("/v1/webhook_deliveries", params={name: "x" * 5000}, headers=headers)
            assert long.status_code == 400 and long.json()["error"]["param"] == name, long.text

        again = client.post(f"/v1/webhook_deliveries/{delivery.id}/redeliver", headers=headers)
        assert again.status_code == 200 and again.json()["status"] == "pending"
        attempt_delivery(db_session, delivery.id, settings=webhook_settings)
        secret = client.get("/v1/webhook_secret", headers=headers).json()["secret"]
        assert len(receiver.received) == 2
        for received in receiver.received:
            verify_with_both_libraries(received, secret)
    fetched = client.get(f"/v1/webhook_deliveries/{delivery.id}", headers=headers).json()
    assert fetched["status"] == "delivered" and len(fetched["attempt_log"]) == 2
