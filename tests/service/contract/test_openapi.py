"""``/openapi.json`` is the real contract: a schema for every response, the bearer scheme on
authenticated routes, OpenAI's error body with 400 (never 422), one id per operation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture()
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolves(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A named component that exists, or a binary download: never an empty ``{}``."""
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.removeprefix("#/components/schemas/")
        return name in document["components"]["schemas"]
    return schema.get("type") == "string" and schema.get("format") == "binary"


def test_every_response_of_every_operation_has_a_schema(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 30
    missing = []
    for method, path, operation in operations:
        for status, response in operation["responses"].items():
            contents = response.get("content") or {}
            if not contents or not all(
                _resolves(document, content.get("schema") or {}) for content in contents.values()
            ):
                missing.append(f"{method} {path} {status}")
    assert missing == []


def test_validation_errors_are_documented_as_400_with_openais_error_body(
    document: dict[str, Any], client: TestClient
) -> None:
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for method, path, operation in _operations(document):
        assert "422" not in operation["responses"], f"{method} {path}"
        bad_request = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert bad_request == error, f"{method} {path}"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    # and the server does what the document says
    response = client.post("/v1/fine_tuning/jobs", json={}, headers={"Authorization": "Bearer x"})
    assert response.status_code in (400, 401)


def test_authenticated_routes_declare_the_bearer_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for method, path, operation in _operations(document):
        public = path in ("/healthz", "/readyz") or path.startswith("/provider_webhooks/")
        if public:
            assert not operation.get("security"), f"{method} {path}"
        else:
            assert operation.get("security") == [{name: []}], f"{method} {path}"
            assert "401" in operation["responses"], f"{method} {path}"


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_requests_document_their_bodies(document: dict[str, Any]) -> None:
    create = document["paths"]["/v1/fine_tuning/jobs"]["post"]["requestBody"]
    ref = create["content"]["application/json"]["schema"]["$ref"]
    fields = document["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert {"model", "training_file", "hyperparameters", "method", "integrations"} <= set(fields)
    upload = document["paths"]["/v1/files"]["post"]["requestBody"]["content"]
    assert set(upload["multipart/form-data"]["schema"]["required"]) == {"file", "purpose"}


def test_the_docs_page_offers_authorize(client: TestClient, document: dict[str, Any]) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    job = document["components"]["schemas"]["FineTuningJob"]["properties"]
    assert "$ref" in job["status"] or "enum" in job["status"]


def test_every_authenticated_operation_documents_429_with_retry_after(
    document: dict[str, Any],
) -> None:
    rate_headers = {
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    }
    undocumented = []
    authenticated = [op for op in _operations(document) if op[2].get("security")]
    assert len(authenticated) >= 30
    for method, path, operation in authenticated:
        responses = operation["responses"]
        limited = responses.get("429", {})
        headers = set(limited.get("headers", {}))
        if not {"Retry-After", *rate_headers} <= headers:
            undocumented.append(f"{method} {path} 429 {sorted(headers)}")
        retry = limited.get("headers", {}).get("Retry-After", {})
        assert retry.get("schema", {}).get("type") == "integer", f"{method} {path}"
        for status, response in responses.items():
            if status.startswith("2") and not rate_headers <= set(response.get("headers", {})):
                undocumented.append(f"{method} {path} {status}")
        assert "Retry-After" in responses["503"].get("headers", {}), f"{method} {path}"
    assert undocumented == []
    # an operation nobody authenticates to is never rate limited
    for method, path, operation in _operations(document):
        if not operation.get("security"):
            assert "429" not in operation["responses"], f"{method} {path}"
