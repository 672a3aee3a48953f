"""Uploads never hold a transaction while their body streams, so on the embedded default
(SQLite: a transaction holds the one write lock) a slow or large upload cannot stall other
tenants (they waited 30 s and got 500 "database is locked"), and many concurrent uploads all
succeed."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select

from service.api.app import create_app
from service.db.database import Database
from service.db.models import File
from service.db.session import session_scope
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant

BOUNDARY = "tuneforge-test-boundary"
LINE = json.dumps(
    {"messages": [{"role": "user", "content": "hi " * 50}, {"role": "assistant", "content": "yo"}]}
).encode()


def _multipart(payload: bytes) -> bytes:
    return b"".join(
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'.encode(),
            b"fine-tune\r\n",
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            'name="file"; filename="train.jsonl"\r\n\r\n'.encode(),
            payload,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        )
    )


HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _keys(database: Database, count: int) -> list[str]:
    with session_scope(database.sessions) as session:
        return [make_key(session, make_tenant(session)) for _ in range(count)]


def _client(database: Database, settings: Settings) -> httpx.AsyncClient:
    # Large files are validated by a worker: this measures the upload path, not the validator.
    app = create_app(settings.model_copy(update={"inline_validation_max_bytes": 0}), database)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tuneforge", timeout=120
    )


async def _slow_upload_beside_others(database: Database, settings: Settings) -> list[int]:
    uploader, *others = _keys(database, 4)
    release = asyncio.Event()
    body = _multipart(LINE + b"\n")
    half = len(body) // 2

    async def dribble() -> AsyncIterator[bytes]:
        yield body[:half]
        await release.wait()  # the client stalls mid-body until the others are answered
        yield body[half:]

    async with _client(database, settings) as client:
        upload = asyncio.create_task(
            client.post("/v1/files", content=dribble(), headers={**auth(uploader), **HEADERS})
        )
        await asyncio.sleep(0)  # let the upload start and stall
        answered = await asyncio.gather(
            *(client.get("/v1/files", headers=auth(key)) for key in others),
            *(
                client.post(
                    "/v1/webhook_endpoints",
                    json={"url": "http://127.0.0.1:9/tuneforge"},
                    headers=auth(key),
                )
                for key in others
            ),
        )
        release.set()
        finished = await upload
    return [r.status_code for r in answered] + [finished.status_code]


def test_a_stalled_upload_does_not_block_other_tenants(
    committed_db: Database, settings: Settings
) -> None:
    statuses = asyncio.run(_slow_upload_beside_others(committed_db, settings))
    assert statuses == [200] * len(statuses)


UPLOADS = 50
UPLOAD_BYTES = 5 * 1024 * 1024


async def _many_uploads_and_reads(database: Database, settings: Settings) -> Counter[int]:
    keys = _keys(database, 5)
    payload = (LINE + b"\n") * (UPLOAD_BYTES // (len(LINE) + 1))
    body = _multipart(payload)
    async with _client(database, settings) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/files", content=body, headers={**auth(keys[i % 3]), **HEADERS})
                for i in range(UPLOADS)
            ),
            *(
                client.get(path, headers=auth(keys[3 + i % 2]))
                for i in range(UPLOADS)
                for path in ("/v1/files", "/v1/fine_tuning/jobs")
            ),
        )
    for response in responses:
        assert "database is locked" not in response.text
    return Counter(response.status_code for response in responses)


def test_fifty_concurrent_5mb_uploads_and_other_tenants_reads_all_succeed(
    committed_db: Database, settings: Settings
) -> None:
    statuses = asyncio.run(_many_uploads_and_reads(committed_db, settings))
    assert statuses == {200: UPLOADS * 3}
    with session_scope(committed_db.sessions) as session:
        stored = session.scalar(select(func.count()).select_from(File))
    assert stored == UPLOADS
    for path in settings.files_dir.rglob("*.jsonl"):
        path.unlink()
