"""/v1/files through the official openai SDK and raw HTTP: streaming upload, validation report,
limits, sanitised names, tenant isolation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.db.database import Database
from service.db.session import session_scope
from service.files.naming import sanitize_filename
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.live import live_api

GOOD_LINE = {
    "messages": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
}


def _jsonl(lines: list[object]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@pytest.fixture()
def key(db_session: Session) -> str:
    tenant = make_tenant(db_session)
    plaintext = make_key(db_session, tenant)
    db_session.commit()
    return plaintext


def _upload(
    client: TestClient, key: str, body: bytes, name: str = "train.jsonl", **fields: str
) -> dict[str, object]:
    response = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": (name, body, "application/jsonl")},
        data={"purpose": "fine-tune", **fields},
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_upload_valid_file_is_processed_with_report(client: TestClient, key: str) -> None:
    body = _jsonl([GOOD_LINE] * 12)
    created = _upload(client, key, body)
    assert created["object"] == "file" and created["status"] == "processed"
    assert created["bytes"] == len(body) and created["purpose"] == "fine-tune"
    report = created["validation"]
    assert isinstance(report, dict)
    assert report["valid"] is True and report["examples"] == 12 and report["format"] == "chat"
    assert report["tokens"]["total"] > 0

    fetched = client.get(f"/v1/files/{created['id']}", headers=auth(key)).json()
    assert fetched["validation"] == report
    content = client.get(f"/v1/files/{created['id']}/content", headers=auth(key))
    assert content.content == body
    listing = client.get("/v1/files", headers=auth(key)).json()
    assert [f["id"] for f in listing["data"]] == [created["id"]]


def test_invalid_file_is_error_naming_the_line(client: TestClient, key: str) -> None:
    body = _jsonl([GOOD_LINE] * 11) + b"{not json\n"
    created = _upload(client, key, body)
    assert created["status"] == "error"
    assert "line 12" in str(created["status_details"])
    report = created["validation"]
    assert isinstance(report, dict)
    assert report["valid"] is False and report["errors"][0]["line"] == 12


def test_filename_is_sanitised_and_never_a_path(
    client: TestClient, key: str, settings: Settings
) -> None:
    created = _upload(client, key, _jsonl([GOOD_LINE] * 10), name="../../etc/passwd")
    assert created["filename"] == "passwd"
    stored = list(settings.files_dir.rglob(f"{created['id']}.jsonl"))
    assert len(stored) == 1 and stored[0].resolve().is_relative_to(settings.files_dir.resolve())


def test_sanitize_filename_drops_paths_and_control_characters() -> None:
    assert sanitize_filename("..\\..\\win\\a\x07b.jsonl") == "ab.jsonl"
    assert sanitize_filename("/") == "upload.jsonl"
    assert sanitize_filename("...hidden") == "hidden"
    assert len(sanitize_filename("x" * 1000)) == 255


def test_bad_uploads_get_4xx(client: TestClient, key: str, settings: Settings) -> None:
    no_purpose = client.post("/v1/files", headers=auth(key), files={"file": ("a.jsonl", b"{}")})
    assert no_purpose.status_code == 400 and no_purpose.json()["error"]["param"] == "purpose"
    wrong_purpose = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": ("a.jsonl", b"{}")},
        data={"purpose": "batch"},
    )
    assert wrong_purpose.status_code == 400
    no_file = client.post(
        "/v1/files",
        headers=auth(key),
        files={"note": ("a.txt", b"x")},
        data={"purpose": "fine-tune"},
    )
    assert no_file.status_code == 400
    assert no_file.json()["error"]["param"] == "file"
    form = client.post("/v1/files", headers=auth(key), data={"purpose": "fine-tune"})
    assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
    not_multipart = client.post("/v1/files", headers=auth(key), json={"purpose": "fine-tune"})
    assert not_multipart.status_code == 415
    assert client.get("/v1/files/file-nope", headers=auth(key)).status_code == 404


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"purpose": "fine-tune", "purpos": "x"}, "purpos"),
        ({"purpose": "fine-tune", "expires_after[anchor]": "created_at"}, "expires_after[anchor]"),
    ],
)
def test_unknown_upload_fields_are_refused_by_name(
    client: TestClient, key: str, fields: dict[str, str], param: str
) -> None:
    """They were stored as if absent (an ``expires_after`` the file never honoured)."""
    response = client.post(
        "/v1/files", headers=auth(key), files={"file": ("a.jsonl", b"{}\n")}, data=fields
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and "Unrecognized request argument" in error["message"]
    assert client.get("/v1/files", headers=auth(key)).json()["data"] == []


def test_upload_over_the_limit_is_413_and_leaves_nothing(
    app: object, key: str, settings: Settings
) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    app.state.settings = settings.model_copy(update={"max_upload_bytes": 1000})
    before = set(settings.files_dir.rglob("*.jsonl"))
    with TestClient(app) as small:
        response = small.post(
            "/v1/files",
            headers=auth(key),
            files={"file": ("big.jsonl", b"x" * 5000)},
            data={"purpose": "fine-tune"},
        )
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "file_too_large"
    assert set(settings.files_dir.rglob("*.jsonl")) == before


def test_delete_then_gone(client: TestClient, key: str) -> None:
    created = _upload(client, key, _jsonl([GOOD_LINE] * 10))
    deleted = client.delete(f"/v1/files/{created['id']}", headers=auth(key))
    assert deleted.json() == {"id": created["id"], "object": "file", "deleted": True}
    assert client.get(f"/v1/files/{created['id']}", headers=auth(key)).status_code == 404


@pytest.fixture()
def live(settings: Settings, committed_db: Database) -> Iterator[tuple[str, str]]:
    with session_scope(committed_db.sessions) as session:
        plaintext = make_key(session, make_tenant(session))
    with live_api(settings, committed_db) as url:
        yield url, plaintext


def test_openai_sdk_files_create_returns_validation(live: tuple[str, str], tmp_path: Path) -> None:
    url, plaintext = live
    dataset = tmp_path / "train.jsonl"
    dataset.write_bytes(_jsonl([GOOD_LINE] * 10))
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=plaintext, max_retries=0)
    created = client.files.create(file=dataset.open("rb"), purpose="fine-tune")
    assert created.status == "processed" and created.filename == "train.jsonl"
    extra = created.model_extra or {}
    assert extra["validation"]["valid"] is True and extra["validation"]["examples"] == 10
    assert client.files.retrieve(created.id).id == created.id
    assert client.files.content(created.id).read() == dataset.read_bytes()
    assert [f.id for f in client.files.list()] == [created.id]
    assert client.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_list_files_accepts_limit_up_to_openais_maximum(client: TestClient, key: str) -> None:
    _upload(client, key, _jsonl([GOOD_LINE] * 10), name="a.jsonl")
    _upload(client, key, _jsonl([GOOD_LINE] * 10), name="b.jsonl")
    full = client.get("/v1/files", params={"limit": 10_000}, headers=auth(key))
    assert full.status_code == 200, full.text
    assert len(full.json()["data"]) == 2 and full.json()["has_more"] is False
    one = client.get("/v1/files", params={"limit": 1}, headers=auth(key)).json()
    assert len(one["data"]) == 1 and one["has_more"] is True
    over = client.get("/v1/files", params={"limit": 10_001}, headers=auth(key))
    assert over.status_code == 400 and over.json()["error"]["param"] == "limit"


def test_uploads_for_open_models_use_the_tokenizers_dir_per_model(
    app: object, key: str, settings: Settings, tmp_path: Path
) -> None:
    """``tokenizers_dir`` holds one folder per model (as the CLI reads it), never a tokenizer."""
    from fastapi import FastAPI
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    assert isinstance(app, FastAPI)
    tokenizer = Tokenizer(WordLevel({"[UNK]": 0, "Paris.": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    (tmp_path / "Qwen2.5-7B-Instruct").mkdir()
    tokenizer.save(str(tmp_path / "Qwen2.5-7B-Instruct" / "tokenizer.json"))
    app.state.settings = settings.model_copy(update={"tokenizers_dir": tmp_path})
    with TestClient(app) as with_tokenizers:
        exact = _upload(
            with_tokenizers,
            key,
            _jsonl([GOOD_LINE] * 10),
            provider="together",
            model="Qwen/Qwen2.5-7B-Instruct",
        )
        estimated = _upload(
            with_tokenizers,
            key,
            _jsonl([GOOD_LINE] * 10),
            provider="fireworks",
            model="accounts/fireworks/models/llama-v3p1-8b-instruct",
        )
    assert exact["status"] == "processed" and estimated["status"] == "processed"
    assert isinstance(exact["validation"], dict) and isinstance(estimated["validation"], dict)
    assert exact["validation"]["tokens"]["estimated"] is False
    assert estimated["validation"]["tokens"]["estimated"] is True


def test_an_empty_file_part_is_a_400_naming_file_on_a_live_server(
    live: tuple[str, str], settings: Settings
) -> None:
    """The fuzzer's empty file part (seed 301260107842495687899743387227140676890), over a real
    socket and server: answered at once with a 400 naming ``file``, nothing stored."""
    url, plaintext = live
    before = set(settings.files_dir.rglob("*.jsonl"))
    with httpx.Client(base_url=url, headers=auth(plaintext), timeout=30) as http:
        for name in ("empty.jsonl", ""):
            response = http.post(
                "/v1/files",
                files={"file": (name, b"", "application/octet-stream")},
                data={"purpose": "fine-tune"},
            )
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert error["param"] == "file"
            assert error["code"] == "empty_file" or not name, error
        assert http.get("/v1/files").json()["data"] == []
    assert set(settings.files_dir.rglob("*.jsonl")) == before
