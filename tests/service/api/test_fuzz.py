"""A short, deterministic schema-fuzzing run over every documented operation, with a valid key:
no server error, and every status code the API answers is one its OpenAPI document declares.
(The long run against a live server is ``scripts/fuzz.sh``.)"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import status_code_conformance
from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from tests.factories import auth, make_key, make_tenant

EXAMPLES_PER_OPERATION = 8


def test_every_operation_survives_fuzzing(app: FastAPI, db_session: Session) -> None:
    key = make_key(db_session, make_tenant(db_session), role=KeyRole.OPERATOR)
    db_session.commit()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # a route the schema cannot describe is a bug
        operations.append(result.ok())
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                headers=auth(key), checks=[not_a_server_error, status_code_conformance]
            )

        fuzz()
