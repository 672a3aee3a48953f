"""``POST /v1/files/{id}/split``: a deterministic, frozen held-out split with a leakage report."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.datasets.split import assignment, input_hash
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

SYSTEM = {"role": "system", "content": "You convert facts to JSON."}


def example(question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            SYSTEM,
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


TOPICS = ["rivers", "mountains", "poets", "planets", "bridges", "operas", "glaciers", "deserts"]
EXAMPLES = [
    example(f"List three facts about {topic} number {i} in the atlas", f'{{"id": {i}}}')
    for i, topic in enumerate(TOPICS * 8)
]
NEAR = "List three facts about rivers number 0 in the atlas, please"


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture()
def key(db_session: Session) -> str:
    plaintext = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    return plaintext


def upload(client: TestClient, key: str, records: list[dict[str, Any]]) -> str:
    response = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": ("facts.jsonl", jsonl(records))},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 200, response.text
    file_id: str = response.json()["id"]
    return file_id


def split(client: TestClient, key: str, file_id: str, **body: Any) -> Any:
    return client.post(f"/v1/files/{file_id}/split", headers=auth(key), json=body)


def content(client: TestClient, key: str, file_id: str) -> list[str]:
    return client.get(f"/v1/files/{file_id}/content", headers=auth(key)).text.splitlines()


def test_split_is_deterministic_frozen_and_complete(client: TestClient, key: str) -> None:
    file_id = upload(client, key, EXAMPLES)
    first = split(client, key, file_id, seed="s1")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["object"] == "file.split" and body["test_fraction"] == 0.1
    report = body["report"]
    assert report["examples"] == 64
    assert report["train_examples"] + report["test_examples"] == 64
    assert 1 <= report["test_examples"] <= 16
    assert body["test_file"]["purpose"] == "evals"
    assert body["train_file"]["purpose"] == "fine-tune"
    assert body["train_file"]["status"] == body["test_file"]["status"] == "processed"
    # Every example lands once, on the side its hash says; lines number the source file.
    source = [json.dumps(r) for r in EXAMPLES]
    train = content(client, key, body["train_file"]["id"])
    test = content(client, key, body["test_file"]["id"])
    assert sorted(train + test) == sorted(source)
    assert test == [source[n - 1] for n in report["test_lines"]]
    assert all(assignment("s1", input_hash(json.loads(line))) < 0.1 for line in test)

    again = split(client, key, file_id, seed="s1").json()
    assert (again["id"], again["train_file"]["id"], again["test_file"]["id"]) == (
        body["id"],
        body["train_file"]["id"],
        body["test_file"]["id"],
    )
    other = split(client, key, file_id, seed="s2", test_fraction=0.25).json()
    assert other["id"] != body["id"] and other["report"]["test_lines"] != report["test_lines"]


def _seed_putting(first_in_test: dict[str, Any], second_in_train: dict[str, Any]) -> str:
    for n in range(10_000):
        seed = f"seed-{n}"
        if (
            assignment(seed, input_hash(first_in_test))
            < 0.1
            <= assignment(seed, input_hash(second_in_train))
        ):
            return seed
    raise AssertionError("no seed found")


def test_leakage_report_names_near_duplicates_and_same_prompts_stay_together(
    client: TestClient, key: str
) -> None:
    near = example(NEAR, '{"id": 0}')
    same_prompt = example(EXAMPLES[1]["messages"][1]["content"], '{"id": "other answer"}')
    records = [*EXAMPLES, near, same_prompt]
    seed = _seed_putting(near, EXAMPLES[0])
    body = split(client, key, upload(client, key, records), seed=seed).json()
    leakage = body["report"]["leakage"]
    assert {"train_line": 1, "test_line": 65} in [
        {k: p[k] for k in ("train_line", "test_line")} for p in leakage["near_duplicates"]["pairs"]
    ]
    assert leakage["exact_input_duplicates"]["count"] == 0  # a prompt never crosses sides
    sides = {n: "test" for n in body["report"]["test_lines"]}
    assert sides.get(2) == sides.get(66)


def test_the_test_part_is_refused_as_training_data(client: TestClient, key: str) -> None:
    body = split(client, key, upload(client, key, EXAMPLES), seed="s1").json()
    response = client.post(
        "/v1/fine_tuning/jobs",
        headers=auth(key),
        json={"model": "gpt-4o-mini-2024-07-18", "training_file": body["test_file"]["id"]},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "held_out_file"


def test_bad_requests(client: TestClient, key: str, db_session: Session) -> None:
    file_id = upload(client, key, EXAMPLES)
    assert split(client, key, file_id, test_fraction=1.5).json()["error"]["param"] == (
        "test_fraction"
    )
    tiny = upload(client, key, EXAMPLES[:1])
    empty_side = split(client, key, tiny, test_fraction=0.01).json()["error"]
    assert empty_side["param"] == "test_fraction" and "empty" in empty_side["message"]
    other = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    assert split(client, other, file_id).status_code == 404


def test_a_split_without_a_body_takes_the_documented_defaults(client: TestClient, key: str) -> None:
    """Both fields are optional, so a bare POST (what a client sends with no options) splits
    with test_fraction 0.1 and the file's sha256 as seed (it was a 400 naming 'None')."""
    file_id = upload(client, key, EXAMPLES)
    bare = client.post(f"/v1/files/{file_id}/split", headers=auth(key))
    assert bare.status_code == 200, bare.text
    body = bare.json()
    assert body["test_fraction"] == 0.1
    assert body["id"] == split(client, key, file_id).json()["id"]


def test_a_factory_file_splits_like_an_upload_of_the_same_lines(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    """Without a seed a split is seeded by the file's sha256; the tests' ``make_file`` stores
    the content's, as an upload does (it was random, so held-out sizes varied by run)."""
    tenant = make_tenant(db_session)
    plaintext = make_key(db_session, tenant)
    made = make_file(db_session, settings, tenant, jsonl(EXAMPLES))
    db_session.commit()
    by_upload = split(client, plaintext, upload(client, plaintext, EXAMPLES)).json()["report"]
    by_factory = split(client, plaintext, made.id).json()["report"]
    assert by_factory["test_lines"] == by_upload["test_lines"] != []
