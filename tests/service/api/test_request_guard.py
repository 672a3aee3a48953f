"""Bodies are bounded and authenticated before they are read: an unauthenticated or oversized
body is refused after at most one chunk, never buffered whole first (an 800 MiB JSON body
without a key took the API to 2.8 GB before its 401)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from service.settings import Settings
from tests.factories import auth, make_key, make_tenant

CHUNK = 64 * 1024
PROVIDER_WEBHOOK_MAX_BYTES = 64 * 1024
CHUNKS = 256  # 16 MiB offered; a guard that reads it all pulls every chunk


class CountingBody:
    """A streamed request body that records how much of it the server pulled."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.count, self.pulled = chunk, count, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield self.chunk


def _post(
    app: FastAPI, path: str, body: CountingBody | bytes, headers: dict[str, str]
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tf") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


@pytest.fixture()
def key(db_session: Session) -> str:
    key = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    return key


def _error(response: httpx.Response) -> dict[str, object]:
    error = response.json()["error"]
    assert isinstance(error, dict) and isinstance(error["code"], str) and error["message"]
    return error


def test_an_unauthenticated_body_is_refused_before_it_is_read(app: FastAPI) -> None:
    body = CountingBody(b" " * CHUNK, CHUNKS)
    response = _post(app, "/v1/fine_tuning/jobs", body, {"Content-Type": "application/json"})
    assert response.status_code == 401
    assert body.pulled <= 1


def test_a_json_body_over_the_limit_is_cut_off_while_it_streams(
    app: FastAPI, settings: Settings, key: str
) -> None:
    app.state.settings = settings.model_copy(update={"max_json_body_bytes": 4 * CHUNK})
    body = CountingBody(b" " * CHUNK, CHUNKS)  # chunked: no Content-Length to trust
    response = _post(
        app, "/v1/fine_tuning/jobs", body, {**auth(key), "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert _error(response)["code"] == "request_too_large"
    assert body.pulled <= 5


def test_a_declared_length_over_the_limit_is_refused_unread(app: FastAPI, key: str) -> None:
    body = b"{" + b" " * (2 * 1024 * 1024)
    response = _post(app, "/v1/quotes", body, {**auth(key), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "1048576-byte limit" in str(_error(response)["message"])


def test_the_provider_webhook_stops_reading_at_64_kib(app: FastAPI) -> None:
    body = CountingBody(b" " * (PROVIDER_WEBHOOK_MAX_BYTES // 2), CHUNKS)
    response = _post(app, "/provider_webhooks/openai", body, {"Content-Type": "application/json"})
    assert response.status_code == 413
    assert body.pulled <= 3


def test_a_json_route_refuses_another_media_type(app: FastAPI, key: str) -> None:
    response = _post(
        app, "/v1/quotes", b"training_file=x", {**auth(key), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_an_upload_form_field_is_bounded(app: FastAPI, settings: Settings, key: str) -> None:
    app.state.settings = settings.model_copy(update={"max_form_field_bytes": 1024})
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
        + "x" * 5000
        + f"\r\n--{boundary}--\r\n"
    ).encode()
    response = _post(
        app,
        "/v1/files",
        body,
        {**auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert _error(response)["param"] == "purpose"


def test_a_truncated_multipart_upload_is_a_400(app: FastAPI, key: str) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
        '\r\n{"messages": [{"role": "user", "content": "hi"}, '
    ).encode()
    response = _post(
        app,
        "/v1/files",
        body,
        {**auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_multipart"
